"""Schema migrations, by Alembic (`storage/sql/schema_revisions/`).

`migrate` brings a database to the newest revision this code knows, `schema_status`
only reads where it stands. A database whose revision this code does not know was
migrated by a newer samepage: it is refused (`SchemaTooNew`), never touched.
Databases from the hand-rolled steps before Alembic (a `schema_version` table) are
stamped with the revision matching their version first, then upgraded; that table is
left as it was. Migrations only add: the database is never moved aside or discarded.
On PostgreSQL an advisory lock serializes nodes that start at the same time; on SQLite
the migration holds the write lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.sql.engine import write_transaction
from storage.types import StoreError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATION_LOCK_KEY = 7_316_001  # arbitrary constant for pg_advisory_xact_lock
SCRIPTS = Path(__file__).resolve().parent / "schema_revisions"
# The revisions in `schema_revisions/versions`, oldest first (a test checks this against
# Alembic's own walk): a start that finds the newest needs no Alembic at all, whose
# import and script scan cost every `samepage` process half a second.
REVISIONS = ("0001", "0002", "0003", "0004")
# The hand-rolled `schema_version` numbers and the revision each one equals.
LEGACY_VERSIONS = {1: "0001", 3: "0002"}


class SchemaTooNew(StoreError):
    """The database was migrated by a newer samepage than this one."""


class SchemaTooOld(StoreError):
    """The database needs `samepage migrate` (and the server was told not to)."""


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """Where a database's schema stands against this code."""

    current: str | None  # None: no samepage schema yet (or a hand-rolled one, below)
    head: str
    legacy: int | None = None  # the hand-rolled `schema_version`, before Alembic

    @property
    def up_to_date(self) -> bool:
        """Nothing to migrate."""
        return self.current == self.head


def _config() -> Config:
    # A new one per use: a migration hands it its connection (two databases may be
    # migrated at once in one process).
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head() -> str:
    """The newest revision this code knows."""
    return REVISIONS[-1]


def _current_revision(sync: Connection) -> str | None:
    """What `alembic_version` says (None: no such table, or empty)."""
    if not inspect(sync).has_table("alembic_version"):
        return None
    found = [row[0] for row in sync.execute(text("SELECT version_num FROM alembic_version"))]
    if len(found) > 1:
        raise StoreError(f"the database is at several schema revisions at once: {found}")
    return found[0] if found else None


def _legacy_version(sync: Connection) -> int | None:
    if not inspect(sync).has_table("schema_version"):
        return None
    found = sync.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(found) if found is not None else None


def _status(sync: Connection) -> SchemaStatus:
    current = _current_revision(sync)
    if current is None:
        legacy = _legacy_version(sync)
        if legacy is not None:
            return SchemaStatus(None, head(), legacy)
        return SchemaStatus(None, head())
    if current not in REVISIONS:
        raise SchemaTooNew(_too_new(current))
    return SchemaStatus(current, head())


def _too_new(found: str) -> str:
    return (
        f"the database is at schema revision {found}, newer than this samepage knows "
        f"(up to {head()}): run the samepage that migrated it, or restore a backup"
    )


def _check_legacy(status: SchemaStatus) -> str | None:
    """The revision a hand-rolled database equals (None: not a hand-rolled one)."""
    if status.legacy is None:
        return None
    if status.legacy not in LEGACY_VERSIONS:
        newest = max(LEGACY_VERSIONS)
        if status.legacy > newest:
            raise SchemaTooNew(_too_new(f"v{status.legacy} (hand-rolled)"))
        raise StoreError(f"unknown hand-rolled schema version {status.legacy}")
    return LEGACY_VERSIONS[status.legacy]


def _upgrade(sync: Connection) -> tuple[str | None, str]:
    from alembic import command

    status = _status(sync)
    before = status.current
    config = _config()
    config.attributes["connection"] = sync
    legacy = _check_legacy(status)
    if legacy is not None:
        command.stamp(config, legacy)
        before = f"v{status.legacy} (hand-rolled, = {legacy})"
    if not status.up_to_date:
        command.upgrade(config, "head")
    return before, head()


async def migrate(engine: AsyncEngine) -> tuple[str | None, str]:
    """Bring the schema to the newest revision; return (revision before, after).
    Raises SchemaTooNew for a database a newer samepage migrated."""
    async with write_transaction(engine) as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        status = await conn.run_sync(_status)
        if status.up_to_date:  # the common start: one small read, no Alembic machinery
            return status.current, status.head
        result: tuple[str | None, str] = await conn.run_sync(_upgrade)
        return result


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    """Read where the schema stands (SchemaTooNew for a newer database)."""
    async with engine.connect() as conn:
        status: SchemaStatus = await conn.run_sync(_status)
        return status


async def check_current(engine: AsyncEngine) -> None:
    """For `serve --no-migrate`: raise SchemaTooOld unless the schema is the newest."""
    status = await schema_status(engine)
    if not status.up_to_date:
        where = status.current or (f"v{status.legacy}" if status.legacy else "empty")
        raise SchemaTooOld(
            f"the database schema is at {where}, this samepage needs {status.head}: "
            "run `samepage migrate` (or serve without --no-migrate)"
        )


def describe(revision: str | None) -> str:
    """A revision and its one-line message (`0002 (Saved text timelines...)`)."""
    if revision is None:
        return "empty"
    script: Any = _scripts().get_revision(revision)
    doc = (script.doc or "").strip().splitlines()
    return f"{revision} ({doc[0]})" if doc else revision
