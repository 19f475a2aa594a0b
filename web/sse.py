"""Server-Sent Events: encoding one event, and one follower's bounded queue (a follower
that falls behind is ended, like a slow WebSocket, and resumes by `Last-Event-ID`)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.types import Identity
    from web.feed import RoomFeed

log = logging.getLogger("samepage.web")


def sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Event (data is JSON on one line)."""
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return (head + "data: " + json.dumps(data, separators=(",", ":")) + "\n\n").encode()


class EventStream:
    """One follower: a bounded queue of encoded events, drained by its response."""

    def __init__(self, feed: RoomFeed, max_events: int, max_bytes: int) -> None:
        self.feed = feed
        self.start_seq = feed.seq
        self.start_text = feed.replay.text if feed.replay else ""
        self.presence = feed.presence.snapshot()
        self.ended: str | None = None
        self.identity: Identity | None = None  # the token it was opened with (web.access)
        self._queue: deque[bytes] = deque()
        self._bytes = 0
        self._max_events, self._max_bytes = max_events, max_bytes
        self.wakeup = asyncio.Event()
        self.done = asyncio.Event()

    def push(self, chunk: bytes) -> None:
        """Queue an event; overflow ends the stream (the client resumes by id)."""
        if self.ended is not None:
            return
        self._queue.append(chunk)
        self._bytes += len(chunk)
        if len(self._queue) > self._max_events or self._bytes > self._max_bytes:
            log.warning(
                "closing slow event stream room=%s queued=%d events/%d bytes",
                self.feed.room.name,
                len(self._queue),
                self._bytes,
            )
            self._queue.clear()
            self.end("slow_consumer")
        self.wakeup.set()

    def end(self, reason: str) -> None:
        """Stop the stream after what is queued (nothing more for a slow consumer)."""
        if self.ended is None:
            self.ended = reason
            self.wakeup.set()
            self.done.set()

    def end_if_refused(self, refusal: Callable[[Identity, str], str | None]) -> bool:
        """End the stream (`token_revoked`) when `refusal` refuses its token."""
        if self.identity is None or self.ended is not None:
            return False
        if refusal(self.identity, self.feed.room.name) is None:
            return False
        self.end("token_revoked")
        return True

    def take(self) -> list[bytes]:
        """Everything queued."""
        chunks = list(self._queue)
        self._queue.clear()
        self._bytes = 0
        return chunks


def end_at_expiry(stream: EventStream) -> asyncio.TimerHandle | None:
    """End `stream` (`token_expired`) when the token it was opened with expires."""
    credential = stream.identity.credential if stream.identity is not None else None
    if credential is None or credential.expires_at is None:
        return None
    delay = max(0.0, credential.expires_at - time.time())
    return asyncio.get_running_loop().call_later(delay, stream.end, "token_expired")
