"""Applying big updates off the event loop: one queue per room, in order, in a worker
thread (Yrs releases the GIL for most of an apply). While the queue is not empty the
room is *busy*: its Doc belongs to the thread, and everything else that touches the
Doc waits (`idle`) or is refused (`check_idle`), never racing it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from sync.errors import RoomUnavailable

Outcome = TypeVar("Outcome")
Result = TypeVar("Result")


class OffLoopApplier(Generic[Outcome, Result]):
    """`integrate(update)` runs in a worker thread, `settle(outcome, author)` back on the
    loop (its value or exception resolves the submitted future), `on_idle()` when the
    queue has emptied."""

    def __init__(
        self,
        integrate: Callable[[bytes], Outcome],
        settle: Callable[[Outcome, str], Result],
        on_idle: Callable[[], None],
    ) -> None:
        self._integrate = integrate
        self._settle = settle
        self._on_idle = on_idle
        self._queue: deque[tuple[bytes, str, asyncio.Future[Result]]] = deque()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        """An update is being applied (or waits to be): the Doc is not the loop's."""
        return bool(self._queue)

    async def idle(self) -> None:
        """Wait until the queue is empty."""
        while self._queue:
            await self._idle.wait()

    def check_idle(self) -> None:
        """Refuse a synchronous use of the Doc while busy (a caller forgot `idle`)."""
        if self._queue:
            raise RoomUnavailable("room is applying a large update")

    def submit(self, update: bytes, author: str) -> asyncio.Future[Result]:
        """Queue `update`; the future resolves once it is applied and settled."""
        result: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((update, author, result))
        if len(self._queue) == 1:
            self._idle.clear()
            self._start()
        return result

    def _start(self) -> None:
        update = self._queue[0][0]
        work = asyncio.get_running_loop().run_in_executor(None, self._integrate, update)
        work.add_done_callback(self._done)

    def _done(self, work: asyncio.Future[Outcome]) -> None:
        _update, author, result = self._queue.popleft()
        try:
            settled = self._settle(work.result(), author)
        except Exception as exc:
            result.set_exception(exc)
        else:
            result.set_result(settled)
        if self._queue:
            self._start()
            return
        self._idle.set()
        self._on_idle()
