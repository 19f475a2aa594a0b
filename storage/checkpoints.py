"""Checkpoints added as rooms grow: `AutoCheckpointer` builds one whenever a room has
`every` updates past its last, from stored rows (never from a live doc; see
storage/history.py), a few rooms at a time, keeping a cursor per room so a build only
applies the rows since the last one, and the rows this node just committed so it does
not read them back."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pycrdt import Doc

from storage.history import Cursor, KnownRows, advance, build_checkpoint
from storage.types import Store

log = logging.getLogger("samepage.storage")
T = TypeVar("T")

KEEP_CURSORS = 1024  # cursors kept at most (the least recently used go first) ...
KEEP_CURSOR_BYTES = 8 * 1024 * 1024  # ... and at most this much encoded state in them
KNOWN_ROW_BYTES = 16 * 1024 * 1024  # rows held for the next builds, all rooms together
BUILDS_AT_ONCE = 2  # checkpoint builds running at a time (the others wait their turn)


class AutoCheckpointer:
    """Adds a checkpoint whenever a room has `every` updates past its last one.

    It keeps a cursor per room (the least recently used dropped past `keep` cursors or
    `keep_bytes` of state, and on unload): the next build applies only the new rows —
    a checkpoint of a 100,000-item document costs ~10 ms of the event loop (encoding)
    instead of ~100 ms (decoding the previous one first) — and versions after the last
    checkpoint are read from it without any decoding. The rows this node commits are
    held (`committed(..., rows)`, KNOWN_ROW_BYTES at most) until the build that needs
    them, which then reads nothing back from the database."""

    def __init__(
        self,
        store: Store,
        every: int,
        keep: int = KEEP_CURSORS,
        keep_bytes: int = KEEP_CURSOR_BYTES,
    ) -> None:
        self._store = store
        self._every = every
        self._keep = keep
        self._keep_bytes = keep_bytes
        self._last: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._cursor_sizes: dict[str, int] = {}  # each kept cursor's size when kept
        self._cursor_bytes = 0
        self._known: dict[str, KnownRows] = {}
        self._known_bytes = 0
        self._locks: dict[str, asyncio.Lock] = {}
        # Rooms written at the same pace come due together (100 at once in the bench's
        # s2): built a few at a time, they neither take every database connection
        # nor the event loop for long.
        self._slots = asyncio.Semaphore(BUILDS_AT_ONCE)

    async def settle(self, room: str) -> None:
        """Wait for the room's checkpoint build in flight, if any (before a reset)."""
        task = self._tasks.get(room)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def forget(self, room: str) -> None:
        """The room was unloaded: drop its cursor and the rows held for it."""
        self._take_cursor(room)
        self._drop_known(room)
        self._locks.pop(room, None)

    async def read_at(self, room: str, seq: int, read: Callable[[Doc[Any]], T]) -> T | None:
        """`read(doc as it was after seq)` from the room's cursor when it is at or before
        `seq` (it advances: a few ms for the versions after the last checkpoint, where
        rebuilding decodes a whole checkpoint); None when it is past `seq` or absent."""
        async with self._locks.setdefault(room, asyncio.Lock()):
            kept = self._cursors.get(room)
            if kept is None or kept.seq > seq:
                return None
            cursor = self._take_cursor(room)  # a failed advance leaves it half-advanced
            assert cursor is not None
            if not await advance(self._store, room, cursor, seq, self._known.get(room)):
                return None  # rows folded by a compaction: the caller reads from the store
            self._keep_cursor(room, cursor)
            return read(cursor.doc)

    def _take_cursor(self, room: str) -> Cursor | None:
        cursor = self._cursors.pop(room, None)
        self._cursor_bytes -= self._cursor_sizes.pop(room, 0)
        return cursor

    def _keep_cursor(self, room: str, cursor: Cursor) -> None:
        self._take_cursor(room)
        self._cursors[room] = cursor
        self._cursor_sizes[room] = cursor.size
        self._cursor_bytes += cursor.size
        while len(self._cursors) > 1 and (
            len(self._cursors) > self._keep or self._cursor_bytes > self._keep_bytes
        ):
            oldest, _ = self._cursors.popitem(last=False)
            self._cursor_bytes -= self._cursor_sizes.pop(oldest)

    def _drop_known(self, room: str) -> None:
        known = self._known.pop(room, None)
        if known is not None:
            self._known_bytes -= known.size

    def _hold(self, room: str, rows: Sequence[tuple[int, bytes]]) -> None:
        """Hold the rows just committed for the room's next build (within the budgets:
        else the build reads them back from the database)."""
        known = self._known.get(room)
        if known is None:
            known = self._known[room] = KnownRows(rows[0][0])
        before = known.size
        for seq, update in rows:
            known.add(seq, update)
        if len(known.updates) > 2 * self._every:  # builds fell behind (or failed)
            known.drop_through(known.last - self._every)
        self._known_bytes += known.size - before
        if self._known_bytes > KNOWN_ROW_BYTES:
            self._drop_known(room)

    def seen_load(self, room: str, checkpoint_seq: int) -> None:
        """Tell the policy where the room's latest checkpoint is (at load)."""
        self._last[room] = checkpoint_seq

    def committed(self, room: str, seq: int, rows: Sequence[tuple[int, bytes]] = ()) -> None:
        """Called after a commit (`rows`: the (seq, update) it stored, if the caller has
        them); schedules a checkpoint build when one is due."""
        if self._every <= 0:
            return
        if rows:
            self._hold(room, rows)
        if room in self._tasks:
            return
        if seq - self._last.get(room, 0) >= self._every:
            self._last[room] = seq
            task = asyncio.get_running_loop().create_task(self._build(room, seq))
            self._tasks[room] = task

    async def _build(self, room: str, seq: int) -> None:
        try:
            async with self._slots:
                await self._build_now(room, seq)
        except Exception as exc:  # a missed checkpoint only costs load time
            log.warning("checkpoint of %s at %d failed: %s", room, seq, exc)
        finally:
            self._tasks.pop(room, None)

    async def _build_now(self, room: str, seq: int) -> None:
        # Nodes sharing a PostgreSQL database all see the room's seqs grow: one
        # builds (advisory lock), and none rebuilds what another just built.
        async with self._store.maintenance_lock(room) as mine:
            if not mine:
                return
            # another node may have built one just after `seq` (it saw a newer
            # head): any checkpoint closer than `every` on either side will do
            latest = await self._store.checkpoint_before(room, seq + self._every - 1)
            if latest is not None and abs(seq - latest[0]) < self._every:
                return
            async with self._locks.setdefault(room, asyncio.Lock()):
                cursor = self._take_cursor(room)  # a failed build drops it
                known = self._known.get(room)
                cursor = await build_checkpoint(self._store, room, seq, cursor, known)
                self._keep_cursor(room, cursor)
                if known is not None and self._known.get(room) is known:
                    before = known.size
                    known.drop_through(cursor.seq)  # the cursor has them
                    self._known_bytes += known.size - before

    async def aclose(self) -> None:
        """Wait for checkpoint builds in flight (idempotent)."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
