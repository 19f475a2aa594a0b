"""The server's hold on its database (storage/sql/owner.py): taken before the store
opens, released after it closes; `samepage serve` checks it first so that a refusal
is one line on stderr, not a failed startup."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from storage.sql.engine import database_url
from storage.sql.owner import DatabaseOwner, OwnerConflict
from web.settings import Settings

WILDCARDS = {"0.0.0.0", "::", ""}
log = logging.getLogger("samepage.web")


def lost_database(why: str) -> None:
    """Another server took our database (ours lost its hold): two servers must not
    serve it apart, so this one stops, gracefully (its clients reconnect elsewhere)."""
    log.error("stopping: %s", why)
    os.kill(os.getpid(), signal.SIGTERM)


def server_url(settings: Settings) -> str:
    """Where tools on this machine reach the server."""
    host = "127.0.0.1" if settings.host in WILDCARDS else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.port}"


def database_owner(settings: Settings) -> DatabaseOwner | None:
    """The hold this server takes on its database (None for `memory://`)."""
    if settings.db.startswith("memory://"):
        return None
    return DatabaseOwner(
        database_url(settings.db), url=server_url(settings), redis=settings.redis or None
    )


class DatabaseHold:
    """The server's hold on its database for the app's lifetime: taken before the
    store opens, watched meanwhile (`lost_database`), released after the store closed."""

    def __init__(self, settings: Settings) -> None:
        self.owner = database_owner(settings)
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Take the database (OwnerConflict when another server holds it)."""
        if self.owner is not None:
            await self.owner.acquire()
            self._watch = asyncio.get_running_loop().create_task(self.owner.watch(lost_database))

    async def aclose(self) -> None:
        """Let it go (idempotent)."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self.owner is not None:
            await self.owner.aclose()


def check_owner(settings: Settings) -> str | None:
    """Why this server cannot take its database (another one holds it), or None."""

    async def probe() -> str | None:
        owner = database_owner(settings)
        if owner is None:
            return None
        try:
            await owner.acquire()
        except OwnerConflict as exc:
            return str(exc)
        except Exception:  # unreachable database: the server's start says it better
            return None
        await owner.aclose()
        return None

    return asyncio.run(probe())
