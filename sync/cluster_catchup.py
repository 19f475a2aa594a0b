"""Catching a linked room up with the database, the cluster's source of truth.

`DatabaseCatchUp` is mixed into `sync.cluster.ClusterLink`: the bus is only the fast
path, so after a gap in the seqs, a bus reconnection, or when the periodic check sees
the database ahead, the missing rows are read with `updates_range` and applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from pycrdt import merge_updates

from storage.types import Store
from sync.awareness import encode_awareness_entries
from sync.bus import Bus, PresenceQuery, PresenceSnapshot
from sync.cluster_presence import local_entries
from sync.manager import RoomManager

if TYPE_CHECKING:
    from sync.cluster import RoomSync
    from sync.room import Room

log = logging.getLogger("samepage.cluster")
STALE_LOAD_S = 30.0


class DatabaseCatchUp:
    """Reads what the bus did not deliver (see `sync.cluster.ClusterLink`)."""

    manager: RoomManager
    bus: Bus
    store: Store
    rooms: dict[str, RoomSync]
    gap_grace: float
    resync_interval: float
    caught_up: int
    catch_ups: int

    if TYPE_CHECKING:  # provided by ClusterLink

        def _apply_remote(self, room: Room, update: bytes, seq: int) -> None: ...
        def _advance(self, sync: RoomSync) -> None: ...
        def _spawn(self, coro: Coroutine[Any, Any, None]) -> None: ...
        async def _leave(self, name: str) -> None: ...

    async def _catch_up(self, sync: RoomSync, target: int) -> None:
        """Make every seq <= target present in the Doc, reading what is missing."""
        async with sync.lock:
            room = sync.room
            if room is None or room.failed or target <= sync.applied:
                return
            start = sync.applied
            rows = await self.store.updates_range(sync.name, start, target)
            if sync.room is not room or room.failed or self.rooms.get(sync.name) is not sync:
                return
            if [r.seq for r in rows] != list(range(start + 1, target + 1)):
                # Rows were compacted away (a named version's row may remain among
                # them): the checkpoint that covers them goes first.
                checkpoint = await self.store.checkpoint_before(sync.name, target)
                if checkpoint is not None and checkpoint[0] > start:
                    self._apply_remote(room, checkpoint[1], checkpoint[0])
            missing = [r for r in rows if r.seq > sync.applied and r.seq not in sync.seen]
            applied = len(missing)
            if missing:
                # One merged update: local clients get one frame, not one per row (a
                # long outage must not overflow their queues and close them).
                updates = [r.update for r in missing]
                try:
                    merged = updates[0] if len(updates) == 1 else merge_updates(*updates)
                except Exception:  # a row pycrdt cannot merge: apply one by one
                    for row in missing:
                        self._apply_remote(room, row.update, row.seq)
                else:
                    self._apply_remote(room, merged, target)
            sync.applied = max(sync.applied, target)
            sync.seen = {s for s in sync.seen if s > sync.applied}
            self._advance(sync)
            self.catch_ups += 1
            self.caught_up += applied
            if applied:
                log.info(
                    "room %s caught up %d updates from the database (to seq %d)",
                    sync.name,
                    applied,
                    target,
                )

    async def refresh(self, name: str) -> None:
        """Catch room `name` up with the database now. Call it before a client joins:
        a client that moved here from another node re-sends what it holds, and what
        that node stored but we have not received yet is then known, not stored twice."""
        sync = self.rooms.get(name)
        if sync is None or sync.room is None:
            return
        if sync.refreshing is None or sync.refreshing.done():  # joins at once share one
            sync.refreshing = asyncio.ensure_future(self._catch_up_to_db(sync))
        await asyncio.shield(sync.refreshing)

    async def _db_seq(self, name: str) -> int:
        info = await self.store.room_info(name)
        return info.seq if info is not None else 0

    async def _catch_up_to_db(self, sync: RoomSync) -> None:
        await self._catch_up(sync, await self._db_seq(sync.name))

    async def _after_resubscribe(self) -> None:
        """The bus may have missed anything: catch every room up, re-exchange presence."""
        for sync in list(self.rooms.values()):
            room = sync.room
            if room is None:
                sync.needs_catch_up = True
                continue
            self.bus.publish(
                PresenceSnapshot(
                    room.name, encode_awareness_entries(local_entries(room)), self.bus.node_id
                )
            )
            self.bus.publish(PresenceQuery(room.name, self.bus.node_id))
        for sync in list(self.rooms.values()):
            if sync.room is not None:
                try:
                    await self._catch_up_to_db(sync)
                except Exception as exc:  # the periodic check retries
                    log.warning("catch-up of %s failed: %r", sync.name, exc)

    async def _periodic_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_interval)
            try:
                await self._check_all()
            except Exception as exc:  # database down: keep serving, retry next round
                log.warning("cluster resync check failed: %r", exc)

    async def _check_all(self) -> None:
        now = time.monotonic()
        loaded: list[RoomSync] = []
        for name, sync in list(self.rooms.items()):
            if sync.room is not None:
                loaded.append(sync)
            elif now - sync.started > STALE_LOAD_S and self.manager.get(name) is None:
                del self.rooms[name]  # its load failed; a later load starts afresh
                self._spawn(self._leave(name))
        db_seqs = await self.store.room_seqs([sync.name for sync in loaded]) if loaded else {}
        lagging = [
            (sync, db_seqs[sync.name])
            for sync in loaded
            if db_seqs.get(sync.name, 0) > sync.applied
        ]
        if not lagging:
            return
        # Updates in flight on the bus arrive within milliseconds; only what is still
        # missing after a short grace is read from the database.
        await asyncio.sleep(self.gap_grace)
        for sync, db_seq in lagging:
            if db_seq > sync.applied:
                await self._catch_up(sync, db_seq)
