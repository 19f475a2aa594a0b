"""What every native WebSocket of one server shares: the app state, frames encoded
once for all subscribers, writes coalesced once per event-loop iteration, and one
keepalive sweep instead of two timers per socket."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from web import wsframes
from web.proxy import TrustedProxies
from web.settings import Settings
from web.state import AppState

if TYPE_CHECKING:
    from web.wsnative import WebSocketProtocol

log = logging.getLogger("samepage.web")
PING = wsframes.encode_frame(wsframes.PING, b"")


class WsHub:
    """Shared by the native WebSocket protocols of one server (see `web.wsnative`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proxies = TrustedProxies(settings.forwarded_allow_ips)
        self.app: Any = None
        self.state: AppState | None = None
        self.cluster: object | None = None
        self.open: set[WebSocketProtocol] = set()
        self._last_payload: bytes | None = None
        self._last_frame = b""
        self._dirty: list[WebSocketProtocol] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def attach(self, app: Any) -> AppState | None:
        """Find the app state (made by the lifespan) under uvicorn's wrappers."""
        if self.state is None:
            for _ in range(10):
                state = getattr(getattr(app, "state", None), "samepage", None)
                if isinstance(state, AppState):
                    self.app = app
                    self.cluster = getattr(app.state, "cluster", None)
                    self.state = state
                    break
                app = getattr(app, "app", None)
                if app is None:
                    break
        return self.state

    def frame(self, payload: bytes) -> bytes:
        """The binary frame of `payload`, encoded once however many sockets it goes to:
        a room hands the same bytes object to each subscriber in turn."""
        if payload is not self._last_payload:
            self._last_frame = wsframes.encode_binary(payload)
            self._last_payload = payload
        return self._last_frame

    def mark_dirty(self, proto: WebSocketProtocol) -> None:
        """`proto` has frames to write: flush them at the end of this loop iteration."""
        if not self._dirty:
            loop = self._loop or asyncio.get_running_loop()
            self._loop = loop
            loop.call_soon(self._flush)
        self._dirty.append(proto)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for proto in dirty:
            proto.flush()

    def added(self, proto: WebSocketProtocol) -> None:
        """A socket finished its handshake: keep it alive with pings."""
        self.open.add(proto)
        interval = self.settings.ws_ping_interval
        if self._sweeper is None and interval > 0:
            loop = self._loop = self._loop or asyncio.get_running_loop()
            self._sweeper = loop.call_later(interval, self._sweep)

    def removed(self, proto: WebSocketProtocol) -> None:
        """A socket is closed."""
        self.open.discard(proto)

    def _sweep(self) -> None:
        """Every interval: a socket silent since the last sweep gets a ping; one still
        silent at the next sweep (no pong, nothing else) is dropped, and its presence
        removed with it. A vanished peer is gone within 2-3 intervals."""
        self._sweeper = None
        for proto in list(self.open):
            if proto.alive:
                proto.alive = False
                proto.pinged = False
            elif proto.pinged:
                proto.keepalive_timeout()
            else:
                proto.pinged = True
                proto.write_raw(PING)
        if self.open and self._loop is not None:
            self._sweeper = self._loop.call_later(self.settings.ws_ping_interval, self._sweep)

    def close(self) -> None:
        """Stop the keepalive sweep."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
