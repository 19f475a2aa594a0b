"""RoomManager: single-flight loading, idle unloading and shutdown of every room."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pycrdt import Doc

from storage.checkpoints import AutoCheckpointer
from storage.types import EpochEnd, Store
from storage.ysplit import apply_in_pieces
from sync.connection import Connection
from sync.epochs import RoomEpoch
from sync.errors import CloseCode, RoomUnavailable
from sync.names import check_room_name
from sync.room import Room
from sync.types import CommitNotice, RoomListener, SyncSettings, Traffic

T = TypeVar("T")
log = logging.getLogger("samepage.sync")


INLINE_LOAD_BYTES = 64 * 1024  # larger stored states are decoded in a worker thread


def _doc_from(checkpoint: bytes | None, tail: list[bytes]) -> Doc[Any]:
    """A new Doc from a room's checkpoint and the rows after it (in a worker thread when
    big; nothing else sees the Doc until it returns). pycrdt holds the GIL while Yrs
    decodes an update (a 3 MB one of tiny items: ~170 ms), so a big one goes in pieces."""
    doc: Doc[Any] = Doc()
    with doc.transaction():
        for update in [checkpoint, *tail] if checkpoint is not None else tail:
            apply_in_pieces(doc, update)  # a big one in pieces: the loop's GIL in between
    return doc


class _CheckpointListener(RoomListener):
    """Schedules the checkpoint builds as rooms commit."""

    def __init__(self, checkpointer: AutoCheckpointer) -> None:
        self.checkpointer = checkpointer

    def on_commit(self, notice: CommitNotice) -> None:
        rows = [(seq, update) for seq, update, _author in notice.updates]
        self.checkpointer.committed(notice.room, notice.seq, rows)


class RoomManager:
    """Loads each room once (however many join at once) and unloads it when idle."""

    def __init__(self, store: Store, settings: SyncSettings | None = None) -> None:
        self.store = store
        self.settings = settings or SyncSettings()
        self.rooms: dict[str, Room] = {}
        self.loads = 0
        self.unloads = 0
        self.load_failures = 0
        self.traffic = Traffic()  # WebSocket frames/bytes/closes, for metrics
        # Listeners on every room (cluster link, metrics, event feed, caches); the
        # checkpoint builder listens first.
        self._listeners: list[RoomListener] = []
        self._loading: dict[str, asyncio.Future[Room]] = {}
        self._unload_timers: dict[str, asyncio.TimerHandle] = {}
        self._checkpointer = AutoCheckpointer(store, self.settings.checkpoint_every)
        self._checkpoints = _CheckpointListener(self._checkpointer)
        self._closing = False
        self._resetting: dict[str, asyncio.Future[None]] = {}  # joins wait for these
        self._epochs: dict[str, int] = {}  # rooms reset elsewhere: the epoch now
        # Big updates and big loads go into Yrs in one thread, one at a time, for every
        # room: each holds the GIL in bursts, and the loop waits for it behind every
        # such thread (four at once: 75-124 ms of lag instead of 10 ms).
        self._apply_pool = ThreadPoolExecutor(1, thread_name_prefix="samepage-apply")

    async def acquire(self, name: str) -> Room:
        """Return the loaded room, loading it if needed; the caller must `release` it."""
        check_room_name(name)
        if self._closing:
            raise RoomUnavailable("server is shutting down", CloseCode.GOING_AWAY)
        while (gate := self._resetting.get(name)) is not None:  # a reset: its new document
            await asyncio.shield(gate)
        room = self.rooms.get(name)
        if room is None:
            pending = self._loading.get(name)
            if pending is None:
                pending = asyncio.get_running_loop().create_future()
                self._loading[name] = pending
                try:
                    room = await self._load(name)
                except BaseException as exc:
                    del self._loading[name]
                    self.load_failures += 1
                    error = (
                        exc
                        if isinstance(exc, RoomUnavailable)
                        else RoomUnavailable(f"cannot load room {name}: {exc}")
                    )
                    pending.set_exception(error)
                    pending.exception()  # mark retrieved: waiters may be none
                    raise error from None
                del self._loading[name]
                self._register(room)
                pending.set_result(room)
            else:
                room = await asyncio.shield(pending)
        room.holders += 1
        timer = self._unload_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        return room

    def acquire_loaded(self, name: str) -> Room | None:
        """`acquire` without waiting: the room if it is loaded (no database), else None."""
        room = self.rooms.get(name)
        if room is None or self._closing or name in self._resetting:
            return None
        room.holders += 1
        timer = self._unload_timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        return room

    def release(self, room: Room) -> None:
        """Drop one hold; an unheld room is unloaded after the grace period."""
        room.holders -= 1
        if room.holders <= 0 and self.rooms.get(room.name) is room and not self._closing:
            self._schedule_unload(room)

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[Room]:
        """`async with manager.hold(name) as room:` — the room, loaded and held for the
        block (released however it ends)."""
        room = await self.acquire(name)
        try:
            yield room
        finally:
            self.release(room)

    def get(self, name: str) -> Room | None:
        """The loaded room, if any (no loading)."""
        return self.rooms.get(name)

    async def _load(self, name: str) -> Room:
        started = time.perf_counter()
        for listener in tuple(self._listeners):
            await listener.before_load(name)
        loaded = await self.store.load(name)
        size = len(loaded.checkpoint or b"") + sum(len(u) for u in loaded.tail)
        if size > INLINE_LOAD_BYTES:  # Yrs releases the GIL: the loop runs meanwhile
            doc = await asyncio.get_running_loop().run_in_executor(
                self._apply_pool, _doc_from, loaded.checkpoint, loaded.tail
            )
        else:
            doc = _doc_from(loaded.checkpoint, loaded.tail)
        life = RoomEpoch.of(loaded.epoch, loaded.base, loaded.deleted, loaded.retired)
        room = Room(
            name, self.store, doc, loaded.seq, self._on_room_failure, life, self._apply_pool
        )
        room.max_pending_bytes = self.settings.max_pending_bytes_per_room
        room.add_listener(self._checkpoints)
        for listener in self._listeners:
            room.add_listener(listener)
        self._checkpointer.seen_load(name, loaded.checkpoint_seq)
        self.loads += 1
        log.info(
            "loaded room %s seq=%d (%d tail updates) in %.1f ms",
            name,
            loaded.seq,
            len(loaded.tail),
            (time.perf_counter() - started) * 1000,
        )
        return room

    def _register(self, room: Room) -> None:
        self.rooms[room.name] = room
        for listener in tuple(self._listeners):
            listener.on_load(room)
        if room.life.epoch < self._epochs.get(room.name, 0):  # read just before a reset
            room.retire(f"room reset: epoch {self._epochs[room.name]}")

    async def end_epoch(self, name: str, how: str, keep: bool) -> EpochEnd:
        """Reset or delete room `name` (docs/rooms.md), safely while it is served: the
        room refuses updates and joins wait meanwhile, what was applied is committed
        (into the old epoch), a checkpoint build in flight ends, the store moves the
        room on, then its clients are closed 4410 (1013 when the store failed: nothing
        changed) and every listener hears `on_reset` (the cluster link tells the other
        nodes)."""
        check_room_name(name)
        while (gate := self._resetting.get(name)) is not None:  # one at a time
            await asyncio.shield(gate)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._resetting[name] = done
        try:
            loading = self._loading.get(name)
            if loading is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(loading)
            room = self.rooms.get(name)
            if room is not None:
                room.freeze()  # its clients are told once the store has moved on
            try:
                await self.store.flush()
                await self._checkpointer.settle(name)
                end = await self.store.end_epoch(name, how, keep)
            except BaseException:
                if room is not None:  # nothing changed: they come back to it
                    room.retire(f"room {how} failed", CloseCode.TRY_AGAIN_LATER)
                raise
            if room is not None:
                room.retire(f"room {how}: epoch {end.epoch}")
            self._note_reset(name, end.epoch, here=True)
            return end
        finally:
            del self._resetting[name]
            done.set_result(None)

    def retire_remote(self, name: str, epoch: int) -> None:
        """Another node moved room `name` to `epoch`: close our clients of its old
        document (4410) and drop it; the next join loads the new one."""
        room = self.rooms.get(name)
        if epoch <= self._epochs.get(name, -1) or (room is not None and room.life.epoch >= epoch):
            return
        if room is not None:
            room.retire(f"room reset: epoch {epoch}")
        self._note_reset(name, epoch, here=False)

    def _note_reset(self, name: str, epoch: int, *, here: bool) -> None:
        self._epochs[name] = epoch
        self._checkpointer.forget(name)
        for listener in tuple(self._listeners):
            listener.on_reset(name, epoch, here)

    def add_listener(self, listener: RoomListener) -> None:
        """Tell `listener` about every room: loads, unloads and each room's events
        (rooms loaded already included)."""
        if listener in self._listeners:
            return
        self._listeners.append(listener)
        for room in self.rooms.values():
            room.add_listener(listener)

    def remove_listener(self, listener: RoomListener) -> None:
        """Stop telling `listener` (idempotent)."""
        if listener in self._listeners:
            self._listeners.remove(listener)
        for room in self.rooms.values():
            room.remove_listener(listener)

    def _schedule_unload(self, room: Room) -> None:
        old = self._unload_timers.pop(room.name, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._unload_timers[room.name] = loop.call_later(
            self.settings.unload_grace_s, self._unload_if_idle, room
        )

    def _unload_if_idle(self, room: Room) -> None:
        self._unload_timers.pop(room.name, None)
        if room.holders > 0 or self.rooms.get(room.name) is not room:
            return
        if room.inflight:
            self._schedule_unload(room)  # commits still running: try again later
            return
        del self.rooms[room.name]
        self._forget(room)
        room.close()
        log.info("unloaded idle room %s seq=%d", room.name, room.seq)

    def _on_room_failure(self, room: Room) -> None:
        if self.rooms.get(room.name) is room:
            del self.rooms[room.name]
            self._forget(room)

    def _forget(self, room: Room) -> None:
        self.unloads += 1
        self._checkpointer.forget(room.name)
        for listener in tuple(self._listeners):
            listener.on_unload(room)

    async def aclose(self, code: int = CloseCode.GOING_AWAY) -> None:
        """Close every client with `code`, flush every room and pending checkpoint."""
        if self._closing:
            return
        self._closing = True
        for timer in self._unload_timers.values():
            timer.cancel()
        self._unload_timers.clear()
        rooms = list(self.rooms.values())
        for room in rooms:  # acknowledge what is in flight before closing anyone
            await room.idle()
            await room.flush()
        closing: list[Connection] = []
        for room in rooms:
            closing.extend(room.connections())
            room.close_all(code, "server shutting down")
        if closing:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in closing], timeout=5)
        for room in rooms:
            await room.flush()
        await self.store.flush()
        await self._checkpointer.aclose()
        for room in rooms:
            room.close()
        self.rooms.clear()
        self._apply_pool.shutdown(wait=False, cancel_futures=True)
