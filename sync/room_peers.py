"""The peers' side of a room: one frame to every subscriber, and presence.

`RoomPeers` is mixed into `sync.room.Room`, which owns the Doc and the write path;
this half owns fan-out (`broadcast`, extension frames, ephemeral messages) and the
room's awareness states (applying, nudging, removing a departed owner's states).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from sync import protocol
from sync.awareness import AwarenessEntry, Presence, encode_awareness_entries, removal_of
from sync.protocol import SubscribeFlag
from sync.types import RoomListener

if TYPE_CHECKING:
    from sync.connection import Connection
    from sync.room import Room


class RoomPeers:
    """Fan-out and presence for one room (see `sync.room.Room`)."""

    presence: Presence
    subscribers: set[Connection]
    _listeners: list[RoomListener]

    @property
    def _room(self) -> Room:
        return cast("Room", self)  # RoomPeers is only ever mixed into Room

    def broadcast(self, frame: bytes, exclude: Connection | None = None) -> None:
        """Hand the same encoded frame to every subscriber (non-blocking): the native
        WebSocket server frames it once and writes the same bytes to every socket."""
        sent = 0
        traffic = None
        for conn in list(self.subscribers):  # a send may close a slow consumer
            if conn is not exclude and conn.send(frame, counted=True):
                sent += 1
                traffic = conn.traffic
        if traffic is not None:
            traffic.sent(frame, sent)

    def send_to_subscribed(
        self, flag: SubscribeFlag, frame: bytes, exclude: Connection | None = None
    ) -> None:
        """Send an extension frame only to connections that asked for it."""
        for conn in list(self.subscribers):
            if conn is not exclude and conn.subscriptions & flag:
                conn.send(frame)

    def relay_ephemeral(self, data: str, exclude: Connection | None = None) -> None:
        """Relay an ephemeral JSON message to subscribed connections (never stored)."""
        self.send_to_subscribed(SubscribeFlag.EPHEMERAL, protocol.encode_ephemeral(data), exclude)
        for listener in tuple(self._listeners):
            listener.on_ephemeral(self._room, data)

    # -- presence ----------------------------------------------------------------

    def apply_awareness(self, owner: object, entries: list[AwarenessEntry]) -> list[AwarenessEntry]:
        """Apply presence from `owner` (a local connection, or a remote node's marker)
        and relay what was accepted to the local subscribers; returns the accepted."""
        accepted = self.presence.apply(owner, entries)
        if accepted:
            exclude = owner if owner in self.subscribers else None
            payload = encode_awareness_entries(accepted)
            self.broadcast(protocol.encode_awareness(payload), exclude)
            for listener in tuple(self._listeners):
                listener.on_awareness(self._room, owner, accepted)
        return accepted

    def announce_fresh(self, conn: Connection, fresh: list[AwarenessEntry]) -> None:
        """Make client ids `conn` just announced (new, or back after a reconnect or a
        server restart) and their peers visible to each other at once, not at the next
        15 s renewal. y-protocols ignores a state whose clock is not newer than the one
        it last saw, and both sides of a reconnect resend unchanged clocks: so tell the
        announcer, and each peer whose state the announcer saw unchanged before it left,
        that it was removed one clock later; y-protocols answers by bumping its clock
        and re-broadcasting, which every peer accepts. Peers on other nodes get it
        through the listeners' `on_nudge` (the cluster link)."""
        if not fresh:
            return
        stale = [
            peer
            for entry in fresh
            for owner, peer in self.presence.stale_for_returning(entry.client_id)
            if owner is not conn
        ]
        remote = self.nudge(fresh + stale)  # `fresh` is conn's own: it is nudged first
        if remote:
            for listener in tuple(self._listeners):
                listener.on_nudge(self._room, remote)

    def nudge(self, entries: list[AwarenessEntry]) -> list[AwarenessEntry]:
        """Send each local owner of `entries` its removal one clock later (it will
        re-announce); returns the entries owned elsewhere (by another node's clients)."""
        local: dict[Connection, list[AwarenessEntry]] = {}
        remote = []
        for entry in entries:
            owner = self.presence.owner_of(entry.client_id)
            if owner in self.subscribers:
                if owner.client_id in (None, entry.client_id):
                    local.setdefault(owner, []).append(entry)
                # else: `owner` only relayed it (a sibling tab's state): told that it
                # was removed, it would drop it and broadcast the removal to everyone
            elif owner is not None:
                remote.append(entry)
        for owner, owned in local.items():
            owner.send(protocol.encode_awareness(encode_awareness_entries(removal_of(owned))))
        return remote

    def remove_presence_of(self, owner: object) -> None:
        """Remove every state owned by `owner` (a departed remote node) and broadcast."""
        removed = self.presence.remove_owner(owner)
        if removed:
            self.broadcast(protocol.encode_awareness(encode_awareness_entries(removed)))

    def awareness_frame(self) -> bytes | None:
        """The full presence of the room as one frame (None when nobody is there)."""
        entries = self.presence.entries()
        return protocol.encode_awareness(encode_awareness_entries(entries)) if entries else None
