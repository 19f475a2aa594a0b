"""Event-loop lag: how late the loop runs a timer, as a histogram, and a warning naming
what ran for any stall over 250 ms (every room shares the loop: a stall is a bug).

A task sleeps `interval` and measures how late it wakes. A watchdog thread notices a
loop that has not ticked for STALL_S and samples the loop thread's stack, so the
warning can say what held it; the requests in flight are named too (a Rust call that
holds the GIL keeps the watchdog out until it returns, then the requests tell)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("samepage.loop")
STALL_S = 0.25
INTERVAL_S = 0.05


def freeze_heap() -> None:
    """Put every object alive now out of the garbage collector's reach. Called once the
    server has started, that is mostly the imported code (~110,000 functions, types and
    dicts), which every full collection scanned again under load: s2 at 10,000 updates/s
    paused the loop 40-50 ms each time, 8-10 ms with them frozen (p99 latency 30-35
    against 55-85 ms). For a process that runs one server: an object frozen now that
    later becomes part of a garbage cycle is never freed."""
    gc.collect()
    gc.freeze()


class LoopWatch:
    """Measures the loop's lag while started; `observe(seconds)` gets every sample."""

    def __init__(self, observe: Callable[[float], None], interval: float = INTERVAL_S) -> None:
        self.observe = observe
        self.interval = interval
        self.worst = 0.0
        self.stalls = 0
        self.active: dict[int, str] = {}  # requests in flight: id -> "GET /path"
        self._beat = time.monotonic()
        self._sample: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._loop_thread = threading.get_ident()

    def start(self) -> None:
        """Start measuring (on the running loop)."""
        self._loop_thread = threading.get_ident()
        self._beat = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-watch")
        self._thread = threading.Thread(target=self._watchdog, name="loop-watchdog", daemon=True)
        self._thread.start()

    async def aclose(self) -> None:
        """Stop measuring (idempotent)."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            lag = max(0.0, now - before - self.interval)
            self._beat = now
            self.observe(lag)
            self.worst = max(self.worst, lag)
            if lag > STALL_S:
                self.stalls += 1
                sample, self._sample = self._sample, None
                log.warning(
                    "event loop stalled %.0f ms; requests in flight: %s; %s",
                    lag * 1000,
                    ", ".join(sorted(set(self.active.values()))) or "none",
                    f"it was running: {sample}" if sample else "no stack sample (GIL held)",
                )

    def _watchdog(self) -> None:
        while not self._stop.wait(self.interval):
            if time.monotonic() - self._beat > STALL_S and self._sample is None:
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    stack = traceback.extract_stack(frame)[-6:]
                    self._sample = " <- ".join(
                        f"{f.name} ({f.filename.rsplit('/', 2)[-2:][-1]}:{f.lineno})"
                        for f in reversed(stack)
                    )


class ActiveRequests:
    """ASGI middleware recording each HTTP request in flight on the `LoopWatch`."""

    def __init__(self, app: ASGIApp, watch: Callable[[], LoopWatch | None]) -> None:
        self.app = app
        self.watch = watch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch = self.watch() if scope["type"] in ("http", "websocket") else None
        if watch is None:
            await self.app(scope, receive, send)
            return
        key = id(scope)
        query = scope.get("query_string", b"").decode("latin-1")
        watch.active[key] = f"{scope.get('method', 'WS')} {scope['path']}" + (
            f"?{query[:80]}" if query else ""
        )
        try:
            await self.app(scope, receive, send)
        finally:
            watch.active.pop(key, None)
