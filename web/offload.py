"""Worker processes for work that grows with a document (rendering JSON, a version,
diff, restore, replaying history): the event loop, which every room shares, only hands
bytes over and takes the result back.

A process, not a thread: Yrs holds the GIL for the whole of a call (a 100k-item update
is ~50 ms of one call; a hostile document longer), so a thread would still stop every
room. Each job has a time limit; a worker that overruns it is killed (whatever Yrs was
doing) and replaced, and the request gets a 503 instead of freezing the service.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import time
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger("samepage.offload")
T = TypeVar("T")
DEFAULT_TIMEOUT_S = 20.0
MAX_WAITING = 64  # jobs queued for a worker beyond this are refused at once


class OffloadError(Exception):
    """A job failed in its worker (`detail` says how) or could not be run."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason  # "timeout" | "busy" | "failed" | "crashed"
        self.detail = detail


def _worker_main(conn: multiprocessing.connection.Connection) -> None:
    """A worker: run each (function, args) it receives, send back (ok, result)."""
    from storage.ysplit import use_pieces
    from sync.content import deep_limit

    deep_limit()
    use_pieces(False)  # no event loop here to keep responsive
    while True:
        try:
            function, args = conn.recv()
        except EOFError:
            return
        try:
            conn.send((True, function(*args)))
        except BaseException as exc:  # a pyo3 PanicException is a BaseException
            conn.send((False, f"{type(exc).__name__}: {exc}"[:500]))


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child,), daemon=True)
        self.process.start()
        child.close()

    def call(self, function: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        """Run one job (blocking: called in a thread); raise OffloadError on failure."""
        self.conn.send((function, args))
        if not self.conn.poll(timeout):
            self.kill()
            raise OffloadError("timeout", f"{function.__name__} ran over {timeout:.0f} s")
        try:
            ok, result = self.conn.recv()
        except (EOFError, OSError) as exc:
            self.kill()
            raise OffloadError("crashed", f"{function.__name__}: worker died ({exc!r})") from None
        if not ok:
            raise OffloadError("failed", str(result))
        return result

    def kill(self) -> None:
        """Stop the process at once (idempotent)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    @property
    def alive(self) -> bool:
        """Usable for the next job."""
        return self.process.is_alive() and not self.conn.closed


class Offload:
    """A small pool of worker processes (started on first use) with per-job timeouts."""

    def __init__(self, workers: int = 2, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.size = max(1, workers)
        self.timeout = timeout
        self._idle: list[_Worker] = []
        self._started = 0
        self._slots = asyncio.Semaphore(self.size)
        self._waiting = 0
        self._closed = False
        self.jobs = 0
        self.failures = 0
        self.on_outcome: Callable[[str], None] = lambda _outcome: None  # for metrics

    async def run(self, function: Callable[..., T], *args: Any, timeout: float | None = None) -> T:
        """`function(*args)` in a worker process (function and arguments picklable)."""
        if self._closed:
            raise OffloadError("busy", "shutting down")
        if self._waiting >= MAX_WAITING:
            self.on_outcome("busy")
            raise OffloadError("busy", f"{self._waiting} jobs already waiting for a worker")
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        try:
            worker = await self._take()
        except BaseException:
            self._slots.release()
            raise
        started = time.perf_counter()
        job = asyncio.get_running_loop().run_in_executor(
            None, worker.call, function, args, timeout or self.timeout
        )
        # The worker goes back to the pool only when its job has returned, even if the
        # caller stopped waiting (a client that hung up): never two jobs on one pipe.
        job.add_done_callback(lambda _: self._give_back(worker))
        try:
            result: T = await asyncio.shield(job)
        except OffloadError as exc:
            self.failures += 1
            self.on_outcome(exc.reason)
            log.warning("offloaded %s failed: %s", function.__name__, exc)
            raise
        self.on_outcome("ok")
        log.debug("%s took %.1f ms", function.__name__, (time.perf_counter() - started) * 1e3)
        return result

    def _give_back(self, worker: _Worker) -> None:
        self.jobs += 1
        if worker.alive and not self._closed:
            self._idle.append(worker)
        else:
            worker.kill()
            self._started -= 1
        self._slots.release()

    async def _take(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.alive:
                return worker
            worker.kill()
            self._started -= 1
        self._started += 1
        try:
            return await asyncio.to_thread(_Worker)
        except BaseException:
            self._started -= 1
            raise

    async def aclose(self) -> None:
        """Stop every idle worker (busy ones stop when their job returns); idempotent."""
        self._closed = True
        idle, self._idle = self._idle, []
        for worker in idle:
            await asyncio.to_thread(worker.kill)
