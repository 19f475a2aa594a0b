"""Operator commands: `migrate`, `backup`, `restore` (docs/deploy.md), and the schema
check `serve` runs before it starts."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from storage.sql.backup import BackupError, backup_sqlite, restore_sqlite, verify_backup
from storage.sql.engine import database_url, make_engine
from storage.sql.migrations import check_current, describe, migrate, schema_status
from storage.sql.owner import DatabaseOwner, OwnerConflict
from storage.types import StoreError
from web.settings import Settings

COMMANDS = {"migrate", "backup", "restore"}
PG_DUMP_ADVICE = (
    "{db} is PostgreSQL: back it up with `pg_dump --format=custom` and restore with "
    "`pg_restore` (docs/deploy.md, Backups)"
)


def add_commands(sub: Any) -> None:
    """Register the operator commands on the CLI's subparsers."""
    db_default = "samepage.db"
    migrate_cmd = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate_cmd.add_argument("--db", default=db_default, help="SQLite path or SQLAlchemy URL")
    backup = sub.add_parser("backup", help="copy a SQLite database consistently, even live")
    backup.add_argument("dest", help="the new backup file (or a directory to put it in)")
    backup.add_argument("--db", default=db_default, help="the SQLite database to copy")
    restore = sub.add_parser("restore", help="put a backup back (no server may be running)")
    restore.add_argument("backup", help="a file written by `samepage backup`")
    restore.add_argument("--db", default=db_default, help="the SQLite database to replace")


def run(args: argparse.Namespace) -> int:
    """Run one operator command; errors are one line on stderr."""
    try:
        if args.command == "migrate":
            return asyncio.run(_migrate(args.db))
        path = _sqlite_path(args.db)
        if args.command == "backup":
            dest = Path(args.dest)
            if dest.is_dir():
                dest = dest / f"{path.stem}-{_stamp()}.db"
            print(f"backed up {backup_sqlite(path, dest).describe()}", file=sys.stderr)
            return 0
        return asyncio.run(_restore(Path(args.backup), path, args.db))
    except (BackupError, StoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _sqlite_path(db: str) -> Path:
    url = make_url(database_url(db))
    if url.drivername.startswith("postgresql"):
        raise BackupError(PG_DUMP_ADVICE.format(db=url.render_as_string(hide_password=True)))
    if not url.drivername.startswith("sqlite") or not url.database:
        raise BackupError(f"{db} is not a SQLite file")
    return Path(url.database)


async def _migrate(db: str) -> int:
    engine = make_engine(database_url(db))
    try:
        before, after = await migrate(engine)
    finally:
        await engine.dispose()
    if before == after:
        print(f"the database is up to date: {describe(after)}", file=sys.stderr)
    else:
        print(
            f"migrated the database from {before or 'empty'} to {describe(after)}", file=sys.stderr
        )
    return 0


async def _restore(backup: Path, path: Path, db: str) -> int:
    # Hold the database as a server would: refused while one runs, and none can start
    # until the restore is done.
    await asyncio.to_thread(verify_backup, backup)  # before the database is touched
    owner = DatabaseOwner(database_url(db), url="samepage restore", redis=None)
    try:
        await owner.acquire()
    except OwnerConflict as exc:
        raise BackupError(f"{exc}; stop it before restoring") from None
    try:
        if path.exists():  # noqa: ASYNC240 (a one-shot command: blocks nothing else)
            aside = path.with_name(f"{path.name}.before-restore-{_stamp()}")
            kept = await asyncio.to_thread(backup_sqlite, path, aside)
            print(f"kept the database it replaces as {kept.path}", file=sys.stderr)
        restored = await asyncio.to_thread(restore_sqlite, backup, path)
    finally:
        await owner.aclose()
    print(f"restored {restored.describe()}", file=sys.stderr)
    return 0


def check_schema(settings: Settings) -> str | None:
    """Why `serve` must not start on this database (a newer samepage migrated it; or,
    with --no-migrate, it needs a migration), or None."""
    if settings.db.startswith("memory://"):
        return None

    async def probe() -> str | None:
        engine = make_engine(database_url(settings.db))
        try:
            await (schema_status(engine) if settings.migrate else check_current(engine))
        except StoreError as exc:
            return str(exc)
        except Exception:  # unreachable database: the server's start says it better
            return None
        finally:
            await engine.dispose()
        return None

    return asyncio.run(probe())
