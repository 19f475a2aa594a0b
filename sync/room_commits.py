"""A room's commits: what was applied waits for the store, then goes to everyone.

`RoomCommits` is mixed into `sync.room.Room` (which applies updates to the Doc): it
hands each captured change to the store's group commit, and once the commit is in,
broadcasts it — to the sender too, as its durable acknowledgement — sends `saved` to
those who asked, answers the sync requests that waited for it, and tells listeners.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pycrdt import Doc, merge_updates

from storage import ydoc
from storage.types import AppendResult, EpochChanged, Store
from sync import protocol
from sync.epochs import RoomEpoch
from sync.errors import CloseCode, InvalidUpdate
from sync.protocol import SubscribeFlag
from sync.room_peers import RoomPeers
from sync.types import CommitNotice

if TYPE_CHECKING:
    from sync.connection import Connection

_ids = itertools.count(1)


@dataclass(slots=True)
class Inflight:
    """An update applied to the Doc whose commit has not been broadcast yet."""

    id: int
    update: bytes
    future: asyncio.Future[AppendResult]
    state_vector: bytes
    author: str
    received: float = 0.0  # time.monotonic() when applied to the Doc


class RoomCommits(RoomPeers):
    """Commit, acknowledge and broadcast for one room (see `sync.room.Room`)."""

    name: str
    store: Store
    doc: Doc[Any]
    seq: int
    life: RoomEpoch
    failed: bool
    stored_state_vector: bytes
    _inflight: deque[Inflight]
    _waiting_syncs: list[tuple[int, Connection, bytes]]
    _captured: list[bytes]

    def _persist_captured(self, author: str) -> asyncio.Future[AppendResult] | None:
        """Store what the last change captured; broadcast it once committed."""
        if not self._captured:
            return None
        update = self._captured[0] if len(self._captured) == 1 else merge_updates(*self._captured)
        self._captured.clear()
        future = self.store.append(self.name, update, author, self.life.epoch)
        state_vector = ydoc.state_vector(self.doc)
        self._inflight.append(
            Inflight(next(_ids), update, future, state_vector, author, time.monotonic())
        )
        future.add_done_callback(self._on_commit)
        return future

    @property
    def inflight(self) -> int:
        """Updates applied but not yet committed and broadcast."""
        return len(self._inflight)

    def _on_commit(self, _future: asyncio.Future[AppendResult]) -> None:
        inflight = self._inflight
        done: list[Inflight] = []
        while inflight and inflight[0].future.done():
            item = inflight.popleft()
            if item.future.cancelled() or item.future.exception() is not None:
                cause = "cancelled" if item.future.cancelled() else item.future.exception()
                if isinstance(cause, EpochChanged):  # reset on another node meanwhile
                    self._room.retire("room reset")
                    return
                # Nothing was acknowledged; clients retry (1013) and resend it.
                self._room.fail(f"store error: {cause}", CloseCode.TRY_AGAIN_LATER)
                return
            done.append(item)
        if not done:
            return
        results = [item.future.result() for item in done]
        self.seq = max(self.seq, results[-1].seq)  # a remote commit may be newer
        self.stored_state_vector = done[-1].state_vector
        updates = [item.update for item in done]
        merged = updates[0] if len(updates) == 1 else merge_updates(*updates)
        self.broadcast(protocol.encode_update(merged))
        saved = b""
        for conn in self.subscribers:
            if conn.subscriptions & SubscribeFlag.SAVED:
                saved = saved or protocol.encode_saved(self.seq, self.stored_state_vector)
                conn.send(saved)
        self._release_waiting_syncs(done[-1].id)
        notice = CommitNotice(
            self.name,
            self.seq,
            [(r.seq, i.update, i.author) for r, i in zip(results, done, strict=True)],
            done[0].received,
        )
        for listener in tuple(self._listeners):
            listener.on_commit(notice)

    async def flush(self) -> None:
        """Wait until every applied update is committed and broadcast."""
        await self._room.idle()
        while self._inflight and not self.failed:
            await asyncio.gather(
                *(item.future for item in list(self._inflight)), return_exceptions=True
            )
            await asyncio.sleep(0)  # let the done-callbacks run

    def answer_sync_step1(self, conn: Connection, state_vector: bytes) -> None:
        """Send what the peer lacks — only once everything it contains is committed."""
        self._room._check_idle()
        try:
            frame = protocol.encode_sync_step2(self.doc.get_update(state_vector))
        except Exception as exc:
            raise InvalidUpdate(f"invalid state vector: {exc}") from exc
        if self._inflight:
            self._waiting_syncs.append((self._inflight[-1].id, conn, frame))
        else:
            conn.send(frame)

    def send_saved_after_commit(self, conn: Connection) -> None:
        """Answer a subscribe with `saved` once every update applied so far (this
        connection's included) is committed: the reply is an acknowledgement."""
        if self._inflight:
            self._waiting_syncs.append((self._inflight[-1].id, conn, b""))
        else:
            conn.send(protocol.encode_saved(self.seq, self.stored_state_vector))

    def _release_waiting_syncs(self, committed_id: int) -> None:
        if not self._waiting_syncs:
            return
        still = []
        for barrier, conn, frame in self._waiting_syncs:
            if barrier <= committed_id:
                # An empty frame stands for "send the saved state as of now".
                conn.send(frame or protocol.encode_saved(self.seq, self.stored_state_vector))
            else:
                still.append((barrier, conn, frame))
        self._waiting_syncs = still
