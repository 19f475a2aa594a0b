"""Admitting a WebSocket client to a room, shared by the native server (`web.wsnative`)
and the ASGI endpoint (`web.ws`): every check before anything is allocated, then the
room (a loaded room is joined without touching the database)."""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection

from sync.errors import InvalidRoomName
from sync.names import is_valid_room_name
from sync.room import Room
from sync.types import Identity
from web.cluster import refresh_before_join
from web.guard import check_capacity, identify
from web.state import AppState


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
