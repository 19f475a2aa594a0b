"""Admitting a WebSocket client to a room, shared by the native server (`web.wsnative`)
and the ASGI endpoint (`web.ws`): every check before anything is allocated, then the
room (a loaded room is joined without touching the database); and the log lines and
counts of a refusal and a close, the same whichever server took the socket."""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.requests import HTTPConnection

from sync.connection import Connection
from sync.errors import InvalidRoomName, SyncError
from sync.names import is_valid_room_name
from sync.room import Room
from sync.types import Identity
from web.cluster import refresh_before_join
from web.guard import check_capacity, identify
from web.state import AppState

log = logging.getLogger("samepage.web")


def admit(state: AppState, name: str, request: HTTPConnection) -> Identity:
    """Room name, token, connection limits; raises the `SyncError` to close with."""
    if not is_valid_room_name(name):
        raise InvalidRoomName(f"invalid room name {name[:40]!r}")
    identity = identify(request, state, name)
    check_capacity(state, name)
    return identity


async def join_room(
    state: AppState, app: Any, name: str, identity: Identity
) -> tuple[Room, Identity]:
    """Acquire room `name` (loading it if needed; in a cluster, caught up with the
    database first) for `identity`, checked again against access changes made during the
    load: the identity to serve with. The caller releases the room."""
    room = await state.manager.acquire(name)
    try:
        await refresh_before_join(app, name)
        identity = state.access.admit(identity, name)
        await room.idle()  # joining reads the Doc: not while an update is applied off the loop
    except BaseException:
        state.manager.release(room)
        raise
    return room, identity


def refused(state: AppState, peer: str, name: str, exc: SyncError) -> None:
    """Log and count a client refused before it joined room `name` (the caller closes
    its socket with `exc.code`)."""
    log.warning("refused ws peer=%s room=%s code=%d: %s", peer, name[:40], exc.code, exc.detail)
    state.manager.traffic.closed(exc.code)


def refused_input(room: str, peer: str, code: int, reason: str) -> None:
    """Log a message refused from a joined client (the caller closes it with `code`)."""
    log.warning("refused input room=%s peer=%s code=%d: %s", room, peer, code, reason)


def closed(state: AppState, conn: Connection, room: str, started: float, reason: str = "") -> None:
    """Count and log a joined client's socket closed, `started` (time.monotonic()) when it
    joined room `room`; `reason`: why the server closed it, if it did."""
    state.manager.traffic.closed(conn.close_code)
    log.info(
        "close room=%s peer=%s user=%s code=%s duration=%.1fs in=%dB out=%dB%s",
        room,
        conn.peer,
        conn.identity.name or "-",
        conn.close_code,
        time.monotonic() - started,
        conn.bytes_in,
        conn.bytes_out,
        f" reason={reason}" if reason else "",
    )
