"""Rooms as a whole (docs/rooms.md): reset and delete (admin), the list of a room's
epochs and the history of an earlier one; and `GET /api/admin/webhooks`, the recent
deliveries the admin page shows (docs/webhooks.md)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.history import version_at
from storage.types import Epoch, EpochEnd
from sync.names import check_room_name
from web.admin import require_admin
from web.bodies import json_body
from web.content import check_format, render_parts_response
from web.errors import HTTPError
from web.params import int_param, iso, room_param, state_of

log = logging.getLogger("samepage.web")


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).isoformat(timespec="milliseconds")


async def webhook_deliveries(request: Request) -> Response:
    """`GET /api/admin/webhooks`: the receivers, what is pending, drops, and the last
    deliveries (newest first: event, room, URL, attempt, outcome, status, time taken)."""
    require_admin(request)
    hooks = state_of(request).webhooks
    body: dict[str, Any] = {"enabled": hooks is not None, "urls": [], "recent": []}
    if hooks is not None:
        sender = hooks.sender
        body.update(
            urls=list(sender.settings.urls),
            pending=sender.pending,
            dropped=sender.dropped,
            recent=[{**item, "time": _iso(item["time"])} for item in sender.recent],
        )
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _end_json(end: EpochEnd, how: str, keep: bool) -> dict[str, Any]:
    return {
        "room": end.room,
        "epoch": end.epoch,
        "deleted": how == "delete",
        "previous": {"epoch": end.epoch - 1, "last_seq": end.last_seq, "kept": keep},
    }


async def _end(request: Request, how: str, keep: bool) -> Response:
    require_admin(request)
    name = check_room_name(request.path_params["room"])
    state = state_of(request)
    end = await state.manager.end_epoch(name, how, keep)
    kept = end.archive is not None
    log.info(
        "room %s %s: epoch %d began after seq %d (history %s)",
        *(name, "deleted" if how == "delete" else "reset", end.epoch, end.last_seq),
        "kept" if kept else "dropped",
    )
    if state.webhooks is not None:
        data = {"epoch": end.epoch, "seq": end.last_seq}
        if how == "reset":
            data["kept"] = kept
        state.webhooks.events.emit(f"room.{'deleted' if how == 'delete' else 'reset'}", name, data)
    return JSONResponse(_end_json(end, how, kept))


async def reset_room(request: Request) -> Response:
    """`POST /api/rooms/{room}/reset {"keep_history": true}` (admin): a new, empty
    document; the old one's history stays readable as an earlier epoch unless
    `keep_history` is false. Connected clients are closed 4410 (docs/rooms.md)."""
    body = await json_body(request, allow_empty=True)
    keep = body.get("keep_history", True)
    if not isinstance(keep, bool):
        raise HTTPError(400, "bad_parameter", "keep_history must be true or false")
    return await _end(request, "reset", keep)


async def delete_room(request: Request) -> Response:
    """`DELETE /api/rooms/{room}` (admin): the room and all its history are removed;
    connected clients are closed 4410; the name may be used again (a new document)."""
    return await _end(request, "delete", False)


def _epoch_json(epoch: Epoch) -> dict[str, Any]:
    origin = (
        {"room": epoch.origin_room, "epoch": epoch.origin_epoch, "seq": epoch.origin_seq}
        if epoch.origin_room
        else None
    )
    return {
        "epoch": epoch.epoch,
        "started": iso(epoch.started_us),
        "ended": iso(epoch.ended_us) if epoch.ended_us else None,
        "ended_by": epoch.ended_by,
        "last_seq": epoch.last_seq,
        "kept": epoch.kept,
        "origin": origin,
    }


async def list_epochs(request: Request) -> Response:
    """`GET /api/rooms/{room}/epochs`: the room's lives, oldest first (an empty list for
    a room never forked, reset or deleted)."""
    name = room_param(request)
    return JSONResponse([_epoch_json(e) for e in await state_of(request).store.list_epochs(name)])


async def _archive_of(request: Request) -> tuple[str, Epoch]:
    name = room_param(request)
    raw = request.path_params["epoch"]
    found = [e for e in await state_of(request).store.list_epochs(name) if str(e.epoch) == raw]
    if not found or not found[0].archive or found[0].last_seq is None:
        raise HTTPError(404, "no_such_epoch", f"room {name} has no kept epoch {raw}")
    return found[0].archive, found[0]


async def epoch_content(request: Request) -> Response:
    """`GET /api/rooms/{room}/epochs/{epoch}/content?at=SEQ&format=text|json|yjs`: a
    version of an earlier, kept epoch (default: its last), rendered in a worker."""
    archive, epoch = await _archive_of(request)
    assert epoch.last_seq is not None
    last = epoch.last_seq
    at = int_param(request, "at")
    seq = last if at is None else at
    if seq > last:
        raise HTTPError(404, "no_such_version", f"seq {seq} is after epoch {epoch.epoch}'s end")
    fmt = check_format(request.query_params.get("format", "text"))
    answered, parts = await version_at(state_of(request).store, archive, seq)
    headers = {"X-Samepage-Seq": str(answered), "X-Samepage-Epoch": str(epoch.epoch)}
    return await render_parts_response(state_of(request), parts, fmt, headers)


async def epoch_history(request: Request) -> Response:
    """`GET /api/rooms/{room}/epochs/{epoch}/history?limit=&before=`: the updates of an
    earlier, kept epoch, newest first."""
    archive, _epoch = await _archive_of(request)
    limit = min(int_param(request, "limit", 100, minimum=1) or 100, 1000)
    rows = await state_of(request).store.history(
        archive, limit=limit, before=int_param(request, "before")
    )
    return JSONResponse(
        [{"seq": r.seq, "time": iso(r.time_us), "author": r.author, "bytes": r.size} for r in rows]
    )


routes = [
    Route("/api/admin/webhooks", webhook_deliveries, methods=["GET"]),
    Route("/api/rooms/{room}/reset", reset_room, methods=["POST"]),
    Route("/api/rooms/{room}", delete_room, methods=["DELETE"]),
    Route("/api/rooms/{room}/epochs", list_epochs, methods=["GET"]),
    Route("/api/rooms/{room}/epochs/{epoch}/content", epoch_content, methods=["GET"]),
    Route("/api/rooms/{room}/epochs/{epoch}/history", epoch_history, methods=["GET"]),
]
