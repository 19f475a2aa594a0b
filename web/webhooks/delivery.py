"""Sending events: every (event, URL) is one delivery in a bounded queue, POSTed by a
few sender tasks with a hard per-call timeout (a receiver that hangs costs one sender
`timeout` seconds, never the event loop). A failed attempt is retried after
min(cap, base * 2**n) seconds, 50-100 % of it at random (jitter); the retry waits on
a timer, not in a sender. Deliveries waiting to retry count against the queue bound;
an event that finds the queue full is dropped, counted and logged. Outcomes go to
metrics and to the recent deliveries the admin page shows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from web.webhooks.config import SIGNATURE_HEADER, WebhookSettings, signature

log = logging.getLogger("samepage.webhooks")
RECENT = 100  # deliveries the admin page shows
USER_AGENT = "samepage-webhooks/1"

Outcome = Callable[[str, float], None]  # (outcome, seconds of the attempt)


@dataclass(slots=True)
class Delivery:
    """One event for one URL."""

    event: dict[str, Any]
    body: bytes
    url: str
    attempt: int = 0
    queued: float = field(default_factory=time.monotonic)


class WebhookSender:
    """The queue and its sender tasks (`start` ... `aclose`)."""

    def __init__(self, settings: WebhookSettings, on_outcome: Outcome | None = None) -> None:
        self.settings = settings
        self.on_outcome = on_outcome or (lambda outcome, seconds: None)
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self.pending = 0  # queued + waiting to retry + being sent
        self.dropped = 0
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: dict[int, asyncio.TimerHandle] = {}  # id(delivery) -> its retry
        self._client: httpx.AsyncClient | None = None
        self._closed = False
        self._last_drop_log = 0.0

    async def start(self) -> None:
        """Open the HTTP client and start the senders."""
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._send_loop(), name=f"webhook-sender-{i}")
            for i in range(self.settings.senders)
        ]

    def emit(self, event: dict[str, Any]) -> None:
        """Queue `event` for every URL (never waits; dropped when the queue is full)."""
        if self._closed:
            return
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        for url in self.settings.urls:
            if self.pending >= self.settings.queue:
                self._drop(event, url)
                continue
            self.pending += 1
            self._queue.put_nowait(Delivery(event, body, url))

    def _drop(self, event: dict[str, Any], url: str) -> None:
        self.dropped += 1
        self.on_outcome("dropped", 0.0)
        self._remember(Delivery(event, b"", url), "dropped", None, 0.0, "queue full")
        now = time.monotonic()
        if now - self._last_drop_log >= 1.0:  # one line a second at most
            self._last_drop_log = now
            log.warning(
                "webhook queue full (%d): dropped %s for %s (%d dropped so far)",
                *(self.settings.queue, event["type"], url, self.dropped),
            )

    async def _send_loop(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                await self._attempt(delivery)
            except Exception as exc:  # a bug must not stop the sender
                log.error("webhook sender failed on %s: %r", delivery.url, exc)
                self.pending -= 1
            finally:
                self._queue.task_done()

    async def _attempt(self, delivery: Delivery) -> None:
        assert self._client is not None
        delivery.attempt += 1
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Samepage-Event": str(delivery.event["type"]),
            "X-Samepage-Delivery": str(delivery.event["id"]),
            "X-Samepage-Attempt": str(delivery.attempt),
        }
        if self.settings.secret:
            headers[SIGNATURE_HEADER] = signature(
                self.settings.secret, delivery.body, int(time.time())
            )
        started = time.monotonic()
        status: int | None = None
        try:
            response = await asyncio.wait_for(
                self._client.post(delivery.url, content=delivery.body, headers=headers),
                self.settings.timeout,
            )
            status = response.status_code
            outcome = "delivered" if 200 <= status < 300 else "http_error"
            error = "" if outcome == "delivered" else f"HTTP {status}"
        except TimeoutError:
            outcome, error = "timeout", f"no answer within {self.settings.timeout:g} s"
        except httpx.HTTPError as exc:
            outcome, error = "connection_error", f"{type(exc).__name__}: {exc}"[:200]
        seconds = time.monotonic() - started
        self.on_outcome(outcome, seconds)
        self._remember(delivery, outcome, status, seconds, error)
        if outcome == "delivered":
            self.pending -= 1
            return
        if delivery.attempt >= self.settings.attempts or self._closed:
            self.pending -= 1
            self.on_outcome("gave_up", 0.0)
            self._remember(delivery, "gave_up", status, 0.0, error)
            log.warning(
                "webhook %s to %s given up after %d attempts: %s",
                *(delivery.event["type"], delivery.url, delivery.attempt, error),
            )
            return
        delay = self.backoff(delivery.attempt)
        log.info(
            "webhook %s to %s failed (%s), attempt %d; retrying in %.1f s",
            *(delivery.event["type"], delivery.url, error, delivery.attempt, delay),
        )
        loop = asyncio.get_running_loop()
        self._timers[id(delivery)] = loop.call_later(delay, self._retry, delivery)

    def backoff(self, attempts: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds before attempt `attempts + 1`: exponential, capped, with jitter."""
        step = min(self.settings.retry_cap, self.settings.retry_base * 2.0 ** (attempts - 1))
        return float(step * (0.5 + 0.5 * rand()))

    def _retry(self, delivery: Delivery) -> None:
        self._timers.pop(id(delivery), None)
        self._queue.put_nowait(delivery)

    def _remember(
        self, delivery: Delivery, outcome: str, status: int | None, seconds: float, error: str
    ) -> None:
        event = delivery.event
        self.recent.appendleft(
            {
                "time": time.time(),
                "id": event["id"],
                "type": event["type"],
                "room": event.get("room"),
                "url": delivery.url,
                "attempt": delivery.attempt,
                "outcome": outcome,
                "status": status,
                "ms": round(seconds * 1000, 1),
                "error": error,
            }
        )

    async def aclose(self, grace: float = 2.0) -> None:
        """Send what is queued for up to `grace` seconds, then stop (idempotent):
        retries still waiting are given up."""
        if self._closed:
            return
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self.pending -= len(self._timers)
        self._timers.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()
