"""`WS /ws/{room}` as an ASGI endpoint: what serves it under another ASGI server or a
test client (`samepage serve` serves it natively, `web.wsnative`); maps sync errors to
close codes once."""

from __future__ import annotations

import logging
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from sync.connection import Connection
from sync.epochs import EPOCH_PARAM, epoch_claim
from sync.errors import CloseCode, ProtocolError, SyncError
from sync.handler import handle_frame
from web.admission import admit, closed, join_room, refused, refused_input
from web.guard import origin_allowed
from web.state import AppState

log = logging.getLogger("samepage.web")


class StarletteTransport:
    """Adapts a Starlette WebSocket to the sync layer's Transport."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary frame."""
        await self._ws.send_bytes(data)

    async def close(self, code: int, reason: str = "") -> None:
        """Close with `code` (ignored if the socket is already gone)."""
        try:
            await self._ws.close(code, reason)
        except (RuntimeError, WebSocketDisconnect, OSError):
            pass


def _peer(websocket: WebSocket) -> str:
    client = websocket.client
    return f"{client.host}:{client.port}" if client else "?"


async def websocket_endpoint(websocket: WebSocket) -> None:
    """Serve one y-websocket client for the room in the path."""
    state: AppState = websocket.app.state.samepage
    name = websocket.path_params["room"]
    peer = _peer(websocket)
    if not origin_allowed(websocket, state.settings):
        # Before the upgrade: the browser sees HTTP 403 (CORS middleware does not
        # cover WebSockets).
        log.warning("refused ws peer=%s: origin %r not allowed", peer, websocket.headers["origin"])
        await websocket.close(CloseCode.POLICY)
        return
    await websocket.accept()
    try:
        identity = admit(state, name, websocket)
        room, identity = await join_room(state, websocket.app, name, identity)
    except SyncError as exc:
        refused(state, peer, name, exc)
        await websocket.close(exc.code, exc.detail[:120])
        return
    conn = Connection(StarletteTransport(websocket), identity, state.settings.sync, peer)
    conn.epoch_claim = epoch_claim(websocket.query_params.get(EPOCH_PARAM))
    conn.traffic = state.manager.traffic
    started = time.monotonic()
    state.connection_opened()
    log.info("open room=%s peer=%s user=%s", name, peer, identity.name or "-")
    reason = ""
    try:
        room.join(conn)
        conn.start()
        reason = await _read_loop(websocket, conn, state.settings.max_frame_bytes)
    finally:
        state.connections -= 1
        room.leave(conn)
        state.manager.release(room)
        await conn.aclose()
        closed(state, conn, name, started, reason)


async def _read_loop(websocket: WebSocket, conn: Connection, max_frame: int) -> str:
    """Process frames until the client leaves or is refused; return the refusal reason."""
    while not conn.closed:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            conn.close_code = conn.close_code or message.get("code", CloseCode.NORMAL)
            return ""
        try:
            data = message.get("bytes")
            if data is None:
                raise ProtocolError(
                    "text frames are not part of the protocol", CloseCode.UNSUPPORTED_DATA
                )
            if len(data) > max_frame:
                raise ProtocolError(f"frame of {len(data)} bytes", CloseCode.TOO_BIG)
            await handle_frame(conn, data)
        except SyncError as exc:
            refused_input(conn.room.name if conn.room else "-", conn.peer, exc.code, exc.detail)
            await conn.close(exc.code, exc.detail[:120])
            return exc.detail
        except Exception:
            log.exception("internal error handling a frame from %s", conn.peer)
            await conn.close(CloseCode.INTERNAL_ERROR, "internal error")
            return "internal error"
    return ""
