"""The HTTP side of `WS /ws/{room}` on the native server (web/wsnative.py): reading the
upgrade request, the checks made before anything is allocated (a WebSocket upgrade,
version 13, the /ws/ path, the origin: HTTP 400/426/403 before the upgrade) and the
responses. Room name, token and limits come after the upgrade (close codes)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from starlette.requests import HTTPConnection

from web import wsframes
from web.guard import origin_allowed

log = logging.getLogger("samepage.web")
MAX_REQUEST = 16 * 1024

Headers = list[tuple[bytes, bytes]]


class Refused(Exception):
    """The request is answered with HTTP `status` (and `extra` header lines) and closed."""

    def __init__(self, status: str, extra: str = "") -> None:
        super().__init__(status)
        self.status = status
        self.extra = extra


@dataclass(slots=True)
class Upgrade:
    """An upgrade request that passed the checks."""

    room: str  # the room name, unquoted (checked after the upgrade)
    request: HTTPConnection
    key: str  # sec-websocket-key
    peer: str  # the client (from a trusted proxy's x-forwarded-for, if any)


def read_request(buffer: bytes) -> tuple[str, Headers] | None:
    """The target and headers of the request in `buffer`; None while it is incomplete.
    Raises `Refused` for one that is too long or not a GET."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_REQUEST:
            raise Refused("431 Request Header Fields Too Large")
        return None
    lines = buffer[:end].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip().lower().encode("latin-1"), value.strip().encode("latin-1")))
    if len(parts) != 3 or parts[0] != "GET":
        raise Refused("400 Bad Request")
    return parts[1], headers


def check_upgrade(target: str, headers: Headers, state: Any, proxies: Any, peer: str) -> Upgrade:
    """The checks before the upgrade (`state`: the app's state, None before startup;
    `proxies`: the trusted proxies). Raises `Refused`."""
    path, _, query = target.partition("?")
    scope = {"type": "websocket", "headers": headers, "query_string": query.encode("latin-1")}
    request = HTTPConnection(scope)
    if "x-forwarded-for" in request.headers:  # the real client, from a trusted proxy
        host = peer.rpartition(":")[0]
        client = proxies.client(host, request.headers)
        peer = peer if client == host else client
    key = request.headers.get("sec-websocket-key", "")
    if request.headers.get("upgrade", "").lower() != "websocket" or not wsframes.valid_key(key):
        raise Refused("400 Bad Request")
    if request.headers.get("sec-websocket-version") != "13":
        raise Refused("426 Upgrade Required", "sec-websocket-version: 13\r\n")
    if state is None or not path.startswith("/ws/"):
        raise Refused("403 Forbidden")
    if not origin_allowed(request, state.settings):
        # Before the upgrade: the browser sees HTTP 403.
        log.warning("refused ws peer=%s: origin %r not allowed", peer, request.headers["origin"])
        raise Refused("403 Forbidden")
    return Upgrade(unquote(path[4:]), request, key, peer)


def refusal(status: str, extra: str = "") -> bytes:
    """The HTTP response refusing an upgrade."""
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: 0\r\nconnection: close\r\n{extra}\r\n"
    ).encode("latin-1")


def switching_protocols(key: str) -> bytes:
    """The 101 response accepting the upgrade of the request with `key`."""
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n"
        b"sec-websocket-accept: " + wsframes.accept_key(key).encode("ascii") + b"\r\n\r\n"
    )
