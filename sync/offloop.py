"""Applying big updates off the event loop: one queue per room, in order, in a worker
thread (in pieces, storage/ysplit.py: pycrdt holds the GIL while it decodes). While the
queue is not empty the room is *busy*: its Doc belongs to the thread, and everything
else that touches the Doc waits (`idle`) or is refused (`check_idle`), never racing it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sync.errors import RoomUnavailable

Outcome = TypeVar("Outcome")
Result = TypeVar("Result")


class OffLoopApplier:
    """Runs jobs on a room's Doc in a worker thread (of `pool`, which rooms share), one
    at a time, in order: `work()` in the thread, then `settle(outcome)` back on the loop
    (its value or exception resolves the job's future); `on_idle()` when the queue has
    emptied."""

    def __init__(self, on_idle: Callable[[], None], pool: Executor | None = None) -> None:
        self._on_idle = on_idle
        self._pool = pool  # None: the loop's default executor
        self._queue: deque[_Job[Any, Any]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        """A job is running (or waits to): the Doc is not the loop's."""
        return bool(self._queue)

    async def idle(self) -> None:
        """Wait until the queue is empty."""
        while self._queue:
            await self._idle.wait()

    def check_idle(self) -> None:
        """Refuse a synchronous use of the Doc while busy (a caller forgot `idle`)."""
        if self._queue:
            raise RoomUnavailable("room is applying a large update")

    def submit(
        self, work: Callable[[], Outcome], settle: Callable[[Outcome], Result]
    ) -> asyncio.Future[Result]:
        """Queue a job; the future resolves once it has run and settled."""
        result: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append(_Job(work, settle, result))
        if len(self._queue) == 1:
            self._idle.clear()
            self._start()
        return result

    def _start(self) -> None:
        work = asyncio.get_running_loop().run_in_executor(self._pool, self._queue[0].work)
        work.add_done_callback(self._done)

    def _done(self, work: asyncio.Future[Any]) -> None:
        job = self._queue.popleft()
        try:
            settled = job.settle(work.result())
        except Exception as exc:
            job.result.set_exception(exc)
        else:
            job.result.set_result(settled)
        if self._queue:
            self._start()
            return
        self._idle.set()
        self._on_idle()


@dataclass(slots=True)
class _Job(Generic[Outcome, Result]):
    work: Callable[[], Outcome]
    settle: Callable[[Outcome], Result]
    result: asyncio.Future[Result]
