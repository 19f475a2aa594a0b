"""`WS /ws/{room}` served natively inside uvicorn (its `ws=` setting takes this class):
no ASGI messages, no task per socket. Inbound frames are processed in order as they
arrive; outbound frames go straight into the socket's buffer, framed once per
broadcast (`WsHub.frame`) and written once per loop iteration. The checks are the
ASGI endpoint's (`web.ws`): origin (HTTP 403 before the upgrade), room name, token
and limits before anything is allocated, the same close codes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable
from typing import Any, ClassVar, cast

from starlette.requests import HTTPConnection

from sync.connection import Connection
from sync.epochs import EPOCH_PARAM, epoch_claim
from sync.errors import CloseCode, SyncError
from sync.handler import handle_frame_nowait
from sync.room import Room
from web import wsframes, wsupgrade
from web.admission import admit, closed, join_room, refused, refused_input
from web.wshub import WsHub

log = logging.getLogger("samepage.web")
HANDSHAKE, JOINING, OPEN, CLOSING, CLOSED = range(5)
CLOSE_TIMEOUT_S = 5.0


class WebSocketProtocol(asyncio.Protocol):
    """One client socket, from the upgrade request to the close."""

    hub: ClassVar[WsHub]
    __slots__ = (
        "_backlog",
        "_close_timer",
        "_out",
        "_paused_frames",
        "_request",
        "alive",
        "conn",
        "peer",
        "phase",
        "pinged",
        "reader",
        "room",
        "server_state",
        "started",
        "transport",
        "write_paused",
    )

    def __init__(self, config: Any, server_state: Any, app_state: Any = None, **_: Any) -> None:
        self.server_state = server_state
        self.hub.attach(config.loaded_app)
        self.transport: asyncio.Transport | None = None
        self.phase = HANDSHAKE
        self._request = b""
        self.reader: wsframes.FrameReader | None = None
        self.conn: Connection | None = None
        self.room: Room | None = None
        self.peer = "?"
        self.started = 0.0
        self._out: list[bytes] | None = None
        self._backlog: deque[bytes] | None = None  # frames read while one is awaited
        self._close_timer: asyncio.TimerHandle | None = None
        self._paused_frames = 0
        self.write_paused = False
        self.alive = True
        self.pinged = False

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """uvicorn hands over the socket of an upgrade request."""
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.server_state.connections.add(self)
        client = transport.get_extra_info("peername")
        if client:
            self.peer = f"{client[0]}:{client[1]}"

    def data_received(self, data: bytes) -> None:
        """Bytes from the client: the upgrade request, then frames."""
        if self.phase == HANDSHAKE:
            self._on_request(data)
            return
        reader = self.reader
        if reader is None or self.phase == CLOSED:
            return
        self.alive = True
        try:
            messages = reader.feed(data)
        except wsframes.FrameError as exc:
            self._refuse(exc.code, exc.reason)
            return
        for opcode, payload in messages:
            if opcode == wsframes.BINARY:
                if self._backlog is not None:
                    if self.phase <= OPEN:
                        self._backlog.append(payload)
                elif self.phase == OPEN:
                    self._dispatch(payload)
            elif opcode == wsframes.CLOSE:
                self._on_close_frame(payload)
                return
            elif opcode == wsframes.PING:
                self.write_raw(wsframes.encode_frame(wsframes.PONG, payload))
            elif opcode == wsframes.TEXT and self.phase == OPEN:
                self._refuse(CloseCode.UNSUPPORTED_DATA, "text frames are not part of the protocol")
                return
            # PONG: `alive` is all it says

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is closed: leave the room, count, log."""
        phase, self.phase = self.phase, CLOSED
        self.server_state.connections.discard(self)
        self.hub.removed(self)
        if self._close_timer is not None:
            self._close_timer.cancel()
            self._close_timer = None
        self._out = None
        self._backlog = None
        conn, room = self.conn, self.room
        state = self.hub.state
        if conn is None or room is None or state is None:
            return
        if conn.close_code is None:
            conn.close_code = 1006 if phase != CLOSING else CloseCode.NORMAL
        state.connections -= 1
        conn.detach()
        state.manager.release(room)
        closed(state, conn, room.name, self.started)

    def pause_writing(self) -> None:
        """The socket's buffer passed its high-water mark: count what piles up."""
        self.write_paused = True

    def resume_writing(self) -> None:
        """The client caught up."""
        self.write_paused = False
        self._paused_frames = 0

    def shutdown(self) -> None:
        """uvicorn is stopping (the app already closed its clients with its own code)."""
        if self.phase in (OPEN, JOINING):
            self.close_with(CloseCode.SERVICE_RESTART, "server shutting down")
        elif self.transport is not None and self.phase != CLOSED:
            self.transport.close()

    # -- the upgrade ---------------------------------------------------------------

    def _on_request(self, data: bytes) -> None:
        state = self.hub.state
        try:
            request = wsupgrade.read_request(self._request + data)
            if request is None:
                self._request += data
                return
            self._request = b""
            upgrade = wsupgrade.check_upgrade(*request, state, self.hub.proxies, self.peer)
        except wsupgrade.Refused as exc:
            self._reject(exc.status, exc.extra)
            return
        assert self.transport is not None and state is not None
        self.peer = upgrade.peer
        self.transport.write(wsupgrade.switching_protocols(upgrade.key))
        self._upgraded(state, upgrade.room, upgrade.request)

    def _upgraded(self, state: Any, name: str, request: HTTPConnection) -> None:
        """After the 101: the room name, token and limits, then the room."""
        self.reader = wsframes.FrameReader(state.settings.max_frame_bytes)
        try:
            identity = admit(state, name, request)
        except SyncError as exc:
            refused(state, self.peer, name, exc)
            self.close_with(exc.code, exc.detail[:120])
            return
        self.started = time.monotonic()
        self.conn = Connection(self, identity, state.settings.sync, self.peer)
        self.conn.epoch_claim = epoch_claim(request.query_params.get(EPOCH_PARAM))
        self.conn.traffic = state.manager.traffic
        self.hub.added(self)
        room = state.manager.acquire_loaded(name) if self.hub.cluster is None else None
        if room is not None and not room.busy:
            self._joined(room)
            return
        if room is not None:  # busy with a big update: join through `join_room`
            state.manager.release(room)
        self.phase = JOINING
        self._backlog = deque()
        self._spawn(self._join(name))

    async def _join(self, name: str) -> None:
        state = self.hub.state
        assert state is not None and self.conn is not None
        try:
            room, identity = await join_room(state, self.hub.app, name, self.conn.identity)
        except SyncError as exc:
            refused(state, self.peer, name, exc)
            self.conn.close_code = exc.code
            self.conn = None
            self.close_with(exc.code, exc.detail[:120])
            return
        if self.phase != JOINING:  # the client left meanwhile
            state.manager.release(room)
            return
        self.conn.change_identity(identity)
        self._joined(room)
        self._drain_backlog_soon()

    def _joined(self, room: Room) -> None:
        state = self.hub.state
        conn = self.conn
        assert state is not None and conn is not None
        self.room = room
        self.phase = OPEN
        state.connection_opened()
        log.info("open room=%s peer=%s user=%s", room.name, self.peer, conn.identity.name or "-")
        room.join(conn)

    def _reject(self, status: str, extra: str = "") -> None:
        assert self.transport is not None
        self.phase = CLOSED
        self.transport.write(wsupgrade.refusal(status, extra))
        self.transport.close()

    # -- inbound -------------------------------------------------------------------

    def _dispatch(self, payload: bytes) -> None:
        conn = self.conn
        assert conn is not None
        try:
            wait = handle_frame_nowait(conn, payload)
        except SyncError as exc:
            self._refuse(exc.code, exc.detail)
            return
        except Exception:
            log.exception("internal error handling a frame from %s", self.peer)
            conn.abort(CloseCode.INTERNAL_ERROR, "internal error")
            return
        if wait is not None:
            self._backlog = deque()
            self._spawn(self._wait_then_drain(wait))

    async def _wait_then_drain(self, wait: Awaitable[None]) -> None:
        """Ordered processing: the frames read while `wait` runs are handled after it."""
        assert self.transport is not None
        self.transport.pause_reading()
        try:
            await wait
        except SyncError as exc:
            self._refuse(exc.code, exc.detail)
        except Exception:
            log.exception("internal error handling a frame from %s", self.peer)
            if self.conn is not None:
                self.conn.abort(CloseCode.INTERNAL_ERROR, "internal error")
        self._drain_backlog_soon()

    def _drain_backlog_soon(self) -> None:
        backlog, self._backlog = self._backlog, None
        while backlog and self.phase == OPEN and self._backlog is None:
            self._dispatch(backlog.popleft())
        if backlog and self._backlog is not None:  # waiting again: keep the order
            backlog.extend(self._backlog)
            self._backlog = backlog
            return
        if self.phase == OPEN and self.transport is not None:
            self.transport.resume_reading()

    def _on_close_frame(self, payload: bytes) -> None:
        assert self.transport is not None
        if self.phase == CLOSING:  # the reply to ours: the closing handshake is done
            self.transport.close()
            return
        try:
            code, _reason = wsframes.parse_close(payload)
        except wsframes.FrameError as exc:
            self._refuse(exc.code, exc.reason)
            return
        if self.conn is not None and self.conn.close_code is None:
            self.conn.close_code = code
            self.conn.detach()
        self.phase = CLOSING
        self.flush()
        self.transport.write(wsframes.encode_close(1000 if code == 1005 else code))
        self.transport.close()

    def _refuse(self, code: int, reason: str) -> None:
        refused_input(self.room.name if self.room else "-", self.peer, code, reason)
        if self.conn is not None and self.conn.close_code is None:
            self.conn.abort(code, reason[:120])
        else:
            self.close_with(code, reason[:120])

    # -- outbound (FrameSink) --------------------------------------------------------

    def write_frame(self, frame: bytes) -> None:
        """Queue one binary message; written at the end of this loop iteration."""
        framed = self.hub.frame(frame)
        out = self._out
        if out is None:
            self._out = [framed]
            self.hub.mark_dirty(self)
        else:
            out.append(framed)
        if self.write_paused:
            self._paused_frames += 1

    def write_raw(self, data: bytes) -> None:
        """Queue an already framed message (pings, pongs)."""
        if self.phase in (CLOSING, CLOSED):
            return
        out = self._out
        if out is None:
            self._out = [data]
            self.hub.mark_dirty(self)
        else:
            out.append(data)

    def flush(self) -> None:
        """Write what was queued in this loop iteration, in one call."""
        out, self._out = self._out, None
        transport = self.transport
        if not out or transport is None or self.phase == CLOSED:
            return
        transport.write(out[0] if len(out) == 1 else b"".join(out))
        if self.write_paused and self.conn is not None:
            settings = self.conn.settings
            buffered = transport.get_write_buffer_size()
            if (
                self._paused_frames > settings.outbound_queue_frames
                or buffered > settings.outbound_queue_bytes
            ):
                self.conn.overflowed(self._paused_frames, buffered)

    def close_with(self, code: int, reason: str) -> None:
        """Send a close frame; the socket closes on the client's reply (or a timeout)."""
        transport = self.transport
        if self.phase in (CLOSING, CLOSED) or transport is None:
            return
        self.phase = CLOSING
        self._backlog = None
        self.flush()
        transport.write(wsframes.encode_close(code, reason))
        transport.resume_reading()  # to see the reply
        loop = asyncio.get_running_loop()
        self._close_timer = loop.call_later(CLOSE_TIMEOUT_S, transport.abort)

    def keepalive_timeout(self) -> None:
        """No pong for a ping: the peer vanished; drop it (its presence goes with it)."""
        log.info(
            "keepalive timeout peer=%s room=%s", self.peer, self.room.name if self.room else "-"
        )
        if self.conn is not None and self.conn.close_code is None:
            self.conn.close_code = CloseCode.INTERNAL_ERROR
            self.conn.detach()
        if self.transport is not None:
            self.transport.abort()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def protocol_class(hub: WsHub) -> type[WebSocketProtocol]:
    """The protocol class to give uvicorn (`ws=`), bound to `hub`."""
    return type("SamepageWebSocket", (WebSocketProtocol,), {"hub": hub, "__slots__": ()})
