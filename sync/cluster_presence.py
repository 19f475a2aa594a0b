"""Presence of other nodes in a room: one owner object per remote node, snapshots that
replace what a node holds, and the part of a room's presence that is our own."""

from __future__ import annotations

from sync.awareness import NULL_STATE, AwarenessEntry
from sync.room import Room


class RemoteNode:
    """Owner of the presence states relayed from one remote node."""

    __slots__ = ("node_id",)

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id

    def __repr__(self) -> str:
        return f"RemoteNode({self.node_id!r})"


def replace_presence(room: Room, owner: RemoteNode, entries: list[AwarenessEntry]) -> None:
    """Make `entries` all the presence `owner` has in `room` (a snapshot): states it held
    that the snapshot lacks are removed, the others applied (newer clocks win)."""
    keep = {e.client_id for e in entries}
    clocks = {e.client_id: e.clock for e in room.presence.entries()}
    removals = [
        AwarenessEntry(cid, clocks[cid], NULL_STATE)
        for cid in room.presence.owned_by(owner)
        if cid not in keep
    ]
    room.apply_awareness(owner, removals + entries)


def local_entries(room: Room) -> list[AwarenessEntry]:
    """The awareness states owned by this node's own connections."""
    local: set[int] = set()
    for conn in room.connections():
        local.update(room.presence.owned_by(conn))
    return [e for e in room.presence.entries() if e.client_id in local]
