"""samepage's `WS /ws/{room}` on picows (a Cython WebSocket server, callbacks per
frame, no task per socket) with samepage's sync layer and store behind it
(bench/peers/layers.py): `python -m bench.peers.layer_picows PORT DB`.

Like the native server (web/wsnative.py): inbound frames are handled in the frame
callback, in order; when one must be awaited, reading pauses and the frames already
read wait in a backlog. Outbound frames go straight to `WSTransport.send` (framed and
written per message: no coalescing per loop iteration as the native server does).
picows 2.3 runs its sockets on aiofastnet (installed with it) over uvloop.

Kept: keepalive pings (picows' auto ping when a socket is idle for `ws_ping_interval`,
20 s; dropped when no pong comes within as long), the origin check (HTTP 403 before the
upgrade, samepage's rule), room name / tokens / limits (`admit`, close codes after the
upgrade), samepage's close codes (sync/errors.py; 1009 for a frame over
`max_frame_bytes`, fragmented messages reassembled and held to the same limit), the
slow-consumer close (4508) while the write buffer is over its high-water mark, the
closing handshake (answered; our close timed out after 5 s), a graceful shutdown (stop
accepting, 1012 on SIGTERM / 1001 on SIGINT to every client, rooms flushed, store
closed).
Lacks: only `/ws/{room}` is served (no HTTP API, no /healthz: other paths get 403), no
trusted-proxy X-Forwarded-For, no `--workers`/cluster."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

from picows import (
    WSCloseCode,
    WSFrame,
    WSListener,
    WSMsgType,
    WSTransport,
    WSUpgradeRequest,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)
from starlette.requests import HTTPConnection

from bench.peers.layers import (
    CLOSE_TIMEOUT_S,
    TEXT_REFUSED,
    Served,
    Session,
    bench_settings,
    close_clients,
    http_request,
    parse_argv,
    peer_name,
    prepare_process,
    room_of,
    run,
    running_app,
    stop_requested,
)
from sync.errors import CloseCode
from web.guard import origin_allowed

log = logging.getLogger("samepage.web")
NO_STATUS = 1005  # a close frame without a code


def close_code(code: int) -> WSCloseCode:
    """`code` for `send_close`: picows' stub says WSCloseCode (an enum of the RFC's
    codes), its Cython method takes any int, samepage's 4xxx codes included."""
    return cast(WSCloseCode, code)


