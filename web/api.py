"""The JSON/HTTP API: rooms, content, posting updates, health."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from storage.types import RoomInfo, StoreError
from sync.content import text_of
from sync.errors import PermissionDenied
from sync.names import check_room_name
from sync.room import Room
from sync.types import Identity
from web.auth import verify_token
from web.errors import HTTPError
from web.guard import identify, token_of
from web.jobs import FORMATS, MEDIA_TYPES, render_parts
from web.offload import OffloadError
from web.state import AppState

T = TypeVar("T")

MAX_POST_BYTES = 8 * 1024 * 1024


def iso(time_us: int) -> str:
    """Microseconds since the epoch as an ISO 8601 UTC string."""
    return dt.datetime.fromtimestamp(time_us / 1e6, tz=dt.UTC).isoformat(timespec="microseconds")


def state_of(request: Request) -> AppState:
    """The app's long-lived objects."""
    state: AppState = request.app.state.samepage
    return state


def room_param(request: Request) -> str:
    """The validated room name from the path (and, with auth on, a token granting it)."""
    name = check_room_name(request.path_params["room"])
    identify(request, state_of(request).settings, name)
    return name


def room_and_identity(request: Request) -> tuple[str, Identity]:
    """The validated room name and the caller's identity."""
    name = check_room_name(request.path_params["room"])
    return name, identify(request, state_of(request).settings, name)


def _room_json(state: AppState, info: RoomInfo | None, name: str) -> dict[str, Any]:
    room = state.manager.get(name)
    seq = room.seq if room is not None else (info.seq if info else 0)
    return {
        "name": name,
        "seq": seq,
        "bytes": info.bytes if info else 0,
        "connections": len(room.subscribers) if room is not None else 0,
        "created_at": iso(info.created_us) if info else None,
        "updated_at": iso(info.updated_us) if info else None,
    }


async def list_rooms(request: Request) -> Response:
    """`GET /api/rooms`: every stored room, most recently edited first."""
    state = state_of(request)
    infos = await state.store.list_rooms()
    if state.settings.secret:
        pattern = verify_token(state.settings.secret, token_of(request)).room_pattern
        infos = [i for i in infos if fnmatch.fnmatchcase(i.name, pattern)]
    return JSONResponse([_room_json(state, info, info.name) for info in infos])


async def get_room(request: Request) -> Response:
    """`GET /api/rooms/{room}`: seq, size, connections and presence."""
    state = state_of(request)
    name = room_param(request)
    info = await state.store.room_info(name)
    body = _room_json(state, info, name)
    room = state.manager.get(name)
    body["presence"] = (
        [{"client_id": cid, "state": s} for cid, s in room.presence.states().items()]
        if room is not None
        else []
    )
    return JSONResponse(body)


def check_format(fmt: str) -> str:
    """`format=` of the content routes."""
    if fmt not in FORMATS:
        raise HTTPError(400, "bad_format", "format must be text, json or yjs")
    return fmt


async def offload(state: AppState, function: Callable[..., T], *args: Any) -> T:
    """Run document-sized work in a worker process; its failures as HTTP errors."""
    try:
        return await state.offload.run(function, *args)
    except OffloadError as exc:
        if exc.reason == "failed":
            raise HTTPError(422, "unprocessable_document", exc.detail) from None
        raise HTTPError(503, f"offload_{exc.reason}", exc.detail) from None


async def render_parts_response(
    state: AppState, parts: list[bytes], fmt: str, headers: dict[str, str]
) -> Response:
    """A version (as updates) in a content format, rendered in a worker process."""
    body = await offload(state, render_parts, parts, check_format(fmt))
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


async def render_head(state: AppState, room: Room, fmt: str) -> Response:
    """The loaded room's current document: text and yjs straight from its Doc (a few
    ms at most), json in a worker process."""
    headers = {"X-Samepage-Seq": str(room.seq)}
    if check_format(fmt) == "text":
        return PlainTextResponse(text_of(room.doc), headers=headers)
    if fmt == "yjs":
        return Response(room.doc.get_update(), media_type=MEDIA_TYPES[fmt], headers=headers)
    return await render_parts_response(state, [room.doc.get_update()], fmt, headers)


async def get_content(request: Request) -> Response:
    """`GET /api/rooms/{room}/content?format=text|json|yjs`: the current document."""
    state = state_of(request)
    name = room_param(request)
    fmt = check_format(request.query_params.get("format", "text"))
    if "at" in request.query_params or "time" in request.query_params:
        from web.history_api import content_at

        return await content_at(request, name, fmt)
    room = await state.manager.acquire(name)
    try:
        return await render_head(state, room, fmt)
    finally:
        state.manager.release(room)


async def post_update(request: Request) -> Response:
    """`POST /api/rooms/{room}/updates`: apply, persist and broadcast a binary update."""
    state = state_of(request)
    name, identity = room_and_identity(request)
    if not identity.can_write:
        raise PermissionDenied("read-only token")
    body = await request.body()
    if len(body) > state.settings.sync.max_update_bytes:
        raise HTTPError(413, "too_large", f"update of {len(body)} bytes")
    if not body:
        raise HTTPError(400, "empty_update", "the body must be a binary Yjs update")
    author = identity.name or request.headers.get("x-samepage-author", "api")[:200]
    room = await state.manager.acquire(name)
    try:
        future = room.apply_update(body, author)
        if future is None:
            return JSONResponse({"seq": room.seq, "changed": False})
        try:
            result = await future
        except StoreError as exc:
            raise HTTPError(503, "store_unavailable", str(exc)) from exc
        return JSONResponse({"seq": result.seq, "changed": True})
    finally:
        state.manager.release(room)


routes = [
    Route("/api/rooms", list_rooms, methods=["GET"]),
    Route("/api/rooms/{room}", get_room, methods=["GET"]),
    Route("/api/rooms/{room}/content", get_content, methods=["GET"]),
    Route("/api/rooms/{room}/updates", post_update, methods=["POST"]),
]
