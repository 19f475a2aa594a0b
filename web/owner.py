"""The server's hold on its database (storage/sql/owner.py): taken before the store
opens, released after it closes; `samepage serve` checks it first so that a refusal
is one line on stderr, not a failed startup."""

from __future__ import annotations

import asyncio

from storage.sql.engine import database_url
from storage.sql.owner import DatabaseOwner, OwnerConflict
from web.settings import Settings

WILDCARDS = {"0.0.0.0", "::", ""}


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
