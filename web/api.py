"""The JSON/HTTP API: rooms, and posting updates (content: `web.content`)."""

from __future__ import annotations

import fnmatch
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.types import RoomInfo
from sync.errors import PermissionDenied
from web.auth import verify_token
from web.bodies import read_body
from web.errors import HTTPError
from web.guard import token_of
from web.params import iso, room_and_identity, room_param, state_of
from web.state import AppState


def _room_json(state: AppState, info: RoomInfo | None, name: str) -> dict[str, Any]:
    room = state.manager.get(name)
    seq = room.seq if room is not None else (info.seq if info else 0)
    return {
        "name": name,
        "seq": seq,
        "bytes": info.bytes if info else 0,
        "epoch": info.epoch if info else 0,
        "connections": len(room.subscribers) if room is not None else 0,
        "created_at": iso(info.created_us) if info else None,
        "updated_at": iso(info.updated_us) if info else None,
    }


async def list_rooms(request: Request) -> Response:
    """`GET /api/rooms`: every stored room, most recently edited first."""
    state = state_of(request)
    infos = await state.store.list_rooms()
    settings = state.settings
    if settings.secret:
        grant = verify_token(settings.secret, token_of(request), settings.max_token_ttl_s)
        identity = state.access.admit(grant.identity, None)  # 401 when revoked
        refused = state.access.rules.refusal
        infos = [
            i
            for i in infos
            if fnmatch.fnmatchcase(i.name, grant.room_pattern) and not refused(identity, i.name)
        ]
    return JSONResponse([_room_json(state, info, info.name) for info in infos])


async def get_room(request: Request) -> Response:
    """`GET /api/rooms/{room}`: seq, size, connections and presence."""
    state = state_of(request)
    name = room_param(request)
    info = await state.store.room_info(name)
    body = _room_json(state, info, name)
    room = state.manager.get(name)
    current = body["epoch"]
    body["origin"] = next(
        (
            {"room": e.origin_room, "epoch": e.origin_epoch, "seq": e.origin_seq}
            for e in await state.store.list_epochs(name)
            if e.epoch == current and e.origin_room
        ),
        None,
    )
    body["presence"] = (
        [{"client_id": cid, "state": s} for cid, s in room.presence.states().items()]
        if room is not None
        else []
    )
    return JSONResponse(body)


async def post_update(request: Request) -> Response:
    """`POST /api/rooms/{room}/updates`: apply, persist and broadcast a binary update."""
    state = state_of(request)
    name, identity = room_and_identity(request)
    if not identity.can_write:
        raise PermissionDenied("read-only token")
    body = await read_body(request, state.settings.sync.max_update_bytes, "update")
    if not body:
        raise HTTPError(400, "empty_update", "the body must be a binary Yjs update")
    author = identity.name or request.headers.get("x-samepage-author", "api")[:200]
    async with state.manager.hold(name) as room:
        future = room.apply_update(body, author)
        if future is None:
            return JSONResponse({"seq": room.seq, "changed": False})
        result = await future  # a StoreError is a 503 (web/errors.py)
        return JSONResponse({"seq": result.seq, "changed": True})


routes = [
    Route("/api/rooms", list_rooms, methods=["GET"]),
    Route("/api/rooms/{room}", get_room, methods=["GET"]),
    Route("/api/rooms/{room}/updates", post_update, methods=["POST"]),
]
