"""`ClusterLink`: joins a RoomManager to a Bus, so several nodes serve the same rooms.

Updates: after each local commit the link publishes `(seq, update)`; remote updates are
applied with `Room.apply_remote_update` (never persisted again). The database is the
source of truth and the bus only the fast path, so per room the link keeps a watermark:
every seq <= `applied` is in the Doc. Whenever it may have missed something — a gap in
the seqs it saw, a bus reconnection, or (checked every `resync_interval`) the room's seq
in the database running ahead — it reads the missing rows with `updates_range` and
applies them. Applying an update twice is harmless (CRDT), so the fast path and the
catch-up never need to agree on who delivered what.

Loading: the link subscribes in `before_load` (before the store is read), buffers what
arrives during the load and applies it afterwards, so a joiner misses nothing between
its database read and its subscription.

Presence: local awareness changes are relayed (ephemeral messages too); each remote
node owns its states through one marker object; a joining node asks holders for
snapshots; `NodeGone` removes a departed node's states.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from storage.types import Store
from sync import protocol
from sync.awareness import AwarenessEntry, decode_awareness, encode_awareness_entries
from sync.bus import (
    Bus,
    BusAwareness,
    BusEphemeral,
    BusMessage,
    BusNotice,
    BusUpdate,
    NodeGone,
    PresenceNudge,
    PresenceQuery,
    PresenceSnapshot,
    Resubscribed,
)
from sync.cluster_catchup import DatabaseCatchUp
from sync.cluster_presence import RemoteNode, local_entries, replace_presence
from sync.connection import Connection
from sync.errors import ProtocolError
from sync.manager import RoomManager
from sync.room import Room
from sync.types import CommitNotice, RoomListener

log = logging.getLogger("samepage.cluster")
RESET_TOPIC = "room-epoch"  # notices of resets and deletes (docs/rooms.md)
BUFFER_LIMIT = 10_000  # messages buffered while a room loads (beyond: catch up instead)


@dataclass(eq=False)
class RoomSync:
    """What the link knows about one room it holds."""

    name: str
    room: Room | None = None
    applied: int = 0  # every seq <= applied is in the Doc
    seen: set[int] = field(default_factory=set)  # seqs > applied already in the Doc
    buffer: list[BusMessage] = field(default_factory=list)  # while loading
    overflowed: bool = False
    needs_catch_up: bool = False
    started: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    gap_timer: asyncio.TimerHandle | None = None
    refreshing: asyncio.Future[None] | None = None


class ClusterLink(DatabaseCatchUp, RoomListener):
    """Links one node's RoomManager to the Bus through the manager's extension points."""

    def __init__(
        self,
        manager: RoomManager,
        bus: Bus,
        *,
        resync_interval: float = 2.0,
        gap_grace: float = 0.3,
    ) -> None:
        self.manager = manager
        self.bus = bus
        self.store: Store = manager.store
        self.resync_interval = resync_interval
        self.gap_grace = gap_grace
        self.rooms: dict[str, RoomSync] = {}
        self.markers: dict[str, RemoteNode] = {}
        self.caught_up = 0  # updates applied from the database rather than the bus
        # Updates another node committed that changed a room here (bus or database):
        # with room-affine routing (every client of a room on one node) it stays 0.
        self.remote_applied = 0
        self.catch_ups = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._periodic: asyncio.Task[None] | None = None
        self._closed = False
        self._relaying = False  # relaying another node's ephemeral message
        self._notice_handlers: dict[str, Callable[[bytes | None], None]] = {}

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Hook into the manager, connect the bus, start the periodic check."""
        self.manager.add_listener(self)
        self.on_notice(RESET_TOPIC, self._on_reset_notice)
        await self.bus.start(self._on_bus)
        self._periodic = asyncio.get_running_loop().create_task(
            self._periodic_loop(), name="cluster-resync"
        )

    async def aclose(self) -> None:
        """Stop the periodic check and the bus (idempotent; after the manager closed)."""
        if self._closed:
            return
        self._closed = True
        if self._periodic is not None:
            self._periodic.cancel()
            with contextlib.suppress(BaseException):
                await self._periodic
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for sync in self.rooms.values():
            if sync.gap_timer is not None:
                sync.gap_timer.cancel()
        await self.bus.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._closed:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cluster task failed: %r", task.exception())

    # -- manager hooks -------------------------------------------------------------

    async def before_load(self, name: str) -> None:
        sync = self.rooms.get(name)
        if sync is None or sync.room is not None:
            sync = self.rooms[name] = RoomSync(name)
        await self.bus.join(name)

    def on_load(self, room: Room) -> None:
        sync = self.rooms.get(room.name)
        if sync is None or sync.room is not None:  # loaded without our before_load
            sync = self.rooms[room.name] = RoomSync(room.name, needs_catch_up=True)
            self._spawn(self.bus.join(room.name))
        sync.room = room
        sync.applied = room.seq
        buffered, sync.buffer = sync.buffer, []
        for message in buffered:
            self._handle(sync, message)
        if sync.overflowed or sync.needs_catch_up:
            sync.overflowed = sync.needs_catch_up = False
            self._spawn(self._catch_up_to_db(sync))
        self.bus.publish(PresenceQuery(room.name, self.bus.node_id))

    def on_unload(self, room: Room) -> None:
        sync = self.rooms.get(room.name)
        if sync is None or sync.room is not room:
            return
        del self.rooms[room.name]
        if sync.gap_timer is not None:
            sync.gap_timer.cancel()
        self._spawn(self._leave(room.name))

    async def _leave(self, name: str) -> None:
        if name not in self.rooms:  # not loaded again meanwhile
            await self.bus.leave(name)

    # -- outbound ------------------------------------------------------------------

    def on_commit(self, notice: CommitNotice) -> None:
        sync = self.rooms.get(notice.room)
        for seq, update, _author in notice.updates:
            self.bus.publish(BusUpdate(notice.room, seq, update, self.bus.node_id))
            if sync is not None and seq > sync.applied:
                sync.seen.add(seq)
        if sync is not None:
            self._advance(sync)

    def on_awareness(self, room: Room, owner: object, entries: list[AwarenessEntry]) -> None:
        if isinstance(owner, Connection):  # relay only our own clients' presence
            payload = encode_awareness_entries(entries)
            self.bus.publish(BusAwareness(room.name, payload, self.bus.node_id))

    def on_nudge(self, room: Room, entries: list[AwarenessEntry]) -> None:
        payload = encode_awareness_entries(entries)
        self.bus.publish(PresenceNudge(room.name, payload, self.bus.node_id))

    def on_ephemeral(self, room: Room, data: str) -> None:
        if not self._relaying:  # what another node sent us is not ours to send on
            self.bus.publish(BusEphemeral(room.name, data, self.bus.node_id))

    def on_reset(self, name: str, epoch: int, here: bool) -> None:
        """A reset or delete done here: every node closes its clients of that room."""
        if here:
            payload = protocol.write_var_string(name) + protocol.write_var_uint(epoch)
            self.publish_notice(RESET_TOPIC, payload)

    def _on_reset_notice(self, payload: bytes | None) -> None:
        if payload is None:  # notices may have been missed: ask the database
            self._spawn(self._check_epochs())
            return
        try:
            reader = protocol.Reader(payload)
            name, epoch = reader.var_string(), reader.var_uint()
            reader.expect_end()
        except ProtocolError as exc:
            log.warning("ignoring a malformed room reset notice: %s", exc)
            return
        self.manager.retire_remote(name, epoch)

    async def _check_epochs(self) -> None:
        for name, room in list(self.manager.rooms.items()):
            info = await self.store.room_info(name)
            if info is not None and info.epoch > room.life.epoch:
                self.manager.retire_remote(name, info.epoch)

    # -- inbound -------------------------------------------------------------------

    def on_notice(self, topic: str, handler: Callable[[bytes | None], None]) -> None:
        """`handler(payload)` for every `BusNotice` of `topic` from another node, and
        `handler(None)` when the bus reconnected (notices may have been missed)."""
        self._notice_handlers[topic] = handler

    def publish_notice(self, topic: str, payload: bytes) -> None:
        """Tell every other node (their `on_notice(topic)` handler)."""
        self.bus.publish(BusNotice(topic, payload, self.bus.node_id))

    def _on_bus(self, message: BusMessage) -> None:
        if isinstance(message, BusNotice):
            handler = self._notice_handlers.get(message.topic)
            if handler is not None:
                handler(message.payload)
            return
        if isinstance(message, Resubscribed):
            for handler in self._notice_handlers.values():
                handler(None)
            self._spawn(self._after_resubscribe())
            return
        if isinstance(message, NodeGone):
            self._node_gone(message.origin)
            return
        sync = self.rooms.get(message.room)
        if sync is None:
            return
        if sync.room is None:  # still loading: keep for after the load
            if len(sync.buffer) < BUFFER_LIMIT:
                sync.buffer.append(message)
            else:
                sync.overflowed = True
            return
        self._handle(sync, message)

    def _handle(self, sync: RoomSync, message: BusMessage) -> None:
        room = sync.room
        if room is None or room.failed:
            return
        try:
            if isinstance(message, BusUpdate):
                self._apply_update(sync, room, message.seq, message.update)
            elif isinstance(message, BusAwareness):
                room.apply_awareness(
                    self._marker(message.origin), decode_awareness(message.payload)
                )
            elif isinstance(message, BusEphemeral):
                self._relaying = True
                try:
                    room.relay_ephemeral(message.data)
                finally:
                    self._relaying = False
            elif isinstance(message, PresenceQuery):
                payload = encode_awareness_entries(local_entries(room))
                self.bus.publish(PresenceSnapshot(room.name, payload, self.bus.node_id))
            elif isinstance(message, PresenceSnapshot):
                self._replace_presence(room, message.origin, decode_awareness(message.payload))
            elif isinstance(message, PresenceNudge):
                room.nudge(decode_awareness(message.payload))  # ours alone: not relayed
        except ProtocolError as exc:
            log.warning(
                "ignoring malformed %s from %s: %s", type(message).__name__, message.origin, exc
            )

    def _apply_remote(self, room: Room, update: bytes, seq: int) -> None:
        if room.apply_remote_update(update, seq):
            self.remote_applied += 1

    def _apply_update(self, sync: RoomSync, room: Room, seq: int, update: bytes) -> None:
        if seq <= sync.applied or seq in sync.seen:
            return
        self._apply_remote(room, update, seq)
        sync.seen.add(seq)
        self._advance(sync)
        if sync.seen and sync.gap_timer is None:  # a hole below what we saw
            sync.gap_timer = asyncio.get_running_loop().call_later(
                self.gap_grace, self._gap_due, sync
            )

    def _advance(self, sync: RoomSync) -> None:
        while sync.applied + 1 in sync.seen:
            sync.applied += 1
            sync.seen.discard(sync.applied)

    def _gap_due(self, sync: RoomSync) -> None:
        sync.gap_timer = None
        if sync.seen:
            self._spawn(self._catch_up(sync, max(sync.seen)))

    # -- presence ------------------------------------------------------------------

    def _marker(self, node_id: str) -> RemoteNode:
        marker = self.markers.get(node_id)
        if marker is None:
            marker = self.markers[node_id] = RemoteNode(node_id)
        return marker

    def _replace_presence(self, room: Room, origin: str, entries: list[AwarenessEntry]) -> None:
        replace_presence(room, self._marker(origin), entries)

    def _node_gone(self, node_id: str) -> None:
        marker = self.markers.pop(node_id, None)
        if marker is None:
            return
        for sync in self.rooms.values():
            room = sync.room
            if room is None or not room.presence.owned_by(marker):
                continue
            room.remove_presence_of(marker)
            # A client of the dead node may have reconnected here already, and had its
            # awareness refused because the dead node still owned its id: ask again.
            room.broadcast(protocol.encode_query_awareness())
            self.bus.publish(PresenceQuery(room.name, self.bus.node_id))
        log.info("node %s gone: its presence removed", node_id)
