"""CORS for the HTTP API, following `--allowed-origin` (the list the WebSocket origin
check uses): a page served from an allowed origin may call the API and read its
answers, and the browser's preflight (`OPTIONS`) is answered. Other origins get no
CORS headers (their browser keeps the answer from them) and a 403 to a preflight."""

from __future__ import annotations

import json

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.guard import origin_allowed
from web.settings import Settings

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, X-Samepage-Author, Last-Event-ID"
EXPOSE_HEADERS = "X-Samepage-Seq, X-Samepage-Next-Cursor, Link, Retry-After"
MAX_AGE_S = 600
API_PREFIXES = ("/api/", "/openapi.json")


class Cors:
    """ASGI middleware: CORS headers for allowed origins, preflights answered here."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer a preflight, or pass the request on and mark an allowed answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not scope["path"].startswith(API_PREFIXES):
            # Pages and static files stay as they were: a `Vary: Origin` on the editor's
            # module script kept the service worker's cached copy from matching offline.
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:  # not a browser's cross-origin call
            await self.app(scope, receive, send)
            return
        allowed = origin_allowed(HTTPConnection(scope), self.settings)
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, allowed, send)
            return
        if not allowed:
            await self.app(scope, receive, send)
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["Access-Control-Allow-Origin"] = origin
                out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
                out.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, marked)

    async def _preflight(self, origin: str, allowed: bool, send: Send) -> None:
        if allowed:
            status, body = 204, b""
            extra = [
                (b"access-control-allow-origin", origin.encode("latin-1")),
                (b"access-control-allow-methods", ALLOW_METHODS.encode()),
                (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
                (b"access-control-max-age", str(MAX_AGE_S).encode()),
            ]
        else:
            status, extra = 403, [(b"content-type", b"application/json")]
            detail = f"origin {origin[:100]} is not in --allowed-origin"
            body = json.dumps({"error": "origin_not_allowed", "detail": detail}).encode()
        headers = [*extra, (b"vary", b"Origin"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
