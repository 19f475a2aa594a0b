"""What the WebSocket-layer peers (bench/peers/layer_*.py) share: samepage's app and
lifespan for a benchmark (its settings, process knobs and store), the HTTP request the
admission checks read, stopping on a signal, and `Session`: one client socket between a
WebSocket layer's events and samepage's sync layer, the lifecycle of web/wsnative.py
(admit, connect, join, ordered frames, close) for any layer that can write a frame
without waiting (a `FrameSink`) or, through the sync layer's queue, one that cannot.

Every peer does the same work per update as `samepage serve`: the same `Connection`,
`handle_frame_nowait`, room, store (SQLite synchronous=FULL) and broadcast; only the
socket below differs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

import uvloop
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from storage.ysplit import use_pieces
from sync.connection import Connection
from sync.epochs import EPOCH_PARAM, epoch_claim
from sync.errors import CloseCode, SyncError
from sync.handler import handle_frame_nowait
from sync.room import Room
from sync.types import FrameSink, SyncSettings, Transport
from web.admission import admit, closed, join_room, refused, refused_input
from web.app import create_app
from web.logs import configure_logging
from web.server import SWITCH_INTERVAL_S
from web.settings import Settings
from web.state import AppState

log = logging.getLogger("samepage.web")
WS_PREFIX = "/ws/"
CLOSE_TIMEOUT_S = 5.0  # a close frame unanswered this long: the socket is dropped (wsnative)
TEXT_REFUSED = "text frames are not part of the protocol"  # closed 1003, as web/ws.py
USAGE = "usage: python -m {module} PORT DB{more}   (DB: a SQLite file path or memory://)"


def parse_argv(module: str, argv: Sequence[str] | None = None, more: str = "") -> tuple[int, str]:
    """PORT and DB from the command line; exits with the usage (`more`: the module's
    further arguments) on anything else."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or not args[0].isdigit():
        raise SystemExit(USAGE.format(module=module, more=more))
    return int(args[0]), args[1]


def bench_settings(port: int, db: str) -> Settings:
    """`samepage serve`'s defaults as bench/servers.py runs it: warning logs and the
    per-connection message rate limit off (a benchmark writer sends thousands of
    updates a second on one socket); SQLite synchronous=FULL as always."""
    return Settings(
        host="127.0.0.1",
        port=port,
        db=db,
        log_level="warning",
        sync=SyncSettings(messages_per_second=0),
    )


def prepare_process(settings: Settings) -> None:
    """The process-wide settings `web.server.serve` makes: logging, big updates applied
    in pieces, a 1 ms GIL switch interval."""
    configure_logging(settings.log_level, settings.log_format)
    use_pieces(True)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


@dataclass(frozen=True, slots=True)
class Served:
    """A started samepage app: what a session needs of it."""

    app: Starlette
    state: AppState

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        return self.state.settings

    @property
    def clustered(self) -> bool:
        """Whether the app shares its rooms with other nodes (never, in these peers)."""
        return getattr(self.app.state, "cluster", None) is not None


def build_app(settings: Settings) -> Starlette:
    """samepage's Starlette app, its heap frozen once started as `samepage serve` does."""
    return create_app(settings, freeze_heap=True)


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Served]:
    """samepage's app with its lifespan entered (store open, rooms managed); on the way
    out every room is flushed and the store closed."""
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        yield Served(app, app.state.samepage)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop, as `samepage serve` does."""
    uvloop.run(main)


def stop_requested() -> asyncio.Future[int]:
    """Resolves on the first SIGTERM (to close code 1012, a restart) or SIGINT (1001,
    going away), as `samepage serve`; later signals are ignored while it flushes."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[int] = loop.create_future()

    def requested(code: int) -> None:
        if not stop.done():
            stop.set_result(code)

    loop.add_signal_handler(signal.SIGTERM, requested, int(CloseCode.SERVICE_RESTART))
    loop.add_signal_handler(signal.SIGINT, requested, int(CloseCode.GOING_AWAY))
    return stop


async def close_clients(state: AppState, code: int) -> None:
    """What `SamepageServer.shutdown` does before the server's own part: mark the app
    as stopping, close every client with `code`, flush every room."""
    state.begin_shutdown()
    await state.manager.aclose(code)


def room_of(path: str) -> str | None:
    """The (unquoted) room name of a `/ws/{room}` path; None for any other path."""
    path = path.partition("?")[0]
    return unquote(path[len(WS_PREFIX) :]) if path.startswith(WS_PREFIX) else None


def http_request(
    target: str, headers: Sequence[tuple[str, str]], client: tuple[str, int] | None = None
) -> HTTPConnection:
    """The upgrade request as the admission checks read it (origin, token, epoch): a
    Starlette `HTTPConnection` over a minimal ASGI scope."""
    path, _, query = target.partition("?")
    scope = {
        "type": "websocket",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": client,
    }
    return HTTPConnection(scope)


class QueuedSocket(Transport, Protocol):
    """A socket whose sends await (an RSGI WebSocket): the sync layer writes it through
    a queue and a writer task per connection, as it writes an ASGI WebSocket. It can
    also start a close without waiting."""

    def close_with(self, code: int, reason: str) -> None:
        """Start the closing handshake with `code`."""


