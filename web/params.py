"""Request plumbing shared by the HTTP routes: the app state, the room and caller, and
parameters (query integers, times) checked into typed values or a 400."""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request

from storage.changes import iso_time as iso
from sync.names import check_room_name
from sync.types import Identity
from web.bodies import MAX_INT
from web.errors import HTTPError
from web.guard import identify
from web.state import AppState

__all__ = [
    "int_param",
    "iso",
    "parse_count",
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
    return name, identify(request, state_of(request), name)


def room_param(request: Request) -> str:
    """The validated room name from the path (the caller may read it)."""
    return room_and_identity(request)[0]


def parse_count(raw: str) -> int | None:
    """ASCII digits that fit an SQL integer as an int, else None (`int()` alone takes
    "²"-free but odd forms such as " 1_0 " or Arabic-Indic digits; `isdigit()` takes "²")."""
    if not (0 < len(raw) <= 19 and raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if value <= MAX_INT else None


def int_param(
    request: Request, name: str, default: int | None = None, minimum: int = 0
) -> int | None:
    """An optional integer query parameter in `minimum..MAX_INT`, else a 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    value = parse_count(raw)
    if value is None:
        raise HTTPError(400, "bad_parameter", f"{name} must be an integer in 0..{MAX_INT}")
    if value < minimum:
        raise HTTPError(400, "bad_parameter", f"{name} must be >= {minimum}")
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


def parse_time(text: str) -> int:
    """ISO 8601 (naive = UTC) → microseconds since the epoch; ValueError otherwise."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1_000_000)
