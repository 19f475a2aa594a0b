"""The targets granian's worker imports (bench/peers/layer_granian.py), made on first
access in that worker, on the database named by the launcher's `BENCH_LAYER_DB`:

- `app`: samepage's full Starlette app as an ASGI application, so that its ASGI
  WebSocket endpoint (web/ws.py) runs under granian instead of uvicorn;
- `rsgi_app`: `/ws/{room}` on granian's own RSGI interface (no ASGI message dicts):
  the same `Session` lifecycle as the other layer peers (bench/peers/layers.py), each
  connection written through the sync layer's queue and writer task (RSGI's sends
  await), as under ASGI. Nothing else is served (404). RSGI closes carry no code."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from granian._granian import RSGIHTTPProtocol, RSGIProtocolClosed, RSGIWebsocketProtocol
from granian.rsgi import Scope, WebsocketMessageType
from starlette.applications import Starlette

from bench.peers.layer_granian import DB_VARIABLE, PORT_VARIABLE
from bench.peers.layers import (
    TEXT_REFUSED,
    Served,
    Session,
    bench_settings,
    build_app,
    http_request,
    prepare_process,
    room_of,
    running_app,
)
from sync.errors import CloseCode
from web.guard import origin_allowed
from web.settings import Settings


def worker_settings() -> Settings:
    """The launcher's settings, and this worker process set up as `samepage serve`."""
    settings = bench_settings(int(os.environ.get(PORT_VARIABLE, "0")), os.environ[DB_VARIABLE])
    prepare_process(settings)
    return settings


class RsgiSocket:
    """An accepted RSGI WebSocket as the sync layer's Transport (a `QueuedSocket`)."""

    __slots__ = ("closed", "proto", "transport")

    def __init__(self, proto: RSGIWebsocketProtocol, transport: Any) -> None:
        self.proto = proto
        self.transport = transport
        self.closed = False

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary message."""
        await self.transport.send_bytes(data)

    async def close(self, code: int, reason: str = "") -> None:
        """Close with `code` (RSGI sends no reason)."""
        self.close_with(code, reason)

    def close_with(self, code: int, reason: str) -> None:
        """Close with `code` now (idempotent)."""
        if not self.closed:
            self.closed = True
            self.proto.close(code)


class RsgiApp:
    """`/ws/{room}` over RSGI; samepage's lifespan runs in granian's init/del hooks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.served: Served | None = None
        self._stack = contextlib.AsyncExitStack()

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        """Before serving: start samepage (store, rooms)."""
        self.served = loop.run_until_complete(
            self._stack.enter_async_context(running_app(self.settings))
        )

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        """After serving: close the clients left, flush the rooms, close the store."""
        loop.run_until_complete(self._stack.aclose())

    async def __rsgi__(self, scope: Scope, proto: RSGIHTTPProtocol | RSGIWebsocketProtocol) -> None:
        """One request: a WebSocket of `/ws/{room}`, or 404."""
        if isinstance(proto, RSGIWebsocketProtocol):
            assert self.served is not None, "__rsgi_init__ first"
            await serve_websocket(self.served, scope, proto)
        else:
            proto.response_empty(404, [])


async def serve_websocket(served: Served, scope: Scope, proto: RSGIWebsocketProtocol) -> None:
    """One client, from the upgrade to the close."""
    target = f"{scope.path}?{scope.query_string}" if scope.query_string else scope.path
    request = http_request(target, list(scope.headers.items()))
    name = room_of(scope.path)
    if name is None or not origin_allowed(request, served.settings):
        proto.close(403)  # before the upgrade: an HTTP status
        return
    socket = RsgiSocket(proto, await proto.accept())
    session = Session(served, socket, scope.client)
    code: int | None = None
    try:
        if session.admit(name, request) and (session.join_now(name) or await session.join(name)):
            code = await read_loop(session, socket, served.settings.max_frame_bytes)
    except RSGIProtocolClosed:
        pass
    finally:
        session.closed(code)


async def read_loop(session: Session, socket: RsgiSocket, max_frame: int) -> int | None:
    """Every message in order until the client closes (1000) or the socket is gone."""
    while not socket.closed:
        message = await socket.transport.receive()
        if message.kind == WebsocketMessageType.close:
            return int(CloseCode.NORMAL)
        data = message.data
        if not isinstance(data, bytes):
            session.refuse(CloseCode.UNSUPPORTED_DATA, TEXT_REFUSED)
        elif len(data) > max_frame:
            session.refuse(CloseCode.TOO_BIG, f"frame of {len(data)} bytes")
        elif (wait := session.receive(data)) is not None:
            await wait
    return None


def __getattr__(name: str) -> Starlette | RsgiApp:
    """`app` and `rsgi_app`, made when granian's worker loads its target."""
    if name == "app":
        return build_app(worker_settings())
    if name == "rsgi_app":
        return RsgiApp(worker_settings())
    raise AttributeError(name)
