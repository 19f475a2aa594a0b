"""`SqlStore`: the Store protocol on SQLAlchemy async (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import and_, delete, func, not_, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.sql import epochs, reset, schema
from storage.sql.engine import make_engine, write_transaction
from storage.sql.locks import room_maintenance_lock
from storage.sql.migrations import check_current, migrate
from storage.sql.sqlite_read import LoadRead, SqliteReader
from storage.sql.writer import MAX_COMMIT_WINDOW_S, GroupCommitWriter
from storage.types import (
    AppendResult,
    Epoch,
    EpochEnd,
    HistoryEntry,
    LoadedRoom,
    RoomInfo,
    RoomKey,
    StoreError,
    UpdateRecord,
    Version,
)

log = logging.getLogger("samepage.storage")
LOAD_ATTEMPTS = 8
U, C, R, V = schema.updates, schema.checkpoints, schema.rooms, schema.versions
T = schema.text_timelines


def _room_info(row: Any) -> RoomInfo:
    name, seq, size, created, updated, epoch, base, deleted = row
    return RoomInfo(
        name, int(seq), int(size), int(created), int(updated), int(epoch), int(base), bool(deleted)
    )


def _info_columns() -> Any:
    return select(
        R.c.name,
        R.c.seq,
        R.c.bytes,
        R.c.created_us,
        R.c.updated_us,
        R.c.epoch,
        R.c.base,
        R.c.deleted_us.is_not(None),
    )


class SqlStore:
    """Update log, checkpoints and versions in SQL, written through group commit."""

    def __init__(
        self,
        url: str,
        *,
        sqlite_synchronous: str = "FULL",
        on_batch: Callable[[int, float], None] | None = None,
        migrate: bool = True,
        commit_window: float = MAX_COMMIT_WINDOW_S,
    ) -> None:
        self.url = url
        self.migrate = migrate  # False: refuse a schema that is not the newest instead
        self.engine: AsyncEngine = make_engine(url, sqlite_synchronous=sqlite_synchronous)
        self._writer = GroupCommitWriter(
            self.engine,
            on_batch=on_batch,
            sqlite_synchronous=sqlite_synchronous,
            max_window=commit_window,
        )
        # SQLite file: the hot reads through plain sqlite3 (storage/sql/sqlite_read.py)
        database = self.engine.url.database
        self._reader: SqliteReader | None = None
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._reader = SqliteReader(database)
        self._closed = False

    async def start(self) -> None:
        """Run migrations (or check there are none to run) and start the writer."""
        try:
            await (migrate(self.engine) if self.migrate else check_current(self.engine))
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open database: {exc}") from exc
        self._writer.start()

    async def aclose(self) -> None:
        """Flush, stop the writer and dispose the engine (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._writer.aclose()
        if self._reader is not None:
            await self._reader.aclose()
        await self.engine.dispose()

    def append(
        self, room: str, update: bytes, author: str, epoch: int = 0
    ) -> asyncio.Future[AppendResult]:
        """Queue an update for `room`'s `epoch`; resolved after its group commit."""
        return self._writer.submit(room, update, author, epoch)

    async def flush(self) -> None:
        """Wait for every queued append."""
        await self._writer.flush()

    async def load(self, room: str) -> LoadedRoom:
        """Latest checkpoint + tail, read in one transaction. On PostgreSQL (read
        committed: one snapshot per statement) a compaction may commit between the two
        reads; the tail must then continue the checkpoint, or the load reads again."""
        for attempt in range(LOAD_ATTEMPTS):
            loaded = await self._load_once(room, last=attempt == LOAD_ATTEMPTS - 1)
            if loaded is not None:
                return loaded
        raise AssertionError("unreachable: the last attempt returns what is stored")

    async def _load_once(self, room: str, last: bool = False) -> LoadedRoom | None:
        try:
            read = await (self._reader.load(room) if self._reader else self._read_load(room, last))
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise StoreError(f"cannot load room {room}: {exc}") from exc
        if read is None:
            return None  # reset meanwhile (PostgreSQL reads per statement)
        head_row, checkpoint, tail, retired = read
        head, epoch, base, deleted = head_row or (0, 0, 0, False)
        cp_seq, cp_state = checkpoint or (0, None)
        seq = tail[-1][0] if tail else cp_seq
        if seq < head or [r[0] for r in tail] != list(range(cp_seq + 1, seq + 1)):
            if not last:
                return None  # rows folded between the reads: a newer checkpoint covers them
            # Not a race (it persisted): serve what is stored rather than nothing.
            log.error("room %s: stored rows do not continue checkpoint %d", room, cp_seq)
        updates = [r[1] for r in tail]
        return LoadedRoom(seq, cp_state, cp_seq, updates, epoch, base, deleted, retired)

    async def _read_load(self, room: str, last: bool) -> LoadRead | None:
        """`SqliteReader.load` through SQLAlchemy (PostgreSQL): None when the room's
        row changed between the first and the last read."""
        async with self.engine.begin() as conn:
            life = select(R.c.seq, R.c.epoch, R.c.base, R.c.deleted_us.is_not(None))
            life = life.where(R.c.name == room)
            head_row = (await conn.execute(life)).first()
            row = (
                await conn.execute(
                    select(C.c.seq, C.c.state)
                    .where(C.c.room == room)
                    .order_by(C.c.seq.desc())
                    .limit(1)
                )
            ).first()
            checkpoint = (int(row[0]), bytes(row[1])) if row else None
            tail = (
                await conn.execute(
                    select(U.c.seq, U.c.data)
                    .where(U.c.room == room, U.c.seq > (checkpoint[0] if checkpoint else 0))
                    .order_by(U.c.seq)
                )
            ).all()
            epoch = int(head_row[1]) if head_row else 0
            retired = await epochs.retired_clients(conn, room) if epoch else ()
            if not last and (await conn.execute(life)).first() != head_row:
                return None  # reset meanwhile (PostgreSQL reads per statement)
        head = None
        if head_row is not None:
            head = (int(head_row[0]), epoch, int(head_row[2]), bool(head_row[3]))
        return head, checkpoint, [(int(r[0]), bytes(r[1])) for r in tail], retired

    async def room_info(self, room: str) -> RoomInfo | None:
        """Summary of one room."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(_info_columns().where(R.c.name == room))).first()
        return _room_info(row) if row else None

    async def room_seqs(self, rooms: list[str]) -> dict[str, int]:
        """Last seqs of the stored ones of `rooms`, in one query per 500 names."""
        found: dict[str, int] = {}
        async with self.engine.connect() as conn:
            for start in range(0, len(rooms), 500):
                names = rooms[start : start + 500]
                query = select(R.c.name, R.c.seq).where(R.c.name.in_(names))
                found.update({name: int(seq) for name, seq in (await conn.execute(query)).all()})
        return found

    async def list_rooms(
        self, *, prefix: str = "", after: RoomKey | None = None, limit: int | None = None
    ) -> list[RoomInfo]:
        """Rooms, most recently updated first, ties by name (not deleted ones, nor the
        storage keys of earlier epochs' history); a page of them with `after`/`limit`."""
        query = _info_columns().where(R.c.deleted_us.is_(None), not_(R.c.name.startswith("~")))
        if prefix:
            query = query.where(R.c.name.startswith(prefix, autoescape=True))
        if after is not None:
            updated, name = after
            later = and_(R.c.updated_us == updated, R.c.name > name)
            query = query.where(or_(R.c.updated_us < updated, later))
        query = query.order_by(R.c.updated_us.desc(), R.c.name).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_room_info(r) for r in rows]

    async def history(
        self, room: str, limit: int = 100, before: int | None = None
    ) -> list[HistoryEntry]:
        """Rows newest first, with the length of their bytes (not the bytes)."""
        if self._reader is not None:
            return await self._reader.history(room, limit, before)
        query = select(U.c.seq, U.c.time_us, U.c.author, func.length(U.c.data).label("size"))
        query = query.where(U.c.room == room)
        if before is not None:
            query = query.where(U.c.seq < before)
        query = query.order_by(U.c.seq.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [HistoryEntry(room, r.seq, r.time_us, r.author, r.size) for r in rows]

    async def updates_range(self, room: str, after: int, upto: int) -> list[UpdateRecord]:
        """Rows with after < seq <= upto, oldest first."""
        if self._reader is not None:
            return await self._reader.updates_range(room, after, upto)
        query = (
            select(U).where(U.c.room == room, U.c.seq > after, U.c.seq <= upto).order_by(U.c.seq)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [UpdateRecord(r.room, r.seq, r.time_us, r.author, bytes(r.data)) for r in rows]

    async def checkpoint_before(self, room: str, seq: int) -> tuple[int, bytes] | None:
        """Latest checkpoint at or before seq."""
        if self._reader is not None:
            return await self._reader.checkpoint_before(room, seq)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(C.c.seq, C.c.state)
                    .where(C.c.room == room, C.c.seq <= seq)
                    .order_by(C.c.seq.desc())
                    .limit(1)
                )
            ).first()
        return (int(row[0]), bytes(row[1])) if row else None

    async def add_checkpoint(self, room: str, seq: int, state: bytes) -> None:
        """Insert a checkpoint (ignored if one already exists at that seq), in the next
        group commit."""
        await self._writer.submit_checkpoint(room, seq, state)

    async def seq_at_time(self, room: str, time_us: int) -> int:
        """Last seq committed at or before time_us."""
        async with self.engine.connect() as conn:
            value = (
                await conn.execute(
                    select(func.max(U.c.seq)).where(U.c.room == room, U.c.time_us <= time_us)
                )
            ).scalar()
            if value is None:
                # Rows may have been compacted away: fall back to checkpoints.
                value = (
                    await conn.execute(
                        select(func.max(C.c.seq)).where(C.c.room == room, C.c.time_us <= time_us)
                    )
                ).scalar()
        return int(value or 0)

    async def add_version(self, room: str, seq: int, label: str, author: str) -> Version:
        """Name a point in history."""
        now = time.time_ns() // 1000
        async with write_transaction(self.engine) as conn:
            await conn.execute(
                V.insert().values(room=room, seq=seq, label=label, author=author, time_us=now)
            )
        return Version(room, seq, label, author, now)

    async def list_versions(self, room: str) -> list[Version]:
        """Named versions newest first."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(V).where(V.c.room == room).order_by(V.c.seq.desc(), V.c.time_us.desc())
                )
            ).all()
        return [Version(r.room, r.seq, r.label, r.author, r.time_us) for r in rows]

    async def delete_updates_covered(self, room: str, upto: int, keep: set[int]) -> int:
        """Delete rows <= upto covered by a checkpoint at or after them, except `keep`."""
        async with write_transaction(self.engine) as conn:
            covered = (
                await conn.execute(
                    select(func.max(C.c.seq)).where(C.c.room == room, C.c.seq <= upto)
                )
            ).scalar()
            if not covered:
                return 0
            condition = and_(U.c.room == room, U.c.seq <= covered)
            if keep:
                condition = and_(condition, not_(U.c.seq.in_(sorted(keep))))
            result = await conn.execute(delete(U).where(condition))
            return int(getattr(result, "rowcount", 0) or 0)

    async def list_epochs(self, room: str) -> list[Epoch]:
        """The room's recorded epochs, oldest first."""
        return await epochs.list_epochs(self.engine, room)

    async def record_origin(self, room: str, origin: str, epoch: int, seq: int) -> None:
        """Note where `room`'s current epoch was copied from."""
        await epochs.record_origin(self.engine, room, origin, epoch, seq)

    async def end_epoch(self, room: str, how: str, keep: bool) -> EpochEnd:
        """End the room's epoch (`storage/sql/reset.py`)."""
        if how not in ("reset", "delete"):
            raise ValueError(f"how must be reset or delete, not {how!r}")
        try:
            async with self.maintenance_lock(room, wait=True):
                async with write_transaction(self.engine) as conn:
                    return await reset.end_epoch(conn, room, how, keep)
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot {how} room {room}: {exc}") from exc

    async def save_text_timeline(self, room: str, base: int, seq: int, data: bytes) -> None:
        """Replace the room's saved text timeline snapshot."""
        async with write_transaction(self.engine) as conn:
            await conn.execute(delete(T).where(T.c.room == room))
            await conn.execute(
                T.insert().values(
                    room=room, base=base, seq=seq, time_us=time.time_ns() // 1000, data=data
                )
            )

    async def load_text_timeline(self, room: str) -> tuple[int, int, bytes] | None:
        """The room's saved text timeline snapshot: (base, seq, data)."""
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(T.c.base, T.c.seq, T.c.data).where(T.c.room == room))
            ).first()
        return (int(row[0]), int(row[1]), bytes(row[2])) if row else None

    @property
    def failed_commits(self) -> tuple[int, str]:
        """Consecutive failed commits (0 since one succeeded) and the last one's cause."""
        return self._writer.failures, self._writer.last_error

    @asynccontextmanager
    async def maintenance_lock(self, room: str, *, wait: bool = False) -> AsyncIterator[bool]:
        """Granted at once on SQLite (the database has one owner, `storage/sql/owner.py`);
        on PostgreSQL a transaction-level advisory lock (`storage/sql/locks.py`)."""
        async with room_maintenance_lock(self.engine, room, wait=wait) as mine:
            yield mine

    async def ping(self, write: bool = False) -> None:
        """Raise StoreError when the database cannot answer — or, with `write`, cannot
        commit a write (a full disk): SQLite bumps `user_version` (a page written),
        PostgreSQL commits a transaction id. A write that works counts as a commit."""
        try:
            if not write:
                async with self.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                return
            async with write_transaction(self.engine) as conn:
                if self.engine.dialect.name == "sqlite":
                    value = int((await conn.execute(text("PRAGMA user_version"))).scalar() or 0)
                    await conn.execute(text(f"PRAGMA user_version = {(value + 1) % 2**31}"))
                else:
                    await conn.execute(text("SELECT txid_current()"))
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(f"database unreachable: {exc}") from exc
        if write:
            self._writer.failures = 0