class Listener(WSListener):
    """One client socket: picows' callbacks, and the FrameSink of its connection."""

    def __init__(
        self, served: Served, name: str, request: HTTPConnection, live: set[Listener]
    ) -> None:
        super().__init__()
        self.served = served
        self.name = name
        self.request = request
        self.live = live
        self.tasks: set[asyncio.Task[None]] = set()
        self.transport: WSTransport | None = None
        self.session: Session | None = None
        self.backlog: deque[bytes] | None = None  # frames read while one is awaited
        self.parts: list[bytes] | None = None  # a fragmented message so far
        self.client_code: int | None = None  # the code of the client's close frame
        self.close_timer: asyncio.TimerHandle | None = None
        self.write_paused = False
        self.paused_frames = 0

    # -- picows callbacks ---------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        """After the 101: admit, then join the room (at once if it is loaded)."""
        self.transport = transport
        self.live.add(self)
        peer = peer_name(transport.underlying_transport.get_extra_info("peername"))
        session = self.session = Session(self.served, self, peer)
        if not session.admit(self.name, self.request) or session.join_now(self.name):
            return
        self.backlog = deque()
        self._pause_reading()
        self._spawn(self._join())

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        """One frame (pings are answered, pongs consumed by picows)."""
        kind = frame.msg_type
        if kind == WSMsgType.BINARY:
            if frame.fin:
                self._message(frame.get_payload_as_bytes())
            else:
                self.parts = [frame.get_payload_as_bytes()]
        elif kind == WSMsgType.CONTINUATION:
            self._continuation(frame)
        elif kind == WSMsgType.CLOSE:
            self._on_close_frame(transport, frame.get_payload_as_bytes())
        elif kind == WSMsgType.TEXT and self.session is not None:
            self.session.refuse(CloseCode.UNSUPPORTED_DATA, TEXT_REFUSED)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        """The socket is closed: leave the room."""
        self.live.discard(self)
        if self.close_timer is not None:
            self.close_timer.cancel()
            self.close_timer = None
        self.backlog = None
        if self.session is not None:
            self.session.closed(self.client_code)

    def pause_writing(self) -> None:
        """The write buffer passed its high-water mark: count what piles up."""
        self.write_paused = True

    def resume_writing(self) -> None:
        """The client caught up."""
        self.write_paused = False
        self.paused_frames = 0

    # -- FrameSink -------------------------------------------------------------------

    def write_frame(self, frame: bytes) -> None:
        """Frame and write one binary message now."""
        transport = self.transport
        assert transport is not None
        transport.send(WSMsgType.BINARY, frame)
        if self.write_paused and self.session is not None:
            self.paused_frames += 1
            buffered = transport.underlying_transport.get_write_buffer_size()
            self.session.over_limits(self.paused_frames, buffered)

    def close_with(self, code: int, reason: str) -> None:
        """Send a close frame; the socket closes on the client's reply (or a timeout)."""
        transport = self.transport
        if transport is None or transport.is_close_frame_sent or transport.is_disconnected:
            return
        self.backlog = None
        transport.send_close(close_code(code), reason.encode())
        self._resume_reading()  # to see the reply
        loop = asyncio.get_running_loop()
        self.close_timer = loop.call_later(CLOSE_TIMEOUT_S, transport.disconnect, False)

    # -- inbound, in order -------------------------------------------------------------

    def _message(self, payload: bytes) -> None:
        if self.backlog is not None:
            self.backlog.append(payload)
            return
        self._dispatch(payload)

    def _dispatch(self, payload: bytes) -> None:
        assert self.session is not None
        wait = self.session.receive(payload)
        if wait is not None:
            self.backlog = deque()
            self._pause_reading()
            self._spawn(self._wait_then_drain(wait))

    def _continuation(self, frame: WSFrame) -> None:
        parts = self.parts
        if parts is None or self.session is None:
            self._refuse(CloseCode.PROTOCOL_ERROR, "continuation without a message")
            return
        parts.append(frame.get_payload_as_bytes())
        size = sum(len(part) for part in parts)
        if size > self.served.settings.max_frame_bytes:
            self.parts = None
            self._refuse(CloseCode.TOO_BIG, f"message of {size} bytes")
        elif frame.fin:
            self.parts = None
            self._message(b"".join(parts))

    def _refuse(self, code: int, reason: str) -> None:
        if self.session is not None:
            self.session.refuse(code, reason)
        else:
            self.close_with(code, reason)

    async def _join(self) -> None:
        assert self.session is not None
        if await self.session.join(self.name):
            self._drain()

    async def _wait_then_drain(self, wait: Awaitable[None]) -> None:
        await wait
        self._drain()

    def _drain(self) -> None:
        """Handle the frames read meanwhile, in order, then read again."""
        backlog, self.backlog = self.backlog, None
        while backlog and self.backlog is None and not self._closing():
            self._dispatch(backlog.popleft())
        if backlog and self.backlog is not None:  # waiting again: keep the order
            backlog.extend(self.backlog)
            self.backlog = backlog
            return
        self._resume_reading()

    def _on_close_frame(self, transport: WSTransport, payload: bytes) -> None:
        """The client's close frame: the reply to ours, or answered with its code."""
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else NO_STATUS
        self.client_code = code
        if not transport.is_close_frame_sent:
            conn = self.session.conn if self.session is not None else None
            if conn is not None and conn.close_code is None:
                conn.close_code = code
                conn.detach()
            transport.send_close(close_code(1000 if code == NO_STATUS else code))
        transport.disconnect()

    # -- helpers ---------------------------------------------------------------------------

    def _closing(self) -> bool:
        transport = self.transport
        return transport is None or transport.is_close_frame_sent or transport.is_disconnected

    def _pause_reading(self) -> None:
        if self.transport is not None:
            self.transport.underlying_transport.pause_reading()

    def _resume_reading(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_disconnected:
            transport.underlying_transport.resume_reading()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def listener_factory(
    served: Served, live: set[Listener]
) -> Callable[[WSUpgradeRequest], Listener | WSUpgradeResponseWithListener]:
    """picows' router: a Listener for `/ws/{room}`, HTTP 403 for another path or a
    foreign origin (before the upgrade, as the native server)."""

    def forbidden() -> WSUpgradeResponseWithListener:
        return WSUpgradeResponseWithListener(WSUpgradeResponse.create_error_response(403), None)

    def route(request: WSUpgradeRequest) -> Listener | WSUpgradeResponseWithListener:
        target = request.path.decode("latin-1")
        name = room_of(target)
        if name is None:
            return forbidden()
        view = http_request(target, list(request.headers.items()))
        if not origin_allowed(view, served.settings):
            log.warning("refused ws: origin %r not allowed", view.headers.get("origin"))
            return forbidden()
        return Listener(served, name, view, live)

    return route


async def main(port: int, db: str) -> None:
    """Serve until SIGTERM / SIGINT, then close clients, flush and stop."""
    settings = bench_settings(port, db)
    prepare_process(settings)
    ping = settings.ws_ping_interval
    live: set[Listener] = set()
    async with running_app(settings) as served:
        stop = stop_requested()
        server = await ws_create_server(
            listener_factory(served, live),
            settings.host,
            port,
            enable_auto_ping=ping > 0,
            auto_ping_idle_timeout=ping or 20,
            auto_ping_reply_timeout=ping or 20,
            max_frame_size=settings.max_frame_bytes,
        )
        code = await stop
        server.close()  # stop accepting
        await close_clients(served.state, code)
        await disconnected(live, settings.shutdown_timeout)


async def disconnected(live: set[Listener], timeout: float) -> None:
    """Until every socket is closed; those still open after `timeout` are dropped."""
    transports = [listener.transport for listener in live if listener.transport is not None]

    async def closed(transport: WSTransport) -> None:
        with contextlib.suppress(Exception):  # it raises what made picows drop it
            await transport.wait_disconnected()

    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(closed(t) for t in transports))
    except TimeoutError:
        for transport in transports:
            transport.disconnect(False)


def entry() -> None:
    """`python -m bench.peers.layer_picows PORT DB`."""
    port, db = parse_argv("bench.peers.layer_picows")
    run(main(port, db))


if __name__ == "__main__":
    entry()