def peer_name(address: Any) -> str:
    """`host:port` of a socket's peer address, `?` when unknown."""
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return "?"


class Session:
    """One client socket of `/ws/{room}` as samepage's sync layer sees it (web/wsnative.py
    without the socket): `admit`, then `join_now` or `join`, `receive` every binary
    message in order, `closed` once the socket is gone."""

    __slots__ = ("conn", "gone", "peer", "room", "served", "sink", "started")

    def __init__(self, served: Served, sink: FrameSink | QueuedSocket, peer: str) -> None:
        self.served = served
        self.sink = sink
        self.peer = peer
        self.conn: Connection | None = None
        self.room: Room | None = None
        self.started = 0.0
        self.gone = False  # the socket is closed

    def admit(self, name: str, request: HTTPConnection) -> bool:
        """Room name, token and limits, then the connection; False: refused (the sink
        is closed with the refusal's code)."""
        state = self.served.state
        try:
            identity = admit(state, name, request)
        except SyncError as exc:
            self._refused(name, exc)
            return False
        conn = Connection(self.sink, identity, state.settings.sync, self.peer)
        conn.epoch_claim = epoch_claim(request.query_params.get(EPOCH_PARAM))
        conn.traffic = state.manager.traffic
        self.conn = conn
        self.started = time.monotonic()
        return True

    def join_now(self, name: str) -> bool:
        """Join room `name` without waiting if it is loaded and idle (no database);
        False: join with `join`."""
        manager = self.served.state.manager
        room = None if self.served.clustered else manager.acquire_loaded(name)
        if room is None:
            return False
        if room.busy:  # applying a big update: join through `join_room`
            manager.release(room)
            return False
        self._joined(room)
        return True

    async def join(self, name: str) -> bool:
        """Join room `name`, loading it if needed; False: refused (the sink is closed
        with its code) or the client left meanwhile."""
        state = self.served.state
        conn = self.conn
        assert conn is not None, "admit first"
        try:
            room, identity = await join_room(state, self.served.app, name, conn.identity)
        except SyncError as exc:
            conn.close_code = exc.code
            self.conn = None
            self._refused(name, exc)
            return False
        if self.gone:
            state.manager.release(room)
            return False
        conn.change_identity(identity)
        self._joined(room)
        return True

    def _joined(self, room: Room) -> None:
        conn = self.conn
        assert conn is not None
        self.room = room
        self.served.state.connection_opened()
        log.info("open room=%s peer=%s user=%s", room.name, self.peer, conn.identity.name or "-")
        room.join(conn)
        conn.start()  # a QueuedSocket's writer (nothing to do for a FrameSink)

    def _refused(self, name: str, exc: SyncError) -> None:
        refused(self.served.state, self.peer, name, exc)
        self.sink.close_with(exc.code, exc.detail[:120])

    def receive(self, payload: bytes) -> Awaitable[None] | None:
        """Process one binary message now; or return what must be awaited before the
        next message of this socket is handled (its errors are handled inside)."""
        conn = self.conn
        if conn is None:
            return None
        try:
            wait = handle_frame_nowait(conn, payload)
        except SyncError as exc:
            self.refuse(exc.code, exc.detail)
            return None
        except Exception:
            log.exception("internal error handling a frame from %s", self.peer)
            conn.abort(CloseCode.INTERNAL_ERROR, "internal error")
            return None
        return None if wait is None else self._finish(wait)

    async def _finish(self, wait: Awaitable[None]) -> None:
        try:
            await wait
        except SyncError as exc:
            self.refuse(exc.code, exc.detail)
        except Exception:
            log.exception("internal error handling a frame from %s", self.peer)
            if self.conn is not None:
                self.conn.abort(CloseCode.INTERNAL_ERROR, "internal error")

    def refuse(self, code: int, reason: str) -> None:
        """Close the socket for bad input (a text frame, a refused message) with `code`."""
        refused_input(self.room.name if self.room else "-", self.peer, code, reason)
        if self.conn is not None and self.conn.close_code is None:
            self.conn.abort(code, reason[:120])
        else:
            self.sink.close_with(code, reason[:120])

    def over_limits(self, frames: int, buffered: int) -> None:
        """The socket's write buffer is over its high-water mark with `frames` written
        since and `buffered` bytes in it: close a client that far behind (4508), as
        the native server does."""
        conn = self.conn
        if conn is None or conn.close_code is not None:
            return
        settings = conn.settings
        if frames > settings.outbound_queue_frames or buffered > settings.outbound_queue_bytes:
            conn.overflowed(frames, buffered)

    def closed(self, code: int | None) -> None:
        """The socket is closed (`code`: the client's close code, None if it vanished):
        leave the room, count, log."""
        self.gone = True
        conn, room = self.conn, self.room
        if conn is None or room is None:
            return
        state = self.served.state
        if conn.close_code is None:
            conn.close_code = code if code is not None else 1006
        state.connections -= 1
        conn.detach()
        state.manager.release(room)
        closed(state, conn, room.name, self.started)
