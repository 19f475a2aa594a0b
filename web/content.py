"""`GET /api/rooms/{room}/content`: the document now or at a version, as text, json or
yjs. Text and yjs of the loaded head come straight from the room's Doc; a version's
text from the room's text timeline when it has one; everything else is rendered from
bytes in a worker process (`web.offload`), so no document holds the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from storage.history import version_at
from sync.content import text_of
from sync.room import Room
from web.errors import HTTPError
from web.jobs import FORMATS, MEDIA_TYPES, render_parts
from web.offload import OffloadError
from web.params import int_param, room_param, state_of, time_param
from web.state import AppState

T = TypeVar("T")


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
    await room.idle()  # not while a big update is being applied off the loop
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
        return await content_at(request, name, fmt)
    async with state.manager.hold(name) as room:
        return await render_head(state, room, fmt)


async def head_seq(request: Request, room: str) -> int:
    """The newest committed seq of a room (loaded or not)."""
    state = state_of(request)
    live = state.manager.get(room)
    if live is not None:
        await live.flush()
        return live.seq
    info = await state.store.room_info(room)
    return info.seq if info else 0


def check_not_past(seq: int, head: int, name: str = "seq") -> int:
    """`seq` itself, or a 404 when it is after the room's head."""
    if seq > head:
        raise HTTPError(404, "no_such_version", f"{name} {seq} is after the head ({head})")
    return seq


async def check_epoch(request: Request, room: str, seq: int, name: str = "seq") -> int:
    """`seq` itself, or a 404 when it belongs to an earlier epoch of the room (a reset
    started this one after `base`; docs/rooms.md): those versions are read from
    `/api/rooms/{room}/epochs/{n}/...`. 0 (the empty document) is always a version."""
    state = state_of(request)
    live = state.manager.get(room)
    if live is not None:
        base = live.life.base
    else:
        info = await state.store.room_info(room)
        base = info.base if info is not None else 0
    if 0 < seq < base:
        raise HTTPError(
            404,
            "earlier_epoch",
            f"{name} {seq} is of an earlier epoch of room {room} (this one starts after "
            f"{base}): see GET /api/rooms/{room}/epochs",
        )
    return seq


async def resolve_seq(request: Request, room: str) -> int | None:
    """`?at=SEQ` or `?time=ISO` → a seq (None when neither is given)."""
    at = int_param(request, "at")
    when = time_param(request, "time")
    if at is not None and when is not None:
        raise HTTPError(400, "bad_parameter", "give at or time, not both")
    if when is not None:
        return await state_of(request).store.seq_at_time(room, when)
    if at is not None:
        check_not_past(at, await head_seq(request, room), "at")
        await check_epoch(request, room, at, "at")
    return at


async def content_at(request: Request, room: str, fmt: str) -> Response:
    """Content at `?at=` / `?time=` (called by the content route when either is given):
    the head from the loaded room, text from the room's text timeline when it has one,
    anything else rendered from the stored rows in a worker process."""
    seq = await resolve_seq(request, room)
    if seq is None:
        raise HTTPError(400, "bad_parameter", "at or time is required")
    state = state_of(request)
    headers = {"X-Samepage-Seq": str(seq)}
    live = _live_head(request, room, seq)
    if live is not None:
        return await render_head(state, live, fmt)
    if fmt == "text":
        text = await state.text_history.text_at(room, seq)
        if text is not None:
            return PlainTextResponse(text, headers=headers)
    answered, parts = await version_at(state.store, room, seq)
    headers["X-Samepage-Seq"] = str(answered)  # a folded seq reads as the kept point
    return await render_parts_response(state, parts, fmt, headers)


def _live_head(request: Request, room: str, seq: int) -> Room | None:
    """The loaded room when it holds exactly version `seq`, all of it committed."""
    live = state_of(request).manager.get(room)
    if live is not None and live.seq == seq and live.inflight == 0 and not live.failed:
        return live
    return None


routes = [Route("/api/rooms/{room}/content", get_content, methods=["GET"])]
