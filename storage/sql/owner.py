"""One database, one owner: a server holds its database for as long as it runs, so a
second server on the same database is refused with a line naming the first — unless
both share a cluster bus (`--redis`, as `--workers` does), in which case they see each
other's edits live and may share it.

- SQLite: `flock` on a sidecar file `<db>.lock` (exclusive, or shared with a bus),
  which holds the holder's pid, URL and bus as JSON. The kernel releases it when the
  process ends, however it ends.
- PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock[_shared]`) held by
  a dedicated connection whose `application_name` names the holder; released when
  that connection closes (a crashed node's connection is closed by the server).

Holders sharing a database must share one bus: a holder on another bus is refused.
A PostgreSQL hold lives as long as its connection: `watch` checks it, takes the lock
again after a lost connection, and reports when another server took it meanwhile.
Tools that change the database while a server runs (`samepage compact`) read the
holders to go through the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from storage.types import StoreError

OWNER_LOCK_CLASS = 731_603  # advisory key (class, 0); maintenance locks use 731_602
WATCH_INTERVAL_S = 2.0
log = logging.getLogger("samepage.storage")


class OwnerConflict(StoreError):
    """Another server owns the database."""


@dataclass(frozen=True, slots=True)
class Holder:
    """A server holding a database."""

    pid: int
    url: str
    bus: str  # a digest of its --redis URL, "" without one

    def describe(self) -> str:
        """`pid 123, http://127.0.0.1:8000`."""
        return f"pid {self.pid}, {self.url}"


def bus_id(redis: str | None) -> str:
    """A short digest of a bus URL (PostgreSQL's application_name is 63 bytes)."""
    return hashlib.sha256(redis.encode()).hexdigest()[:8] if redis else ""


def _sqlite_path(db_url: str) -> Path | None:
    url = make_url(db_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        return None
    return Path(url.database)


def _pg_dsn(db_url: str) -> str | None:
    url = make_url(db_url)
    if not url.drivername.startswith("postgresql"):
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class DatabaseOwner:
    """Holds a database for one server (`acquire` ... `aclose`, idempotent)."""

    def __init__(self, db_url: str, *, url: str, redis: str | None) -> None:
        self.db_url = db_url
        self.me = Holder(os.getpid(), url, bus_id(redis))
        self._file: int | None = None
        self._conn: Any = None

    async def acquire(self) -> None:
        """Take the database, or raise OwnerConflict naming who holds it."""
        path, dsn = _sqlite_path(self.db_url), _pg_dsn(self.db_url)
        if path is not None:
            self._file = _lock_file(path, self.me)
        elif dsn is not None:
            self._conn = await _lock_pg(dsn, self.me)

    async def watch(self, on_lost: Callable[[str], None]) -> None:
        """Until cancelled: check the PostgreSQL lock's connection every few seconds;
        take the lock again when it is gone, and call `on_lost(why)` (then return) when
        another server took the database meanwhile."""
        dsn = _pg_dsn(self.db_url)
        if dsn is None:
            return  # a flock lasts as long as this process
        while True:
            await asyncio.sleep(WATCH_INTERVAL_S)
            if await self._connected():
                continue
            log.warning("the connection holding the database closed; taking it again")
            old, self._conn = self._conn, None
            if old is not None:
                with contextlib.suppress(Exception):
                    await old.close()
            try:
                self._conn = await _lock_pg(dsn, self.me)
            except OwnerConflict as exc:
                on_lost(str(exc))
                return
            except Exception as exc:  # database down: try again at the next check
                log.warning("cannot take the database again yet: %s", exc)
                continue
            log.info("database held again")

    async def _connected(self) -> bool:
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            async with asyncio.timeout(5):
                await conn.fetchval("SELECT 1")
        except Exception:
            return False
        return True

    async def aclose(self) -> None:
        """Let the database go."""
        if self._file is not None:
            os.close(self._file)  # releases the flock
            self._file = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()


def _refusal(path_or_db: str, holder: Holder | None, me: Holder) -> OwnerConflict:
    who = f"samepage serve ({holder.describe()})" if holder else "another samepage serve"
    if holder is not None and me.bus and holder.bus and holder.bus != me.bus:
        return OwnerConflict(
            f"database {path_or_db} is shared by {who} on another --redis bus: "
            "servers sharing a database must share one bus"
        )
    return OwnerConflict(
        f"database {path_or_db} is in use by {who}; stop it first, or run both "
        "with the same --redis to share it"
    )


def _read_holder(fd: int) -> Holder | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        return Holder(int(data["pid"]), str(data["url"]), str(data.get("bus", "")))
    except (ValueError, KeyError, TypeError, OSError):
        return None


def _lock_file(path: Path, me: Holder) -> int:
    lock_path = Path(f"{path}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if me.bus else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read_holder(fd)
        os.close(fd)
        raise _refusal(str(path), holder, me) from None
    holder = _read_holder(fd)
    if me.bus and holder is not None and holder.bus != me.bus and _alive(holder.pid):
        os.close(fd)  # a live server sharing it on another bus (or on none)
        raise _refusal(str(path), holder, me)
    record = json.dumps({"pid": me.pid, "url": me.url, "bus": me.bus}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, record, 0)
    return fd


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sqlite_holder(db_url: str) -> Holder | None:
    """The live server holding a SQLite database, if any (read by tools)."""
    path = _sqlite_path(db_url)
    lock_path = Path(f"{path}.lock") if path is not None else None
    if lock_path is None or not lock_path.exists():
        return None
    fd = os.open(lock_path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd)  # held: the record names (one of) the holders
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None  # a record left by a server that has stopped
    finally:
        os.close(fd)


_HOLDERS = f"""
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = {OWNER_LOCK_CLASS} AND l.objid = 0
  AND l.objsubid = 2 AND l.granted
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def _parse_app_name(name: str) -> Holder | None:
    parts = name.split()  # "samepage URL pid N [bus B]"
    if len(parts) < 4 or parts[0] != "samepage" or parts[2] != "pid":
        return None
    bus = parts[5] if len(parts) >= 6 and parts[4] == "bus" else ""
    try:
        return Holder(int(parts[3]), parts[1], bus)
    except ValueError:
        return None


async def pg_holders(conn: Any) -> list[Holder]:
    """The servers holding a PostgreSQL database (an asyncpg connection to it)."""
    rows = await conn.fetch(_HOLDERS)
    return [h for row in rows if (h := _parse_app_name(row[0] or "")) is not None]


async def _lock_pg(dsn: str, me: Holder) -> Any:
    import asyncpg

    name = f"samepage {me.url} pid {me.pid}" + (f" bus {me.bus}" if me.bus else "")
    conn = await asyncpg.connect(dsn, server_settings={"application_name": name[:63]})
    try:
        function = "pg_try_advisory_lock_shared" if me.bus else "pg_try_advisory_lock"
        granted = await conn.fetchval(f"SELECT {function}({OWNER_LOCK_CLASS}, 0)")
        others = [h for h in await pg_holders(conn) if h.pid != me.pid or h.url != me.url]
        database = make_url(dsn).database or "?"
        if not granted:
            raise _refusal(database, others[0] if others else None, me)
        strangers = [h for h in others if h.bus != me.bus]
        if strangers:
            raise _refusal(database, strangers[0], me)
    except BaseException:
        await conn.close()
        raise
    return conn


async def database_holders(db_url: str) -> list[Holder]:
    """The live servers holding the database named by `db_url` (SQLite or PostgreSQL)."""
    if _sqlite_path(db_url) is not None:
        holder = sqlite_holder(db_url)
        return [holder] if holder is not None else []
    dsn = _pg_dsn(db_url)
    if dsn is None:
        return []
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        return await pg_holders(conn)
    finally:
        await conn.close()
