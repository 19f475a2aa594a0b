"""The JSON/HTTP API: rooms, and posting updates (content: `web.content`)."""

from __future__ import annotations

import base64
import fnmatch
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.types import RoomInfo, RoomKey
from sync.errors import PermissionDenied
from web.auth import verify_token
from web.bodies import read_body
from web.errors import HTTPError
from web.guard import token_of
from web.params import int_param, iso, parse_count, room_and_identity, room_param, state_of
from web.state import AppState

ROOMS_PAGE = 100
MAX_ROOMS_PAGE = 1000
NEXT_CURSOR = "X-Samepage-Next-Cursor"


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
    """`GET /api/rooms?limit=&cursor=&prefix=`: stored rooms, most recently edited first,
    a page at a time; the next page's cursor is in `Link` (rel="next") and
    `X-Samepage-Next-Cursor`, absent on the last page."""
    state = state_of(request)
    limit = min(int_param(request, "limit", ROOMS_PAGE, minimum=1) or ROOMS_PAGE, MAX_ROOMS_PAGE)
    prefix = request.query_params.get("prefix", "")
    if len(prefix) > 128:
        raise HTTPError(400, "bad_parameter", "prefix must be at most 128 characters")
    raw = request.query_params.get("cursor")
    after = parse_cursor(raw) if raw else None
    visible = _visible_to(request, state)
    page: list[RoomInfo] = []
    more = True
    while more and len(page) < limit:  # with tokens, rooms the caller may not see are skipped
        batch = await state.store.list_rooms(prefix=prefix, after=after, limit=limit)
        more = len(batch) == limit
        if batch:
            after = (batch[-1].updated_us, batch[-1].name)
        page += [info for info in batch if visible(info.name)]
    if len(page) > limit:
        page, more = page[:limit], True
    headers = {}
    if more and page:
        cursor = cursor_of(page[-1])
        query = urlencode({"limit": limit, "prefix": prefix, "cursor": cursor})
        headers = {"Link": f'<{request.url.path}?{query}>; rel="next"', NEXT_CURSOR: cursor}
    return JSONResponse([_room_json(state, info, info.name) for info in page], headers=headers)


def _visible_to(request: Request, state: AppState) -> Callable[[str], bool]:
    """Which rooms the caller may list: all without `--secret`, else those its token
    grants and no revocation or grant rule refuses (a revoked token is a 401)."""
    settings = state.settings
    if settings.keyring is None:
        return lambda _name: True
    grant = verify_token(settings.keyring, token_of(request), settings.max_token_ttl_s)
    identity = state.access.admit(grant.identity, None)
    refused = state.access.rules.refusal
    return lambda name: (
        fnmatch.fnmatchcase(name, grant.room_pattern) and not refused(identity, name)
    )


def cursor_of(info: RoomInfo) -> str:
    """The opaque cursor of the page that follows `info`."""
    key = f"{info.updated_us}:{info.name}".encode()
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def parse_cursor(raw: str) -> RoomKey:
    """A cursor back into the room list's place, or a 400."""
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        updated, name = text.split(":", 1)
    except ValueError:
        updated, name = "", ""
    when = parse_count(updated)
    if when is None or not name:
        raise HTTPError(400, "bad_parameter", "cursor is not one this server gave")
    return when, name


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
        future = await room.apply(body, author)  # an earlier epoch's document: 409
        if future is None:
            return JSONResponse({"seq": room.seq, "changed": False})
        result = await future  # a StoreError is a 503 (web/errors.py)
        return JSONResponse({"seq": result.seq, "changed": True})


routes = [
    Route("/api/rooms", list_rooms, methods=["GET"]),
    Route("/api/rooms/{room}", get_room, methods=["GET"]),
    Route("/api/rooms/{room}/updates", post_update, methods=["POST"]),
]
