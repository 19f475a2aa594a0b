"""One client socket: ordered inbound processing and bounded outbound buffering. A
client that stops reading is closed, never waited for.

Two kinds of socket: a `FrameSink` takes frames without waiting (the native WebSocket
server: the same bytes go straight to every subscriber's socket buffer, no task per
client); any other `Transport` (an ASGI WebSocket, a test fake) gets a bounded queue
drained by one writer task."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import TYPE_CHECKING, cast

from sync.errors import CloseCode
from sync.limits import TokenBucket
from sync.protocol import SubscribeFlag, encode_access
from sync.types import FrameSink, Identity, SyncSettings, Traffic, Transport

if TYPE_CHECKING:
    from sync.room import Room

log = logging.getLogger("samepage.sync")


class Connection:
    """A subscriber of one room. `send` never blocks; overflow closes the connection."""

    __slots__ = (
        "_close_task",
        "_deadline",
        "_queue",
        "_queued_bytes",
        "_sink",
        "_wakeup",
        "_writer",
        "announced_name",
        "bucket",
        "bytes_in",
        "bytes_out",
        "client_id",
        "close_code",
        "epoch_claim",
        "identity",
        "opened_at",
        "peer",
        "room",
        "settings",
        "subscriptions",
        "traffic",
        "transport",
    )

    def __init__(
        self,
        transport: Transport | FrameSink,
        identity: Identity,
        settings: SyncSettings,
        peer: str = "",
    ) -> None:
        self.transport = transport
        # A FrameSink is written to directly; a Transport through the queue below.
        # (hasattr, not isinstance: a runtime Protocol check costs ~10 us a handshake)
        self._sink = cast(FrameSink, transport) if hasattr(transport, "write_frame") else None
        self.identity = identity
        self.settings = settings
        self.peer = peer
        self.room: Room | None = None
        self.subscriptions = 0  # SubscribeFlag bits
        self.announced_name: str | None = None  # user.name from its awareness state
        # Its own awareness client id: the one its first presence message announced
        # alone (y-websocket sends its own state first, then relays others' — a tab
        # relays its sibling tabs' states, which it hears over a BroadcastChannel).
        self.client_id: int | None = None
        self.epoch_claim: int | None = None  # `?epoch=` (sync/epochs.py); None: not given
        self.opened_at = time.monotonic()
        self.bytes_in = 0
        self.bytes_out = 0
        self.close_code: int | None = None
        self.traffic: Traffic | None = None  # shared counters, set by the server
        self._queue: deque[bytes] | None = None  # made on the first queued frame
        self._queued_bytes = 0
        self._wakeup: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._close_task: asyncio.Task[None] | None = None
        self.bucket = TokenBucket(settings.messages_per_second, settings.message_burst)
        self._deadline: asyncio.TimerHandle | None = None
        credential = identity.credential
        if credential is not None and credential.expires_at is not None:
            self._arm_deadline(credential.expires_at)

    def access_frame(self) -> bytes:
        """The `access` extension message for this connection's permission now."""
        credential = self.identity.credential
        expires = credential.expires_at if credential is not None else None
        perm = "write" if self.identity.can_write else "read"
        return encode_access(json.dumps({"perm": perm, "expires_at": expires}))

    def change_identity(self, identity: Identity) -> None:
        """A grant changed while connected: the next message is checked against the new
        identity, and a client subscribed to `access` is told when write permission
        changed."""
        changed = identity.can_write != self.identity.can_write
        self.identity = identity
        if changed and self.subscriptions & SubscribeFlag.ACCESS:
            self.send(self.access_frame())

    def _arm_deadline(self, expires_at: float) -> None:
        """Close 4401 when the token expires (a timer on the loop: no sweep, no task)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # built outside a loop (a unit test): nothing to time
            return
        self._deadline = loop.call_later(max(0.0, expires_at - time.time()), self._expired)

    def _expired(self) -> None:
        self._deadline = None
        if self.close_code is None:
            log.info(
                "token expired peer=%s room=%s user=%s",
                self.peer,
                self.room.name if self.room else "-",
                self.identity.name or self.identity.user_id or "-",
            )
            self.abort(CloseCode.UNAUTHORIZED, "token expired")

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
        elif self._wakeup is not None:
            self._wakeup.set()

    def send(self, frame: bytes, counted: bool = False) -> bool:
        """Hand a frame to this client (False if it is closed); a client too far
        behind is closed as a slow consumer (4508). `counted`: the caller counts the
        frame in `traffic` (a broadcast counts once for all its sockets)."""
        if self.close_code is not None:
            return False
        self.bytes_out += len(frame)
        if self.traffic is not None and not counted:
            self.traffic.sent(frame)
        sink = self._sink
        if sink is not None:
            sink.write_frame(frame)  # the sink calls `overflowed` when it is over a limit
            return True
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(frame)
        self._queued_bytes += len(frame)
        if (
            len(queue) > self.settings.outbound_queue_frames
            or self._queued_bytes > self.settings.outbound_queue_bytes
        ):
            self.overflowed(len(queue), self._queued_bytes)
            return False
        self._ensure_writer()
        return True

    def overflowed(self, frames: int, queued_bytes: int) -> None:
        """Close this connection as a slow consumer: it has `frames` / `queued_bytes`
        it did not take."""
        log.warning(
            "closing slow consumer peer=%s room=%s queued=%d frames/%d bytes",
            self.peer,
            self.room.name if self.room else "-",
            frames,
            queued_bytes,
        )
        self.abort(CloseCode.SLOW_CONSUMER, "slow consumer")

    def abort(self, code: int, reason: str = "") -> None:
        """Close without waiting: drop queued frames, leave the room, close the socket."""
        if self.close_code is not None:
            return
        self.close_code = code
        self._disarm()
        if self._queue is not None:
            self._queue.clear()
        self._queued_bytes = 0
        if self.room is not None:
            self.room.leave(self)
        if self._wakeup is not None:
            self._wakeup.set()
        if self._sink is not None:
            self._sink.close_with(code, reason)
            return
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
        transport = cast(Transport, self.transport)
        try:
            await transport.close(code, reason)
        except Exception as exc:  # the socket may already be gone
            log.debug("close of %s failed: %s", self.peer, exc)

    async def _write_loop(self) -> None:
        queue = self._queue
        assert queue is not None
        wakeup = self._wakeup = self._wakeup or asyncio.Event()
        transport = cast(Transport, self.transport)
        try:
            while self.close_code is None:
                wakeup.clear()  # before draining: a send during the drain re-sets it
                while queue and self.close_code is None:
                    frame = queue.popleft()
                    self._queued_bytes -= len(frame)
                    await transport.send_bytes(frame)
                await wakeup.wait()
        except Exception as exc:  # peer went away mid-send: the reader will notice too
            log.debug("write to %s failed: %s", self.peer, exc)
            if self.close_code is None:
                self.close_code = CloseCode.GOING_AWAY
                if self.room is not None:
                    self.room.leave(self)

    def detach(self) -> None:
        """The socket is gone: leave the room and write nothing more (idempotent)."""
        if self.close_code is None:
            self.close_code = CloseCode.NORMAL
        self._disarm()
        if self.room is not None:
            self.room.leave(self)
        if self._wakeup is not None:
            self._wakeup.set()

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    async def aclose(self) -> None:
        """Stop the writer and leave the room (idempotent)."""
        self.detach()
        if self._writer is not None:
            self._writer.cancel()
            try:
                await self._writer
            except (asyncio.CancelledError, Exception):
                pass
            self._writer = None
