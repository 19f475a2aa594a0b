"""ASGI middleware timing every HTTP request by its route template (never by room:
`/api/rooms/{room}/content`, so the series stay few) and, with `--access-log`, one log
line per request (`samepage.access`: method, path without the query, route, status,
duration, peer — the real client behind a trusted proxy)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access = logging.getLogger("samepage.access")
Observe = Callable[[str, str, int, float], None]  # method, route, status, seconds


def route_of(scope: Scope) -> str:
    """The matched route's template (`unmatched` when none did, e.g. a 404)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class RequestTiming:
    """Observe each HTTP request's duration; log it when the access log is on."""

    def __init__(self, app: ASGIApp, observe: Observe, access_log: bool = False) -> None:
        self.app = app
        self.observe = observe
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees when the app fails before answering

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            route, method = route_of(scope), scope.get("method", "GET")
            self.observe(method, route, status, seconds)
            if self.access_log:
                client = scope.get("client")
                access.info(
                    "access method=%s path=%s route=%s status=%d duration=%.4f peer=%s",
                    method,
                    scope.get("path", ""),
                    route,
                    status,
                    seconds,
                    client[0] if client else "-",
                )
