"""A real HTTP webhook receiver for tests: a threading HTTP server on a free loopback
port that records every POST (headers, JSON body, time) and answers as told: 200, a
number of failures first, or hanging (never answering in time)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One POST as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    @property
    def event(self) -> dict[str, Any]:
        """The JSON body."""
        value: dict[str, Any] = json.loads(self.body)
        return value


class Receiver:
    """`with Receiver() as hook:` — `hook.url`, `hook.received`, `hook.fail_next`,
    `hook.hang_s` (answer only after that long)."""

    def __init__(self) -> None:
        self.received: list[Received] = []  # answered 2xx
        self.attempts: list[Received] = []  # every POST, answered or not
        self.fail_next = 0  # answer this many POSTs with 503 first
        self.hang_s = 0.0
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                item = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with outer._lock:
                    outer.attempts.append(item)
                    failing = outer.fail_next > 0
                    if failing:
                        outer.fail_next -= 1
                if outer.hang_s:
                    time.sleep(outer.hang_s)
                status = 503 if failing else 200
                if not failing:
                    with outer._lock:
                        outer.received.append(item)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def events(self, kind: str | None = None, room: str | None = None) -> list[dict[str, Any]]:
        """Bodies received (2xx), optionally of one type and room."""
        with self._lock:
            found = [r.event for r in self.received]
        return [
            e
            for e in found
            if (kind is None or e["type"] == kind) and (room is None or e["room"] == room)
        ]

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
