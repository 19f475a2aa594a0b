"""One client socket: ordered inbound processing and a bounded outbound queue drained
by a single writer task. A client that stops reading is closed, never waited for."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import TYPE_CHECKING

from sync.errors import CloseCode
from sync.limits import TokenBucket
from sync.types import Identity, SyncSettings, Traffic, Transport

if TYPE_CHECKING:
    from sync.room import Room

log = logging.getLogger("samepage.sync")


class Connection:
    """A subscriber of one room. `send` never blocks; overflow closes the connection."""

    def __init__(
        self,
        transport: Transport,
        identity: Identity,
        settings: SyncSettings,
        peer: str = "",
    ) -> None:
        self.transport = transport
        self.identity = identity
        self.settings = settings
        self.peer = peer
        self.room: Room | None = None
        self.subscriptions = 0  # SubscribeFlag bits
        self.announced_name: str | None = None  # user.name from its awareness state
        self.opened_at = time.monotonic()
        self.bytes_in = 0
        self.bytes_out = 0
        self.close_code: int | None = None
        self.traffic: Traffic | None = None  # shared counters, set by the server
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self.bucket = TokenBucket(settings.messages_per_second, settings.message_burst)

    @property
    def closed(self) -> bool:
        """True once the connection is closing or closed."""
        return self.close_code is not None

    def start(self) -> None:
        """Make sure frames queued before this call get written."""
        if self._queue:
            self._ensure_writer()

    def _ensure_writer(self) -> None:
        # One writer task per connection, started by its first frame. (An idle exit
        # after a timeout was tried: asyncio.timeout around every wait cost ~10 % of
        # CPU under load in the bench profile, for no measurable memory gain.)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_loop())
        else:
            self._wakeup.set()

    def send(self, frame: bytes) -> None:
        """Queue a frame for this client; a full queue closes it as a slow consumer."""
        if self.close_code is not None:
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if (
            len(self._queue) > self.settings.outbound_queue_frames
            or self._queued_bytes > self.settings.outbound_queue_bytes
        ):
            log.warning(
                "closing slow consumer peer=%s room=%s queued=%d frames/%d bytes",
                self.peer,
                self.room.name if self.room else "-",
                len(self._queue),
                self._queued_bytes,
            )
            self.abort(CloseCode.SLOW_CONSUMER, "slow consumer")
            return
        self._ensure_writer()

    def abort(self, code: int, reason: str = "") -> None:
        """Close without waiting: drop queued frames, leave the room, close the socket."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._queue.clear()
        self._queued_bytes = 0
        if self.room is not None:
            self.room.leave(self)
        self._wakeup.set()
        self._close_task = asyncio.get_running_loop().create_task(
            self._close_transport(code, reason)
        )

    async def close(self, code: int, reason: str = "") -> None:
        """Close with `code` and wait until the close frame is handed to the socket."""
        self.abort(code, reason)
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until a close started by `abort` reached the socket."""
        if self._close_task is not None:
            await self._close_task

    async def _close_transport(self, code: int, reason: str) -> None:
        try:
            await self.transport.close(code, reason)
        except Exception as exc:  # the socket may already be gone
            log.debug("close of %s failed: %s", self.peer, exc)

    async def _write_loop(self) -> None:
        queue = self._queue
        try:
            while self.close_code is None:
                self._wakeup.clear()  # before draining: a send during the drain re-sets it
                while queue and self.close_code is None:
                    frame = queue.popleft()
                    self._queued_bytes -= len(frame)
                    await self.transport.send_bytes(frame)
                    self.bytes_out += len(frame)
                    if self.traffic is not None:
                        self.traffic.sent(frame)
                await self._wakeup.wait()
        except Exception as exc:  # peer went away mid-send: the reader will notice too
            log.debug("write to %s failed: %s", self.peer, exc)
            if self.close_code is None:
                self.close_code = CloseCode.GOING_AWAY
                if self.room is not None:
                    self.room.leave(self)

    async def aclose(self) -> None:
        """Stop the writer and leave the room (idempotent)."""
        if self.close_code is None:
            self.close_code = CloseCode.NORMAL
        if self.room is not None:
            self.room.leave(self)
        self._wakeup.set()
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except (asyncio.CancelledError, Exception):
                pass
            self._writer = None
