"""Cluster-wide exclusion per room for work that rewrites a room's history (building a
checkpoint, compaction): on PostgreSQL, several nodes sharing the database would
otherwise start it at once — duplicated work at best, and a compaction deleting rows
under a checkpoint build at worst.

PostgreSQL: a transaction-level advisory lock, `pg_try_advisory_xact_lock(class,
hashtext(room))`, held by a transaction kept open for the duration of the work and
released on commit, rollback or a dropped connection (a crashed node never keeps it).
SQLite and memory stores serve one machine: the lock is always granted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# Two-int advisory key space: (class, hashtext(room)). The migration lock uses the
# one-bigint form with a small constant, i.e. class 0, so it cannot collide.
MAINTENANCE_LOCK_CLASS = 731_602


@asynccontextmanager
async def room_maintenance_lock(
    engine: AsyncEngine, room: str, *, wait: bool = False
) -> AsyncIterator[bool]:
    """Yield True when this process may rewrite `room`'s history now, False when
    another node is doing it (skip: the holder does it). With `wait=True` (compaction,
    which must not run under a checkpoint build) wait for the holder instead."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    async with engine.connect() as conn, conn.begin():
        granted = (
            await conn.execute(
                text(f"SELECT {function}(:cls, hashtext(:room))"),
                {"cls": MAINTENANCE_LOCK_CLASS, "room": room},
            )
        ).scalar()
        yield True if wait else bool(granted)  # pg_advisory_xact_lock returns void
