"""Per-connection rate limiting: a token bucket that throttles, then closes a flooder."""

from __future__ import annotations

import asyncio
import time

from sync.errors import CloseCode, LimitExceeded

THROTTLE_CLOSE_AFTER_S = 2.0


class TokenBucket:
    """`rate` messages per second with bursts up to `burst`. When empty the reader
    waits (backpressure: the socket is not read); a client kept waiting for more than
    `THROTTLE_CLOSE_AFTER_S` in one episode is closed with 4529."""

    __slots__ = ("_last", "_throttled", "burst", "rate", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = max(1, burst or int(rate * 2))
        self.tokens = float(self.burst)
        self._last = time.monotonic()
        self._throttled = 0.0

    def try_take(self) -> float:
        """Take one token if there is one (0.0), else return how long to wait for it
        (then call `take_after`); raise LimitExceeded for a flooder."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self._last) * self.rate)
        self._last = now
        if self.tokens >= self.burst:
            self._throttled = 0.0  # a full bucket ends a throttling episode
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        wait = (1 - self.tokens) / self.rate
        self._throttled += wait
        if self._throttled > THROTTLE_CLOSE_AFTER_S:
            raise LimitExceeded("message rate limit exceeded", CloseCode.RATE_LIMITED)
        return wait

    async def take_after(self, wait: float) -> None:
        """Wait `wait` seconds (from `try_take`), then take the token that accrued."""
        await asyncio.sleep(wait)
        self.tokens = 0.0
        self._last = time.monotonic()

    async def take(self) -> None:
        """Take one token, waiting if needed; raise LimitExceeded for a flooder."""
        wait = self.try_take()
        if wait:
            await self.take_after(wait)
