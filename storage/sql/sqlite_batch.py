"""Group commit on SQLite with the writer's own connection: the lock wait and the COMMIT
(its fsync) on the writer's thread, the statements (the seq reservation of every room
in the batch, the inserts) on the event loop in between. Through SQLAlchemy + aiosqlite
the same transaction was five round trips between the event loop and aiosqlite's
thread (begin, upsert, insert, commit, the pool's reset), each with its own statement
handling on the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from storage.sql.engine import BUSY_TIMEOUT_MS, switch_to_wal

# Statements are prepared once per connection by sqlite3's statement cache.
# Only for a room still in the epoch the appends were made for (docs/rooms.md): a
# reset or delete moved the others on, and their appends are refused (no row back).
# Several rooms a statement (one statement a room cost twice the CPU: 126 against 60 µs
# for 33 rooms), in chunks of a power of two so that few statement texts are cached.
_RESERVE_CHUNKS = (64, 16, 4, 1)
_RESERVE = {
    n: "INSERT INTO rooms (name, seq, bytes, created_us, updated_us, epoch) VALUES "
    + ", ".join(["(?, ?, ?, ?, ?, ?)"] * n)
    + " ON CONFLICT (name) DO UPDATE SET seq = rooms.seq + excluded.seq, "
    "bytes = rooms.bytes + excluded.bytes, updated_us = excluded.updated_us, "
    "deleted_us = NULL WHERE rooms.epoch = excluded.epoch RETURNING name, seq"
    for n in _RESERVE_CHUNKS
}
_INSERT = "INSERT INTO updates (room, seq, time_us, author, data) VALUES (?, ?, ?, ?, ?)"
_WAIT_FOR_LOCK = f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}"
_NO_WAIT = "PRAGMA busy_timeout=0"
_CHECKPOINT = "INSERT OR IGNORE INTO checkpoints (room, seq, time_us, state) VALUES (?, ?, ?, ?)"

# (room, author, update, epoch) of each append, in submission order
Appends = list[tuple[str, str, bytes, int]]
# (room, seq, state) of each checkpoint
Checkpoints = list[tuple[str, int, bytes]]


class SqliteBatchWriter:
    """Runs group-commit batches on a dedicated SQLite connection and thread."""

    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self._path = path
        self._synchronous = synchronous if synchronous in ("FULL", "NORMAL") else "FULL"
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="samepage-group-commit")
        self._conn: sqlite3.Connection | None = None

    async def commit(
        self, appends: Appends, now_us: int, checkpoints: Checkpoints | None = None
    ) -> list[int | None]:
        """Store `appends` (and `checkpoints`) in one transaction; returns the seq given
        to each append (None: the room is in another epoch, not stored).

        The statements run on the event loop: in the writer's thread they handed the GIL
        back and forth once per row (sqlite3 releases it around every step) while the
        loop was busy, and 100 rooms made a commit take 8 ms on average. The write lock
        is taken on the loop too when it is free (`BEGIN IMMEDIATE` without waiting);
        only a wait for it (another connection writing) and the COMMIT (the fsync) go
        to the writer's thread: one hop per commit. Every hop costs the loop a few
        context switches (the threads share its core and take turns with the GIL)."""
        loop = asyncio.get_running_loop()
        conn = self._conn
        if conn is None:
            conn = self._conn = await loop.run_in_executor(self._executor, self._connect)
        if not _begin_now(conn):
            await loop.run_in_executor(self._executor, conn.execute, "BEGIN IMMEDIATE")
        try:
            seqs = _write(conn, appends, now_us)
            if checkpoints:
                conn.executemany(
                    _CHECKPOINT, [(room, seq, now_us, state) for room, seq, state in checkpoints]
                )
            await loop.run_in_executor(self._executor, conn.execute, "COMMIT")
        except BaseException:
            if conn.in_transaction:
                await loop.run_in_executor(self._executor, conn.execute, "ROLLBACK")
            raise
        return seqs

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.execute(_WAIT_FOR_LOCK)  # first: see storage.sql.engine.switch_to_wal
        switch_to_wal(conn)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    async def aclose(self) -> None:
        """Close the connection and stop the thread (idempotent)."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=False)


def _begin_now(conn: sqlite3.Connection) -> bool:
    """Take the write lock if no other connection holds it (no wait: on the loop)."""
    conn.execute(_NO_WAIT)
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise
        return False
    finally:
        conn.execute(_WAIT_FOR_LOCK)
    return True


def _write(conn: sqlite3.Connection, appends: Appends, now_us: int) -> list[int | None]:
    """Reserve each room's seqs and insert the rows (inside the caller's transaction)."""
    newest: dict[str, int] = {}
    for room, _author, _update, epoch in appends:
        newest[room] = max(epoch, newest.get(room, 0))
    counts: dict[str, list[int]] = {}
    for room, _author, update, epoch in appends:
        if epoch != newest[room]:
            continue  # a newer epoch of the room exists: refused below
        entry = counts.get(room)
        if entry is None:
            counts[room] = [1, len(update)]
        else:
            entry[0] += 1
            entry[1] += len(update)
    next_seq: dict[str, int] = {}
    rooms = sorted(counts)  # one lock order for every node
    start = 0
    for size in _RESERVE_CHUNKS:
        while len(rooms) - start >= size:
            params: list[object] = []
            for room in rooms[start : start + size]:
                count, nbytes = counts[room]
                params += (room, count, nbytes, now_us, now_us, newest[room])
            for room, last in conn.execute(_RESERVE[size], params):
                next_seq[room] = int(last) - counts[room][0] + 1
            start += size
    seqs: list[int | None] = []
    rows = []
    for room, author, update, epoch in appends:
        seq = next_seq.get(room) if epoch == newest[room] else None
        seqs.append(seq)
        if seq is not None:
            next_seq[room] = seq + 1
            rows.append((room, seq, now_us, author[:200], update))
    if rows:
        conn.executemany(_INSERT, rows)
    return seqs
