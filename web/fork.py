"""`POST /api/rooms/{room}/fork {"at": SEQ, "to": "new-room"}`: a new room that starts
with a version's content (rebuilt root by root under a fresh client id, in a worker
process: `sync.restore`), its history noting where it came from (`Store.record_origin`)."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.history import version_at
from storage.types import RoomInfo
from sync.errors import InvalidRoomName, PermissionDenied
from sync.names import check_room_name
from sync.restore import restore_update
from sync.room import Room
from sync.updates import EMPTY_UPDATE
from web.bodies import int_field, json_body
from web.content import check_epoch, check_not_past, head_seq, offload
from web.errors import HTTPError
from web.guard import identify
from web.params import room_and_identity, state_of

log = logging.getLogger("samepage.web")


def _target_of(body: dict[str, Any]) -> str:
    to = body.get("to")
    if not isinstance(to, str):
        raise HTTPError(400, "bad_parameter", "to (the new room's name) is required")
    try:
        return check_room_name(to)
    except InvalidRoomName as exc:
        raise HTTPError(400, "invalid_room_name", str(exc)) from None


def _taken(info: RoomInfo | None, room: Room) -> bool:
    """Does the name belong to a room already? (a deleted one is free again)"""
    stored = info is not None and not info.deleted
    return stored or room.inflight > 0 or room.seq > (info.seq if info else 0)


async def fork(request: Request) -> Response:
    """Copy version `at` (default: the head) of the room into the new room `to`."""
    name, identity = room_and_identity(request)
    state = state_of(request)
    body = await json_body(request)
    to = _target_of(body)
    if not identify(request, state, to).can_write:
        raise PermissionDenied("the token may not write the new room")
    head = await head_seq(request, name)
    source = await state.store.room_info(name)
    if head == 0 or source is None:
        raise HTTPError(404, "no_such_room", f"room {name} has no stored version")
    at = check_not_past(int_field(body, "at", head), head, "at")
    await check_epoch(request, name, at, "at")
    if to == name:
        raise HTTPError(409, "room_exists", f"room {to} exists")
    seq, parts = await version_at(state.store, name, at)  # folded: the kept point
    author = identity.name or "fork"
    async with state.manager.hold(to) as target:
        if _taken(await state.store.room_info(to), target):
            raise HTTPError(409, "room_exists", f"room {to} exists")
        update = await offload(state, restore_update, EMPTY_UPDATE, parts)
        if update == EMPTY_UPDATE:
            raise HTTPError(400, "empty_version", f"version {seq} of {name} is empty")
        if _taken(await state.store.room_info(to), target):  # written meanwhile
            raise HTTPError(409, "room_exists", f"room {to} exists")
        future = await target.apply(update, author)
        assert future is not None  # an empty room changes
        result = await future  # a StoreError is a 503 (web/errors.py)
        await state.store.record_origin(to, name, source.epoch, seq)
    log.info("room %s forked from %s at seq %d by %s", to, name, seq, author)
    origin = {"room": name, "seq": seq, "epoch": source.epoch}
    return JSONResponse({"room": to, "seq": result.seq, "from": origin}, status_code=201)


routes = [Route("/api/rooms/{room}/fork", fork, methods=["POST"])]
