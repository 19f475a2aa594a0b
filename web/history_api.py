"""History routes: list, stored updates, diff, named versions, restore (a version's
content: `web.content`)."""

from __future__ import annotations

import base64
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.changes import READ_PAGE, diff_body, diff_inputs, sessions
from storage.history import version_at
from sync.errors import PermissionDenied
from sync.restore import restore_update
from sync.updates import EMPTY_UPDATE
from web.bodies import int_field, json_body, str_field
from web.content import check_epoch, check_not_past, head_seq, offload
from web.errors import HTTPError
from web.params import int_param, iso, room_and_identity, state_of

MAX_LIMIT = 1000
MAX_UPDATES = 5000


async def history(request: Request) -> Response:
    """`GET /api/rooms/{room}/history?limit=&before=&group=session`."""
    room, _ = room_and_identity(request)
    store = state_of(request).store
    limit = min(int_param(request, "limit", 100, minimum=1) or 100, MAX_LIMIT)
    before = int_param(request, "before")
    if before is not None:  # exclusive: head + 1 lists everything
        check_not_past(before - 1, await head_seq(request, room), "before - 1")
    group = request.query_params.get("group")
    if group not in (None, "", "session"):
        raise HTTPError(400, "bad_parameter", "group must be session (or absent)")
    if group == "session":
        found = await sessions(store, room, limit=limit, before=before)
        return JSONResponse(
            [{**asdict(s), "start": iso(s.start_us), "end": iso(s.end_us)} for s in found]
        )
    rows = await store.history(room, limit=limit, before=before)
    return JSONResponse(
        [{"seq": r.seq, "time": iso(r.time_us), "author": r.author, "bytes": r.size} for r in rows]
    )


async def diff_route(request: Request) -> Response:
    """`GET /api/rooms/{room}/diff?from=SEQ&to=SEQ` (to defaults to the head): every
    text change with its author, and the net difference; computed in a worker."""
    room, _ = room_and_identity(request)
    start = int_param(request, "from", 0) or 0
    end = int_param(request, "to")
    head = await head_seq(request, room)
    await check_epoch(request, room, check_not_past(start, head, "from"), "from")
    end = head if end is None else check_not_past(end, head, "to")
    await check_epoch(request, room, end, "to")
    if end < start:
        raise HTTPError(400, "bad_parameter", "to must be >= from")
    state = state_of(request)
    inputs = await diff_inputs(state.store, room, start, end)
    body = await offload(state, diff_body, inputs, start, end)
    return Response(body, media_type="application/json")


async def versions(request: Request) -> Response:
    """`GET` lists named versions; `POST {"label"}` names the current version."""
    room, identity = room_and_identity(request)
    store = state_of(request).store
    if request.method == "POST":
        if not identity.can_write:
            raise PermissionDenied("read-only token")
        body = await json_body(request)
        label = str_field(body, "label", "")
        if not label:
            raise HTTPError(400, "bad_label", "label must be 1-200 characters")
        head = await head_seq(request, room)
        seq = check_not_past(int_field(body, "seq", head), head)
        version = await store.add_version(room, seq, label, identity.name or "anonymous")
        return JSONResponse(version_json(version), status_code=201)
    return JSONResponse([version_json(v) for v in await store.list_versions(room)])


def version_json(version: Any) -> dict[str, Any]:
    """A named version as JSON."""
    return {
        "seq": version.seq,
        "label": version.label,
        "author": version.author,
        "time": iso(version.time_us),
    }


async def restore(request: Request) -> Response:
    """`POST /api/rooms/{room}/restore {"seq": N}`: version N again, as a new edit."""
    room, identity = room_and_identity(request)
    if not identity.can_write:
        raise PermissionDenied("read-only token")
    body = await json_body(request)
    if "seq" not in body:
        raise HTTPError(400, "bad_parameter", "seq (integer) is required")
    seq = check_not_past(int_field(body, "seq", 0), await head_seq(request, room))
    await check_epoch(request, room, seq)
    author = identity.name or str_field(body, "author", "restore") or "restore"
    state = state_of(request)
    seq, target = await version_at(state.store, room, seq)  # folded: the kept point
    async with state.manager.hold(room) as live:
        await live.idle()  # not while a big update is being applied off the loop
        update = await offload(state, restore_update, live.doc.get_update(), target)
        future = await live.apply(update, author) if update != EMPTY_UPDATE else None
        if future is None:
            return JSONResponse({"seq": live.seq, "restored": seq, "changed": False})
        result = await future  # a StoreError is a 503 (web/errors.py)
        return JSONResponse({"seq": result.seq, "restored": seq, "changed": True})


async def updates(request: Request) -> Response:
    """`GET /api/rooms/{room}/updates?after=SEQ&upto=SEQ&limit=N`: stored updates with
    their seq, time and author, base64-encoded — for replaying history in a client."""
    room, _ = room_and_identity(request)
    after = int_param(request, "after", 0) or 0
    upto = int_param(request, "upto")
    head = await head_seq(request, room)
    check_not_past(after, head, "after")
    upto = head if upto is None else check_not_past(upto, head, "upto")
    limit = min(int_param(request, "limit", MAX_UPDATES, minimum=1) or MAX_UPDATES, MAX_UPDATES)
    store, end = state_of(request).store, min(upto, after + limit)
    out: list[dict[str, Any]] = []
    at = after
    while at < end:  # in pages: each a few ms of the event loop
        page = min(end, at + READ_PAGE)
        out += [
            {
                "seq": r.seq,
                "time": iso(r.time_us),
                "author": r.author,
                "update": base64.b64encode(r.update).decode(),
            }
            for r in await store.updates_range(room, at, page)
        ]
        at = page
    return JSONResponse(out)


routes = [
    Route("/api/rooms/{room}/history", history, methods=["GET"]),
    Route("/api/rooms/{room}/updates", updates, methods=["GET"]),
    Route("/api/rooms/{room}/diff", diff_route, methods=["GET"]),
    Route("/api/rooms/{room}/versions", versions, methods=["GET", "POST"]),
    Route("/api/rooms/{room}/restore", restore, methods=["POST"]),
]
