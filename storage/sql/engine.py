"""Engine construction for SQLite (aiosqlite, WAL) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine


def database_url(db: str) -> str:
    """Turn `--db PATH_OR_URL` into an SQLAlchemy URL (a bare path means SQLite)."""
    if "://" in db:
        if db.startswith("sqlite://") and not db.startswith("sqlite+aiosqlite://"):
            return "sqlite+aiosqlite://" + db[len("sqlite://") :]
        if db.startswith("postgresql://"):
            return "postgresql+asyncpg://" + db[len("postgresql://") :]
        return db
    return f"sqlite+aiosqlite:///{Path(db).expanduser().resolve()}"


SQLITE_BEGIN = "samepage_sqlite_begin"


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A transaction that takes the write lock up front (SQLite: BEGIN IMMEDIATE, which
    waits under busy_timeout; PostgreSQL: a plain transaction)."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = await conn.execution_options(**{SQLITE_BEGIN: "BEGIN IMMEDIATE"})
        async with conn.begin():
            yield conn


BUSY_TIMEOUT_MS = 10_000


def switch_to_wal(cursor: Any) -> None:
    """Put the file in WAL mode. The switch can answer SQLITE_BUSY without calling the
    busy handler (another connection holds a lock on a file still in rollback mode), so
    it is retried for up to the busy timeout; once a file is in WAL it is a no-op."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def make_engine(url: str, *, sqlite_synchronous: str = "FULL") -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, a busy timeout and real transactions."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, pool_size=5, max_overflow=5)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's legacy transaction handling does not BEGIN before SELECTs;
            # take control so a read sees one snapshot (SQLAlchemy's documented recipe).
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            # The timeout first: switching a fresh file to WAL takes an exclusive lock,
            # and a second process opening it at the same moment must wait, not fail.
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            switch_to_wal(cursor)
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Transactions that will write start with BEGIN IMMEDIATE (see
            # `write_transaction`): a deferred transaction that reads first cannot be
            # upgraded once another writer committed (SQLITE_BUSY at once, no retry).
            conn.exec_driver_sql(conn.get_execution_options().get(SQLITE_BEGIN, "BEGIN"))

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)
