"""HTTP error mapping: typed errors become a status and `{"error", "detail"}` once."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from storage.types import StoreError
from sync.errors import InvalidRoomName, InvalidUpdate, LimitExceeded, PermissionDenied, SyncError
from web.auth import AuthError, NotAllowed


class HTTPError(Exception):
    """An error with an HTTP status, raised by route handlers."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(detail or error)
        self.status, self.error, self.detail = status, error, detail


def error_response(status: int, error: str, detail: str = "") -> JSONResponse:
    """The JSON error body every route uses."""
    return JSONResponse({"error": error, "detail": detail}, status_code=status)


_STATUS: list[tuple[type[Exception], int, str]] = [
    (AuthError, 401, "unauthorized"),
    (NotAllowed, 403, "forbidden"),
    (InvalidRoomName, 400, "invalid_room_name"),
    (InvalidUpdate, 422, "invalid_update"),
    (PermissionDenied, 403, "forbidden"),
    (LimitExceeded, 413, "too_large"),
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


HANDLED: list[type[Exception]] = [HTTPError, SyncError, StoreError]
