"""History routes: list, content at a version, diff, named versions, restore."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, TypeVar

from pycrdt import Doc
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from storage.history import doc_at, update_at
from storage.timeline import diff, sessions
from storage.types import StoreError
from sync.errors import PermissionDenied
from sync.restore import restore_into
from sync.room import Room
from web.api import iso, render_content, room_and_identity, state_of
from web.errors import HTTPError

MAX_LIMIT = 1000
T = TypeVar("T")
MAX_UPDATES = 5000


def int_param(request: Request, name: str, default: int | None = None) -> int | None:
    """An optional non-negative integer query parameter."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HTTPError(400, "bad_parameter", f"{name} must be an integer") from None
    if value < 0:
        raise HTTPError(400, "bad_parameter", f"{name} must be >= 0")
    return value


def parse_time(text: str) -> int:
    """ISO 8601 (naive = UTC) → microseconds since the epoch."""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPError(400, "bad_parameter", "time must be ISO 8601") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1_000_000)


async def head_seq(request: Request, room: str) -> int:
    """The newest committed seq of a room (loaded or not)."""
    state = state_of(request)
    live = state.manager.get(room)
    if live is not None:
        await live.flush()
        return live.seq
    info = await state.store.room_info(room)
    return info.seq if info else 0


async def resolve_seq(request: Request, room: str) -> int | None:
    """`?at=SEQ` or `?time=ISO` → a seq (None when neither is given)."""
    at = int_param(request, "at")
    when = request.query_params.get("time")
    if at is not None and when:
        raise HTTPError(400, "bad_parameter", "give at or time, not both")
    if when:
        return await state_of(request).store.seq_at_time(room, parse_time(when))
    if at is not None:
        head = await head_seq(request, room)
        if at > head:
            raise HTTPError(404, "no_such_version", f"seq {at} is after the head ({head})")
    return at


async def read_version(request: Request, room: str, seq: int, read: Callable[[Doc[Any]], T]) -> T:
    """`read(the document as it was after update seq)` for a version the live room
    does not hold: from the checkpoint builder's cursor for versions after the last
    checkpoint, else rebuilt from the store (which decodes the nearest checkpoint:
    ~1 µs per item)."""
    state = state_of(request)
    found = await state.manager.read_version(room, seq, read)
    if found is not None:
        return found
    return read(await doc_at(state.store, room, seq))


async def history(request: Request) -> Response:
    """`GET /api/rooms/{room}/history?limit=&before=&group=session`."""
    room, _ = room_and_identity(request)
    store = state_of(request).store
    limit = min(int_param(request, "limit", 100) or 100, MAX_LIMIT)
    before = int_param(request, "before")
    if request.query_params.get("group") == "session":
        found = await sessions(store, room, limit=limit, before=before)
        return JSONResponse(
            [{**asdict(s), "start": iso(s.start_us), "end": iso(s.end_us)} for s in found]
        )
    rows = await store.history(room, limit=limit, before=before)
    return JSONResponse(
        [
            {"seq": r.seq, "time": iso(r.time_us), "author": r.author, "bytes": len(r.update)}
            for r in rows
        ]
    )


async def content_at(request: Request, room: str, fmt: str) -> Response:
    """Content at `?at=` / `?time=` (called by the content route when either is given)."""
    seq = await resolve_seq(request, room)
    if seq is None:
        raise HTTPError(400, "bad_parameter", "at or time is required")
    headers = {"X-Samepage-Seq": str(seq)}
    live = _live_head(request, room, seq)
    if live is not None:  # the head, read straight from the room's doc
        return render_content(live.doc, fmt, headers)
    if fmt == "text":
        text = await state_of(request).manager.read_text(room, seq)
        if text is not None:
            return PlainTextResponse(text, headers=headers)
    if fmt == "yjs":
        state = await update_at(state_of(request).store, room, seq)
        return Response(state, media_type="application/octet-stream", headers=headers)
    return await read_version(request, room, seq, lambda doc: render_content(doc, fmt, headers))


