"""The single writer with group commit: appends that arrive while a transaction is in
flight share the next one; each caller's future resolves after its own commit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert as generic_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.sql import schema
from storage.sql.engine import write_transaction
from storage.sql.sqlite_batch import SqliteBatchWriter
from storage.types import AppendResult, EpochChanged, StoreError

log = logging.getLogger("samepage.storage")
MAX_BATCH = 2000
# Under concurrent load a commit starts at most a window after the previous one started,
# and takes everything that arrived meanwhile. Every commit costs the same whatever it
# carries (the fsync, a hop to the writer's thread and back, BEGIN and COMMIT, a pass
# over the sockets): ~0.7 ms of CPU on the bench machine, measured as the difference
# between windows on s2. So the window grows with the load: 4 ms up to 2,000 appends/s,
# then in proportion to the arrival rate, to 10 ms from 5,000/s (s2 at 10,000 updates/s:
# 75 against 86 µs of CPU an update; the median latency 13 against 6.5 ms). The longest
# window is a setting (`serve --commit-window`). A lone client awaiting each commit is
# never held back: after an idle spell a commit starts at once.
COMMIT_WINDOW_S = 0.004
MAX_COMMIT_WINDOW_S = 0.010
WINDOW_PER_RATE_S = COMMIT_WINDOW_S / 2000  # seconds of window per append/s


def commit_window(rate: float, longest: float = MAX_COMMIT_WINDOW_S) -> float:
    """The window between commit starts for an arrival rate of `rate` appends/s, at
    most `longest` (0: commits back to back)."""
    return min(longest, max(COMMIT_WINDOW_S, rate * WINDOW_PER_RATE_S))


@dataclass(slots=True)
class _Pending:
    room: str
    update: bytes
    author: str
    future: asyncio.Future[AppendResult]
    epoch: int = 0


@dataclass(slots=True)
class _Checkpoint:
    room: str
    seq: int
    state: bytes
    future: asyncio.Future[None]


class GroupCommitWriter:
    """Owns the write path of one database; one task, FIFO, batched transactions."""

    def __init__(
        self,
        engine: AsyncEngine,
        on_batch: Callable[[int, float], None] | None = None,
        sqlite_synchronous: str = "FULL",
        max_window: float = MAX_COMMIT_WINDOW_S,
    ) -> None:
        self._engine = engine
        self.max_window = max(0.0, max_window)  # the longest window (commit_window)
        self._queue: list[_Pending] = []
        self._checkpoints: list[_Checkpoint] = []
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._event_loop: asyncio.AbstractEventLoop | None = None
        self._closing = False
        self._on_batch = on_batch
        self.failures = 0  # consecutive failed commits (readiness), 0 after a success
        self.last_error = ""
        dialect = engine.dialect.name
        inserts: dict[str, Any] = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
        if dialect not in inserts:
            raise StoreError(f"unsupported database dialect {dialect}")
        self._reserve = _reserve_statement(inserts[dialect])
        self._add_checkpoints = inserts[dialect](schema.checkpoints).on_conflict_do_nothing()
        # SQLite: a batch is one call on the writer's own connection and thread.
        database = engine.url.database
        self._sqlite: SqliteBatchWriter | None = None
        if dialect == "sqlite" and database and database != ":memory:":
            self._sqlite = SqliteBatchWriter(database, sqlite_synchronous)

    def start(self) -> None:
        """Start the writer task."""
        if self._task is None:
            self._event_loop = asyncio.get_running_loop()
            self._task = self._event_loop.create_task(self._run(), name="group-commit")

    def submit(
        self, room: str, update: bytes, author: str, epoch: int = 0
    ) -> asyncio.Future[AppendResult]:
        """Queue one append; returns the future of its commit."""
        future: asyncio.Future[AppendResult] = self._loop().create_future()
        if self._open(future):
            self._queue.append(_Pending(room, update, author, future, epoch))
        return future

    def submit_checkpoint(self, room: str, seq: int, state: bytes) -> asyncio.Future[None]:
        """Queue a checkpoint (kept unless the room has one at `seq` already) for the
        next transaction: no lock or fsync of its own. Returns the future of its commit."""
        future: asyncio.Future[None] = self._loop().create_future()
        if self._open(future):
            self._checkpoints.append(_Checkpoint(room, seq, state, future))
        return future

    def _loop(self) -> asyncio.AbstractEventLoop:
        """The event loop, looked up once: `asyncio.get_running_loop()` makes a getpid
        system call each time (a fork check), once per update on the hot path."""
        loop = self._event_loop
        if loop is None:
            loop = self._event_loop = asyncio.get_running_loop()
        return loop

    def _open(self, future: asyncio.Future[Any]) -> bool:
        """Wake the writer for what the caller queues next, or fail `future` (closed)."""
        if self._closing:
            future.set_exception(StoreError("store is closed"))
            return False
        self._idle.clear()
        self._wakeup.set()
        return True

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (or failed)."""
        while self._queue or self._checkpoints or not self._idle.is_set():
            await self._idle.wait()

    async def aclose(self) -> None:
        """Commit what is queued, then stop (idempotent)."""
        if self._task is None:
            return
        await self.flush()
        self._closing = True
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = self._event_loop = None
        if self._sqlite is not None:
            await self._sqlite.aclose()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            gather_until = 0.0  # after an idle spell: commit at once
            started = rate = 0.0
            while self._queue or self._checkpoints:
                wait = gather_until - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                # Appends arrived while the last commit ran: the load is concurrent, so
                # the next batch gathers for a window (by the rate they arrive at).
                now = loop.time()
                if started:
                    rate = (rate + len(self._queue) / max(now - started, 1e-3)) / 2
                started = now
                gather_until = now + commit_window(rate, self.max_window)
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                checkpoints, self._checkpoints = self._checkpoints, []
                await self._commit(batch, checkpoints)
            self._idle.set()

    async def _commit(self, batch: list[_Pending], checkpoints: list[_Checkpoint]) -> None:
        started = time.perf_counter()
        now_us = time.time_ns() // 1000
        try:
            if self._sqlite is not None:
                seqs = await self._sqlite.commit(
                    [(item.room, item.author, item.update, item.epoch) for item in batch],
                    now_us,
                    [(c.room, c.seq, c.state) for c in checkpoints],
                )
                results = [
                    None if seq is None else AppendResult(item.room, seq, now_us)
                    for item, seq in zip(batch, seqs, strict=True)
                ]
            else:
                async with write_transaction(self._engine) as conn:
                    results = await self._write(conn, batch, now_us) if batch else []
                    if checkpoints:
                        rows = [
                            {"room": c.room, "seq": c.seq, "time_us": now_us, "state": c.state}
                            for c in checkpoints
                        ]
                        await conn.execute(self._add_checkpoints, rows)
        except Exception as exc:  # every caller must learn its update is not stored
            log.error(
                "group commit of %d updates, %d checkpoints failed: %s",
                len(batch),
                len(checkpoints),
                exc,
            )
            self.failures += 1
            self.last_error = str(exc)
            error = StoreError(f"commit failed: {exc}")
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(error)
            for checkpoint in checkpoints:
                if not checkpoint.future.done():
                    checkpoint.future.set_exception(error)
            return
        self.failures = 0
        for item, result in zip(batch, results, strict=True):
            if item.future.done():
                continue
            if result is None:  # the room is in another epoch now: nothing stored
                item.future.set_exception(
                    EpochChanged(f"room {item.room} left epoch {item.epoch}: not stored")
                )
            else:
                item.future.set_result(result)
        for checkpoint in checkpoints:
            if not checkpoint.future.done():
                checkpoint.future.set_result(None)
        if self._on_batch is not None:
            self._on_batch(len(batch), time.perf_counter() - started)

    async def _write(
        self, conn: AsyncConnection, batch: list[_Pending], now_us: int
    ) -> list[AppendResult | None]:
        newest: dict[str, int] = {}
        for item in batch:
            newest[item.room] = max(item.epoch, newest.get(item.room, 0))
        by_room: dict[str, list[int]] = {}
        for index, item in enumerate(batch):
            if item.epoch == newest[item.room]:  # older ones: a newer epoch exists
                by_room.setdefault(item.room, []).append(index)
        last_seqs = await self._reserve_seqs(conn, batch, by_room, now_us)
        results: list[AppendResult | None] = [None] * len(batch)
        rows = []
        for room, indexes in by_room.items():
            if room not in last_seqs:
                continue  # fenced: the room's epoch is not the one these were for
            first = last_seqs[room] - len(indexes) + 1
            for offset, index in enumerate(indexes):
                item = batch[index]
                rows.append(
                    {
                        "room": room,
                        "seq": first + offset,
                        "time_us": now_us,
                        "author": item.author[:200],
                        "data": item.update,
                    }
                )
                results[index] = AppendResult(room, first + offset, now_us)
        if rows:
            await conn.execute(generic_insert(schema.updates), rows)
        return results

    async def _reserve_seqs(
        self,
        conn: AsyncConnection,
        batch: list[_Pending],
        by_room: dict[str, list[int]],
        now_us: int,
    ) -> dict[str, int]:
        """Reserve seqs for every room of the batch atomically, in one statement (one
        round trip however many rooms; works across nodes sharing the database).
        Returns each room's last reserved seq."""
        values = [
            {
                "name": room,
                "seq": len(indexes),
                "bytes": sum(len(batch[i].update) for i in indexes),
                "created_us": now_us,
                "updated_us": now_us,
                "epoch": batch[indexes[0]].epoch,
            }
            for room, indexes in sorted(by_room.items())  # one lock order for every node
        ]
        # One statement compiled once, executed with a parameter list (SQLAlchemy's
        # "insertmanyvalues" renders one multi-row INSERT per batch): a statement with
        # the rows inlined is a new cache entry for every batch size and cost ~4x the
        # CPU per commit (6.5 vs 1.8 ms for 30-100 rooms, /tmp benchmark in the commit).
        return {name: int(seq) for name, seq in (await conn.execute(self._reserve, values)).all()}


def _reserve_statement(insert: Any) -> Any:
    """`INSERT INTO rooms ... ON CONFLICT (name) DO UPDATE seq = seq + excluded.seq ...
    WHERE rooms.epoch = excluded.epoch RETURNING name, seq`: adds each room's count to
    its seq and returns the new last — only for rooms still in the epoch the appends
    were made for (a reset or delete moved the others on: their appends are refused)."""
    rooms = schema.rooms
    stmt = insert(rooms)
    return stmt.on_conflict_do_update(
        index_elements=[rooms.c.name],
        set_={
            "seq": rooms.c.seq + stmt.excluded.seq,
            "bytes": rooms.c.bytes + stmt.excluded.bytes,
            "updated_us": stmt.excluded.updated_us,
            "deleted_us": None,  # written again after a delete: it exists again
        },
        where=rooms.c.epoch == stmt.excluded.epoch,
    ).returning(rooms.c.name, rooms.c.seq)
