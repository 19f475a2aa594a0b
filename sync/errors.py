"""Typed errors of the sync layer and the WebSocket close codes they map to."""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """Every close code samepage sends, in one place (README documents them)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down (Ctrl-C)
    PROTOCOL_ERROR = 1002  # malformed frame
    UNSUPPORTED_DATA = 1003  # text frame where binary is expected
    POLICY = 1008
    TOO_BIG = 1009  # frame or update over the size limit
    INTERNAL_ERROR = 1011  # the room failed (CRDT panic)
    SERVICE_RESTART = 1012  # graceful restart (SIGTERM): reconnect elsewhere
    TRY_AGAIN_LATER = 1013  # the room could not be loaded or store an update
    BAD_ROOM_NAME = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    ROOM_RESET = 4410  # the room was reset or deleted: the client's document is gone
    # 45xx: transient, y-websocket reconnects (it treats 4400-4499 as final)
    SLOW_CONSUMER = 4508
    INVALID_UPDATE = 4422
    RATE_LIMITED = 4529
    TOO_MANY_CONNECTIONS = 4530
    AWARENESS_TOO_BIG = 4431
    PENDING_TOO_BIG = 4532


class SyncError(Exception):
    """Base of the sync layer's errors; `code` is the close code for the connection."""

    code: CloseCode = CloseCode.INTERNAL_ERROR

    def __init__(self, detail: str, code: CloseCode | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class ProtocolError(SyncError):
    """A frame that is not valid y-websocket protocol."""

    code = CloseCode.PROTOCOL_ERROR


class InvalidUpdate(SyncError):
    """A Yjs update that pycrdt refused (broken encoding or a CRDT panic)."""

    code = CloseCode.INVALID_UPDATE


class PermissionDenied(SyncError):
    """The connection may not do what it asked (e.g. a read-only user writing)."""

    code = CloseCode.FORBIDDEN


class LimitExceeded(SyncError):
    """A configured limit (size, rate, connections, queue) was exceeded."""

    code = CloseCode.POLICY


class RoomUnavailable(SyncError):
    """The room could not be loaded (or failed while serving); clients should retry."""

    code = CloseCode.TRY_AGAIN_LATER


class InvalidRoomName(SyncError):
    """A room name outside `^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`."""

    code = CloseCode.BAD_ROOM_NAME
