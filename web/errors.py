"""HTTP error mapping: typed errors become a status and `{"error", "detail"}` once;
the framework's own errors (404, 405, a crash's 500) get the same JSON body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from storage.types import StoreError
from sync.epochs import StaleDocument
from sync.errors import InvalidRoomName, InvalidUpdate, LimitExceeded, PermissionDenied, SyncError
from web.auth import AuthError, NotAllowed


class HTTPError(Exception):
    """An error with an HTTP status, raised by route handlers."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(detail or error)
        self.status, self.error, self.detail = status, error, detail


def error_response(
    status: int, error: str, detail: str = "", headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The JSON error body every route uses."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


_STATUS: list[tuple[type[Exception], int, str]] = [
    (AuthError, 401, "unauthorized"),
    (NotAllowed, 403, "forbidden"),
    (InvalidRoomName, 400, "invalid_room_name"),
    (InvalidUpdate, 422, "invalid_update"),
    (PermissionDenied, 403, "forbidden"),
    (LimitExceeded, 413, "too_large"),
    (StaleDocument, 409, "stale_document"),
    (SyncError, 503, "room_unavailable"),
    (StoreError, 503, "store_unavailable"),
]


async def handle_error(_request: Request, exc: Exception) -> Response:
    """Starlette exception handler for every typed error."""
    if isinstance(exc, HTTPError):
        return error_response(exc.status, exc.error, exc.detail)
    for kind, status, code in _STATUS:
        if isinstance(exc, kind):
            return error_response(status, code, str(exc))
    raise exc


_FRAMEWORK = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    """Starlette's own HTTPException (no route, wrong method, a static file missing)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in {204, 304}:
        return Response(status_code=exc.status_code, headers=exc.headers)
    code = _FRAMEWORK.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, exc.detail, exc.headers)


async def handle_crash(_request: Request, _exc: Exception) -> Response:
    """Any other exception: a JSON 500 (uvicorn logs the traceback)."""
    return error_response(500, "internal_error", "the server failed on this request")


def exception_handlers() -> dict[Any, Any]:
    """The app's `exception_handlers`: typed errors, framework errors, crashes."""
    handlers: dict[Any, Any] = {kind: handle_error for kind in (HTTPError, SyncError, StoreError)}
    return {**handlers, HTTPException: handle_http_exception, Exception: handle_crash}
