"""Admission checks at the edge: origin allow-list, tokens, connection limits."""

from __future__ import annotations

from starlette.requests import HTTPConnection

from sync.errors import CloseCode, LimitExceeded
from sync.types import Identity
from web.auth import authorize
from web.settings import Settings
from web.state import AppState


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """Browsers send `Origin` on a WebSocket upgrade; non-browser clients usually do not.

    Allowed: no Origin header, an origin in `--allowed-origin`, or (default) the page's
    own origin (same host as the request).
    """
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if "*" in settings.allowed_origins or origin in settings.allowed_origins:
        return True
    host = conn.headers.get("host", "")
    return origin in {f"http://{host}", f"https://{host}"}


def token_of(conn: HTTPConnection) -> str | None:
    """The token from `Authorization: Bearer`, else from `?token=`."""
    header = conn.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return conn.query_params.get("token") or None


def identify(conn: HTTPConnection, state: AppState, room: str | None) -> Identity:
    """The caller's identity; with a secret configured the token must grant `room` and
    not be revoked, and a stored grant may lower it to read-only (`web.access`)."""
    settings = state.settings
    keyring = settings.keyring
    if keyring is None:
        return Identity()
    identity = authorize(keyring, token_of(conn), room, settings.max_token_ttl_s)
    return state.access.admit(identity, room)


def check_capacity(state: AppState, room: str) -> None:
    """Refuse a connection over the per-server or per-room limit."""
    if state.settings.max_connections and state.connections >= state.settings.max_connections:
        raise LimitExceeded("server connection limit reached", CloseCode.TOO_MANY_CONNECTIONS)
    limit = state.settings.sync.max_connections_per_room
    loaded = state.manager.get(room)
    if limit and loaded is not None and len(loaded.subscribers) >= limit:
        raise LimitExceeded("room connection limit reached", CloseCode.TOO_MANY_CONNECTIONS)
