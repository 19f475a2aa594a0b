"""samepage's `WS /ws/{room}` on the `websockets` library's asyncio server
(`websockets.asyncio.server.serve`) instead of uvicorn, with samepage's sync layer and
store behind it (bench/peers/layers.py): `python -m bench.peers.layer_websockets PORT DB`.

One handler task per socket reads messages in order (`recv`), each handled by
`handle_frame_nowait` (awaited when it must be, before the next); frames go out on
websockets' synchronous write path, as `websockets.broadcast` does: framed and written
to the socket at once, no task or await per message (no coalescing per loop iteration
as the native server does).

Kept: keepalive pings (websockets' own, a task per socket: every `ws_ping_interval`
(20 s), dropped with 1011 when no pong comes within as long), the origin check (HTTP
403 before the upgrade, samepage's rule), room name / tokens / limits (`admit`, close
codes after the upgrade), samepage's close codes (sync/errors.py; 1009 for a message
over `max_frame_bytes` comes from websockets), the slow-consumer close (4508) when the
write buffer stays over its high-water mark, a graceful shutdown (stop accepting, 1012
on SIGTERM / 1001 on SIGINT to every client, rooms flushed, store closed).
Lacks: only `/ws/{room}` is served (no HTTP API, no /healthz: other paths get 403),
no trusted-proxy X-Forwarded-For, no `--workers`/cluster. Reading stops while a
message is awaited only once websockets' receive queue (16 messages) is full."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from http import HTTPStatus

from starlette.requests import HTTPConnection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

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


class WebsocketsSink:
    """A websockets connection as a FrameSink: writes without waiting."""

    __slots__ = ("_closing", "_paused_frames", "session", "ws")

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.session: Session | None = None
        self._paused_frames = 0
        self._closing: asyncio.Task[None] | None = None

    def write_frame(self, frame: bytes) -> None:
        """Frame and write one binary message now (websockets.broadcast's path)."""
        ws = self.ws
        if ws.protocol.state is not State.OPEN:
            return
        try:
            ws.protocol.send_binary(frame)
            ws.send_data()
        except Exception as exc:  # the socket went away: the handler sees the close
            log.debug("write to %s failed: %s", ws.remote_address, exc)
            return
        if ws.paused:  # over the write buffer's high-water mark
            self._paused_frames += 1
            if self.session is not None:
                self.session.over_limits(self._paused_frames, ws.transport.get_write_buffer_size())
        elif self._paused_frames:
            self._paused_frames = 0

    def close_with(self, code: int, reason: str) -> None:
        """Start the closing handshake with `code` (websockets times it out)."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self.ws.close(code, reason))

    async def wait_closed(self) -> None:
        """Until the close started by `close_with` is done."""
        if self._closing is not None:
            await self._closing


def request_of(ws: ServerConnection) -> HTTPConnection:
    """The upgrade request of `ws` as the admission checks read it."""
    request = ws.request
    assert request is not None, "after the opening handshake"
    client = ws.remote_address if isinstance(ws.remote_address, tuple) else None
    return http_request(request.path, list(request.headers.raw_items()), client)


def upgrade_check(served: Served) -> Callable[[ServerConnection, Request], Response | None]:
    """websockets' `process_request`: HTTP 403 for another path or a foreign origin."""

    def check(ws: ServerConnection, request: Request) -> Response | None:
        if room_of(request.path) is None:
            return ws.respond(HTTPStatus.FORBIDDEN, "")
        if not origin_allowed(request_of(ws), served.settings):
            log.warning(
                "refused ws peer=%s: origin %r not allowed",
                peer_name(ws.remote_address),
                request.headers.get("origin"),
            )
            return ws.respond(HTTPStatus.FORBIDDEN, "")
        return None

    return check


async def handle(served: Served, ws: ServerConnection) -> None:
    """One client, from the upgrade to the close."""
    sink = WebsocketsSink(ws)
    session = sink.session = Session(served, sink, peer_name(ws.remote_address))
    assert ws.request is not None
    name = room_of(ws.request.path)
    assert name is not None, "checked before the upgrade"
    try:
        if session.admit(name, request_of(ws)) and (
            session.join_now(name) or await session.join(name)
        ):
            await read_loop(session, ws)
    except ConnectionClosed:
        pass
    finally:
        session.closed(ws.close_code)
        await sink.wait_closed()


async def read_loop(session: Session, ws: ServerConnection) -> None:
    """Every message in order until the socket closes (`ConnectionClosed`)."""
    while True:
        message = await ws.recv()
        if isinstance(message, str):
            session.refuse(CloseCode.UNSUPPORTED_DATA, TEXT_REFUSED)
            continue
        wait = session.receive(message)
        if wait is not None:
            await wait


async def main(port: int, db: str) -> None:
    """Serve until SIGTERM / SIGINT, then close clients, flush and stop."""
    settings = bench_settings(port, db)
    prepare_process(settings)
    ping = settings.ws_ping_interval or None
    async with running_app(settings) as served:
        stop = stop_requested()
        server = await serve(
            partial(handle, served),
            settings.host,
            port,
            process_request=upgrade_check(served),
            compression=None,  # samepage serves without permessage-deflate
            max_size=settings.max_frame_bytes,
            ping_interval=ping,
            ping_timeout=ping,
            close_timeout=CLOSE_TIMEOUT_S,
        )
        code = await stop
        await shut_down(server, served, code)


async def shut_down(server: Server, served: Served, code: int) -> None:
    """Stop accepting (a handshake in flight gets 503), close every client with `code`
    and flush the rooms, then wait for the sockets (aborted after the timeout)."""
    server.close(close_connections=False)
    await close_clients(served.state, code)
    try:
        async with asyncio.timeout(served.settings.shutdown_timeout):
            await server.wait_closed()
    except TimeoutError:
        for ws in list(server.all_connections):
            ws.transport.abort()
        await server.wait_closed()


def entry() -> None:
    """`python -m bench.peers.layer_websockets PORT DB`."""
    port, db = parse_argv("bench.peers.layer_websockets")
    run(main(port, db))


if __name__ == "__main__":
    entry()
