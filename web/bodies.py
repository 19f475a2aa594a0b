"""Request bodies: read as they stream in (the size cap applies before the body is
whole), JSON parsed strictly, and fields checked into typed values or a 400."""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

from starlette.requests import Request

from web.errors import HTTPError

MAX_JSON_BYTES = 64 * 1024
MAX_INT = 2**63 - 1  # the largest integer an SQL column holds


async def read_body(request: Request, limit: int, what: str = "body") -> bytes:
    """The whole body, refused with 413 as soon as it is known to exceed `limit`
    bytes: from `Content-Length`, or while the chunks arrive."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, "too_large", f"{what} of {declared} bytes (max {limit})")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, "too_large", f"{what} over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def parse_json(raw: bytes) -> Any:
    """Strict JSON: no NaN/Infinity, no number that overflows a float; ValueError
    (also for invalid UTF-8 and absurd nesting)."""
    try:
        return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError("nested too deeply") from None


async def json_body(
    request: Request, *, allow_empty: bool = False, limit: int = MAX_JSON_BYTES
) -> dict[str, Any]:
    """The request's body as a JSON object (an empty body is `{}` when allowed)."""
    raw = await read_body(request, limit, "JSON body")
    if allow_empty and not raw.strip():
        return {}
    try:
        body = parse_json(raw)
    except ValueError as exc:
        raise HTTPError(400, "invalid_json", f"body must be a JSON object ({exc})") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "invalid_json", "body must be a JSON object")
    return body


def int_field(body: dict[str, Any], name: str, default: int, minimum: int = 0) -> int:
    """An integer field (absent: `default`); null, floats, strings, booleans and
    values outside `minimum..MAX_INT` are a 400."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise HTTPError(400, "bad_parameter", f"{name} must be an integer")
    if not minimum <= value <= MAX_INT:
        raise HTTPError(400, "bad_parameter", f"{name} must be in {minimum}..{MAX_INT}")
    return value


def str_field(body: dict[str, Any], name: str, default: str, max_chars: int = 200) -> str:
    """A string field (absent: `default`), stripped, at most `max_chars` code points."""
    value = body.get(name, default)
    if not isinstance(value, str):
        raise HTTPError(400, "bad_parameter", f"{name} must be a string")
    value = value.strip()
    if len(value) > max_chars:
        raise HTTPError(400, "bad_parameter", f"{name} must be at most {max_chars} characters")
    return value
