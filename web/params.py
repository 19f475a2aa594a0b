"""Request plumbing shared by the HTTP routes: the app state, the room and caller, and
parameters (query integers, JSON bodies, times) checked into typed values or a 400."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request

from storage.changes import iso_time as iso
from sync.names import check_room_name
from sync.types import Identity
from web.errors import HTTPError
from web.guard import identify
from web.state import AppState

__all__ = [
    "int_param",
    "iso",
    "json_body",
    "parse_time",
    "room_and_identity",
    "room_param",
    "state_of",
    "time_param",
]


def state_of(request: Request) -> AppState:
    """The app's long-lived objects."""
    state: AppState = request.app.state.samepage
    return state


def room_and_identity(request: Request) -> tuple[str, Identity]:
    """The validated room name from the path and the caller's identity (with auth on,
    a token granting that room)."""
    name = check_room_name(request.path_params["room"])
    return name, identify(request, state_of(request).settings, name)


def room_param(request: Request) -> str:
    """The validated room name from the path (the caller may read it)."""
    return room_and_identity(request)[0]


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


def time_param(request: Request, name: str) -> int | None:
    """An optional ISO 8601 query parameter as microseconds since the epoch."""
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise HTTPError(400, "bad_parameter", f"{name} must be ISO 8601") from None


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body."""
    try:
        body = await request.json()
    except ValueError:
        raise HTTPError(400, "bad_json", "body must be a JSON object") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "bad_json", "body must be a JSON object")
    return body


def parse_time(text: str) -> int:
    """ISO 8601 (naive = UTC) → microseconds since the epoch; ValueError otherwise."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1_000_000)
