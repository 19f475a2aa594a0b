"""Versioned schema migrations: an explicit, ordered list applied once each.

The current version is kept in `schema_version`. Migrations only ever add; the database
is never moved aside or discarded. On PostgreSQL an advisory lock serializes nodes that
start at the same time.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.sql import schema

Migration = Callable[[AsyncConnection], Awaitable[None]]
MIGRATION_LOCK_KEY = 7_316_001  # arbitrary constant for pg_advisory_xact_lock


async def _v1_initial(conn: AsyncConnection) -> None:
    tables = [schema.rooms, schema.updates, schema.checkpoints, schema.versions]
    await conn.run_sync(lambda sync: schema.metadata.create_all(sync, tables=tables))


async def _v3_text_timelines(conn: AsyncConnection) -> None:
    tables = [schema.text_timelines]
    await conn.run_sync(lambda sync: schema.metadata.create_all(sync, tables=tables))


# Version 2 (text tracks) was dropped before it shipped; databases that ran it keep an
# unused table, and the numbering goes on from 3 so they still get what follows.
MIGRATIONS: list[tuple[int, Migration]] = [
    (1, _v1_initial),
    (3, _v3_text_timelines),
]
LATEST = MIGRATIONS[-1][0]


async def migrate(engine: AsyncEngine) -> int:
    """Bring the schema to the latest version; return the version now in place."""
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        await conn.run_sync(
            lambda sync: schema.metadata.create_all(sync, tables=[schema.schema_version])
        )
        current = (
            await conn.execute(
                select(schema.schema_version.c.version)
                .order_by(schema.schema_version.c.version.desc())
                .limit(1)
            )
        ).scalar()
        current = current or 0
        for version, step in MIGRATIONS:
            if version > current:
                await step(conn)
                await conn.execute(
                    schema.schema_version.insert().values(
                        version=version, applied_us=time.time_ns() // 1000
                    )
                )
                current = version
        return current
