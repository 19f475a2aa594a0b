"""Online backups of a SQLite database (SQLite's backup API) and their restore.

`backup_sqlite` copies the whole database in one backup step: one read transaction,
so the copy is the database as of one commit, while the server goes on writing (WAL
readers do not block writers). Stepping a few pages at a time would restart the copy
whenever another connection writes, which under load means never finishing. The copy
is written beside the destination, checked (`PRAGMA integrity_check`), switched to a
rollback journal (one self-contained file), synced, then renamed into place.

`restore_sqlite` writes a backup into a database file through the same API, so
SQLite itself replaces the pages and its WAL (copying the file over a database with a
`-wal` beside it would mix the two). PostgreSQL databases are backed up with pg_dump.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from storage.sql.engine import BUSY_TIMEOUT_MS


class BackupError(Exception):
    """The backup or restore could not be made (the message says why)."""


@dataclass(frozen=True, slots=True)
class Summary:
    """What a backup file holds."""

    path: Path
    bytes: int
    rooms: int
    updates: int
    revision: str | None
    seconds: float

    def describe(self) -> str:
        """One line for the operator."""
        return (
            f"{self.path}: {self.rooms} rooms, {self.updates} stored updates, "
            f"{self.bytes / 1e6:.1f} MB, schema {self.revision or 'none'}, "
            f"copied in {self.seconds:.2f} s"
        )


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        yield conn
    finally:
        conn.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _check(conn: sqlite3.Connection, what: str) -> None:
    result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise BackupError(f"{what} failed SQLite's integrity check: {result}")


def _count(conn: sqlite3.Connection, table: str) -> int:
    try:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # not a samepage database (yet)
        return 0


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return str(row[0]) if row else None


def backup_sqlite(source: Path, dest: Path) -> Summary:
    """Copy the database `source` to the new file `dest`, consistently, while it serves."""
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if dest.exists():
        raise BackupError(f"{dest} exists: choose a new file (a backup never overwrites)")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.perf_counter()
    try:
        with _connect(source) as src, _connect(partial) as out:
            src.backup(out, pages=-1)  # one step: one snapshot
            _check(out, "the copy")
            out.execute("PRAGMA journal_mode=DELETE")
            rooms, updates, revision = _count(out, "rooms"), _count(out, "updates"), _revision(out)
        _fsync(partial)
        partial.rename(dest)
        _fsync(dest.parent)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup of {source} failed: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    seconds = time.perf_counter() - started
    return Summary(dest, dest.stat().st_size, rooms, updates, revision, seconds)


def verify_backup(backup: Path) -> None:
    """Raise BackupError unless `backup` is a readable SQLite file that passes
    `PRAGMA integrity_check` (checked before anything is replaced)."""
    if not backup.is_file():
        raise BackupError(f"no backup at {backup}")
    try:
        with _connect(backup) as conn:
            _check(conn, f"the backup {backup}")
    except sqlite3.Error as exc:
        raise BackupError(f"{backup} is not a readable SQLite database: {exc}") from exc


def restore_sqlite(backup: Path, target: Path) -> Summary:
    """Make the database `target` (which no server may hold) equal the backup file;
    the caller keeps the old one first (`backup_sqlite(target, aside)`)."""
    verify_backup(backup)
    started = time.perf_counter()
    try:
        with _connect(backup) as src:
            rooms, updates, revision = _count(src, "rooms"), _count(src, "updates"), _revision(src)
            with _connect(target) as out:
                src.backup(out, pages=-1)
                out.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                _check(out, "the restored database")
    except sqlite3.Error as exc:
        raise BackupError(f"restore into {target} failed: {exc}") from exc
    return Summary(
        target, target.stat().st_size, rooms, updates, revision, time.perf_counter() - started
    )
