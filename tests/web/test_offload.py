"""Worker processes for document-sized work, and the event-loop lag monitor."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest

from web.loopwatch import LoopWatch
from web.offload import Offload, OffloadError


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _boom() -> None:
    raise ValueError("bad document")


async def test_jobs_run_in_another_process_and_overruns_are_killed() -> None:
    pool = Offload(workers=1, timeout=5)
    try:
        first = await pool.run(_pid_after, 0)
        assert first != os.getpid()
        with pytest.raises(OffloadError) as caught:
            await pool.run(_pid_after, 30, timeout=0.5)
        assert caught.value.reason == "timeout"
        replaced = await pool.run(_pid_after, 0)  # a fresh worker took the killed one's place
        assert replaced not in (first, os.getpid())
        with pytest.raises(OffloadError) as failed:
            await pool.run(_boom)
        assert failed.value.reason == "failed" and "bad document" in failed.value.detail
        assert await pool.run(_pid_after, 0) == replaced  # a job's error keeps its worker
    finally:
        await pool.aclose()


async def test_a_caller_that_stops_waiting_does_not_share_the_worker() -> None:
    pool = Offload(workers=1, timeout=5)
    try:
        slow = asyncio.ensure_future(pool.run(_pid_after, 0.5))
        await asyncio.sleep(0.2)
        slow.cancel()
        # the next job waits for the worker instead of reading the cancelled job's reply
        assert isinstance(await pool.run(_pid_after, 0), int)
    finally:
        await pool.aclose()


async def test_loop_watch_measures_lag_and_names_a_stall(caplog: pytest.LogCaptureFixture) -> None:
    samples: list[float] = []
    watch = LoopWatch(samples.append, interval=0.02)
    watch.start()
    watch.active[1] = "GET /api/rooms/big/content?format=json"
    try:
        await asyncio.sleep(0.1)
        with caplog.at_level(logging.WARNING, logger="samepage.loop"):
            time.sleep(0.4)  # noqa: ASYNC251 -- the stall under test: the loop runs nothing
            await asyncio.sleep(0.1)
    finally:
        await watch.aclose()
    assert watch.stalls == 1 and max(samples) >= 0.3
    message = next(r.getMessage() for r in caplog.records if "stalled" in r.getMessage())
    assert "event loop stalled" in message and "GET /api/rooms/big/content" in message
    assert "test_loop_watch_measures_lag_and_names_a_stall" in message  # the sampled stack
