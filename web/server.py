"""Running the app under uvicorn, with our own close codes on shutdown."""

from __future__ import annotations

import logging
import signal
import socket
import sys
from types import FrameType

import uvicorn

from storage.ysplit import use_pieces
from sync.errors import CloseCode
from web.app import create_app
from web.logs import configure_logging
from web.settings import Settings
from web.state import AppState
from web.workers import reuse_port_socket
from web.wshub import WsHub
from web.wsnative import protocol_class

log = logging.getLogger("samepage.web")
SWITCH_INTERVAL_S = 0.001


class SamepageServer(uvicorn.Server):
    """uvicorn.Server that closes clients itself (1001 on Ctrl-C, 1012 on SIGTERM) and
    flushes every room before uvicorn tears the connections down."""

    close_code: int = CloseCode.GOING_AWAY

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Remember which signal asked us to stop."""
        if sig == signal.SIGTERM:
            self.close_code = CloseCode.SERVICE_RESTART
        super().handle_exit(sig, frame)
        # uvicorn re-raises the signals it caught once it has shut down, which turns a
        # clean stop into "killed by SIGTERM"; samepage's stop is graceful: exit 0, also
        # when a second signal arrives while it flushes (systemd, a test's stop()).
        self._captured_signals.clear()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop accepting, close clients with our code, flush rooms, then uvicorn's part."""
        for server in self.servers:
            server.close()
        app = self.config.loaded_app
        state = find_state(app)
        if state is not None:
            state.begin_shutdown()
            await state.manager.aclose(self.close_code)
        await super().shutdown(sockets)


def find_state(app: object) -> AppState | None:
    """uvicorn wraps the app in middleware; walk down to ours."""
    for _ in range(10):
        state = getattr(getattr(app, "state", None), "samepage", None)
        if isinstance(state, AppState):
            return state
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def serve(settings: Settings) -> None:
    """Run samepage until interrupted."""
    configure_logging(settings.log_level, settings.log_format)
    use_pieces(True)  # big updates in pieces: the loop gets the GIL between two
    # The event loop shares the GIL with the threads that apply big updates, build
    # checkpoints and commit: when one of them computes, the loop waits up to the switch
    # interval each time it wants the GIL back (after every poll, every syscall). 1 ms
    # instead of 5: loop lag p50 1.2 instead of 5.3 ms, p99 4.5-8.7 instead of 10.7-23
    # ms while a big update goes in (/tmp/exp/switch_exp.py), the same total work.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    hub = WsHub(settings)
    config = uvicorn.Config(
        create_app(settings, freeze_heap=True),
        host=settings.host,
        port=settings.port,
        # `WS /ws/{room}` natively (web.wsnative): no ASGI message or task per frame;
        # uvicorn's implementations (ASGI, web.ws) stay available for comparison.
        ws=protocol_class(hub) if settings.ws == "native" else settings.ws,
        ws_ping_interval=settings.ws_ping_interval or None,
        ws_ping_timeout=settings.ws_ping_interval or None,
        ws_max_size=settings.max_frame_bytes * 2,
        ws_per_message_deflate=False,
        lifespan="on",
        log_config=None,
        access_log=False,  # ours, by route template: --access-log (web.httpobs)
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=max(1, int(settings.shutdown_timeout)),
    )
    # Workers of `--workers N` each bind the port with SO_REUSEPORT (uvicorn does not).
    sockets = [reuse_port_socket(settings.host, settings.port)] if settings.reuse_port else None
    SamepageServer(config).run(sockets=sockets)