def _live_head(request: Request, room: str, seq: int) -> Room | None:
    """The loaded room when it holds exactly version `seq`, all of it committed."""
    live = state_of(request).manager.get(room)
    if live is not None and live.seq == seq and live.inflight == 0 and not live.failed:
        return live
    return None


async def diff_route(request: Request) -> Response:
    """`GET /api/rooms/{room}/diff?from=SEQ&to=SEQ` (to defaults to the head)."""
    room, _ = room_and_identity(request)
    start = int_param(request, "from", 0) or 0
    end = int_param(request, "to")
    if end is None:
        end = await head_seq(request, room)
    if end < start:
        raise HTTPError(400, "bad_parameter", "to must be >= from")
    result = await diff(state_of(request).store, room, start, end)
    body = asdict(result)
    for change in body["changes"]:
        change["time"] = iso(change.pop("time_us"))
    return JSONResponse(body)


async def versions(request: Request) -> Response:
    """`GET` lists named versions; `POST {"label"}` names the current version."""
    room, identity = room_and_identity(request)
    store = state_of(request).store
    if request.method == "POST":
        if not identity.can_write:
            raise PermissionDenied("read-only token")
        body = await json_body(request)
        label = str(body.get("label", "")).strip()
        if not label or len(label) > 200:
            raise HTTPError(400, "bad_label", "label must be 1-200 characters")
        seq = int(body["seq"]) if "seq" in body else await head_seq(request, room)
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


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body."""
    try:
        body = await request.json()
    except ValueError:
        raise HTTPError(400, "bad_json", "body must be a JSON object") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "bad_json", "body must be a JSON object")
    return body


async def restore(request: Request) -> Response:
    """`POST /api/rooms/{room}/restore {"seq": N}`: version N again, as a new edit."""
    room, identity = room_and_identity(request)
    if not identity.can_write:
        raise PermissionDenied("read-only token")
    body = await json_body(request)
    try:
        seq = int(body["seq"])
    except (KeyError, TypeError, ValueError):
        raise HTTPError(400, "bad_parameter", "seq (integer) is required") from None
    head = await head_seq(request, room)
    if not 0 <= seq <= head:
        raise HTTPError(404, "no_such_version", f"seq {seq} not in 0..{head}")
    state = state_of(request)
    target = await doc_at(state.store, room, seq)  # a copy: restore edits the live doc
    live = await state.manager.acquire(room)
    try:
        author = identity.name or str(body.get("author") or "restore")[:200]
        future = live.transact(lambda doc: restore_into(doc, target), author)
        if future is None:
            return JSONResponse({"seq": live.seq, "restored": seq, "changed": False})
        try:
            result = await future
        except StoreError as exc:
            raise HTTPError(503, "store_unavailable", str(exc)) from exc
        return JSONResponse({"seq": result.seq, "restored": seq, "changed": True})
    finally:
        state.manager.release(live)


async def updates(request: Request) -> Response:
    """`GET /api/rooms/{room}/updates?after=SEQ&upto=SEQ&limit=N`: stored updates with
    their seq, time and author, base64-encoded — for replaying history in a client."""
    room, _ = room_and_identity(request)
    after = int_param(request, "after", 0) or 0
    upto = int_param(request, "upto")
    if upto is None:
        upto = await head_seq(request, room)
    limit = min(int_param(request, "limit", MAX_UPDATES) or MAX_UPDATES, MAX_UPDATES)
    rows = await state_of(request).store.updates_range(room, after, min(upto, after + limit))
    return JSONResponse(
        [
            {
                "seq": r.seq,
                "time": iso(r.time_us),
                "author": r.author,
                "update": base64.b64encode(r.update).decode(),
            }
            for r in rows
        ]
    )


routes = [
    Route("/api/rooms/{room}/history", history, methods=["GET"]),
    Route("/api/rooms/{room}/updates", updates, methods=["GET"]),
    Route("/api/rooms/{room}/diff", diff_route, methods=["GET"]),
    Route("/api/rooms/{room}/versions", versions, methods=["GET", "POST"]),
    Route("/api/rooms/{room}/restore", restore, methods=["POST"]),
]
