"""A room: one pycrdt Doc, its presence and its subscribers — the only fan-out point.

This module owns the Doc and the write path; `sync.room_commits` what happens once the
store has committed (the broadcast, acknowledgements, listeners); `sync.room_peers` the
fan-out and presence.

Write path: apply to the Doc (capturing the effective update) → append to the store
(group commit) → after the commit, broadcast one encoded frame to every subscriber
(the sender included: for it the echo is the durable acknowledgement).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any

from pycrdt import Doc, Subscription, TransactionEvent, merge_updates

from storage import ydoc
from storage.types import AppendResult, Store
from storage.ysplit import apply_in_pieces
from sync import protocol
from sync.awareness import Presence, encode_awareness_entries
from sync.epochs import RoomEpoch, StaleDocument
from sync.errors import CloseCode, InvalidUpdate, LimitExceeded, RoomUnavailable
from sync.offloop import OffLoopApplier
from sync.room_commits import Inflight, RoomCommits
from sync.types import RoomListener
from sync.updates import (
    Integrated,
    PendingTracker,
    UpdateFacts,
    integrate,
    reraise_if_fatal,
    would_change,
)

if TYPE_CHECKING:
    from sync.connection import Connection

log = logging.getLogger("samepage.sync")

OFF_LOOP_BYTES = 256 * 1024  # updates bigger than this are applied in a worker thread


class Room(RoomCommits):
    """Owns the Doc, the presence and the subscribers of one room."""

    def __init__(
        self,
        name: str,
        store: Store,
        doc: Doc[Any],
        seq: int,
        on_failure: Callable[[Room], None] | None = None,
        life: RoomEpoch | None = None,
        apply_pool: Executor | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.doc = doc
        self.seq = seq  # last committed seq
        self.life = life or RoomEpoch()  # which epoch of the room (sync/epochs.py)
        self.retired = False  # reset or deleted: closed, dropped by the manager
        self.stored_state_vector: bytes = doc.get_state()
        self.presence = Presence()
        self.subscribers: set[Connection] = set()
        self.holders = 0  # subscribers + API users; the manager unloads at 0
        self.failed = False
        self._listeners: list[RoomListener] = []
        self._on_failure = on_failure
        self._inflight: deque[Inflight] = deque()
        self._waiting_syncs: list[tuple[int, Connection, bytes]] = []
        self._captured: list[bytes] = []
        self._subscription: Subscription | None = doc.observe(self._capture)
        self.max_pending_bytes = 4 * 1024 * 1024
        self._pending = PendingTracker()
        self._applier = OffLoopApplier(self._became_idle, apply_pool)
        self._deferred_remote: list[tuple[bytes, int]] = []  # arrived while busy
        self._close_when_idle = False

    # -- listeners ---------------------------------------------------------------

    def add_listener(self, listener: RoomListener) -> None:
        """Tell `listener` what happens in this room from now on."""
        if listener not in self._listeners:
            self._listeners.append(listener)

    def remove_listener(self, listener: RoomListener) -> None:
        """Stop telling `listener` (idempotent)."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- documents ---------------------------------------------------------------

    def _capture(self, event: TransactionEvent) -> None:
        self._captured.append(event.update)

    def apply_update(
        self, update: bytes, author: str, origin: Connection | None = None
    ) -> asyncio.Future[AppendResult] | None:
        """Apply a client update; returns its commit future, or None if it changed nothing.

        A broken update raises `InvalidUpdate` and leaves the room as it was; a CRDT
        panic additionally fails the room (its Doc can no longer be trusted), so it is
        reloaded from the store. Not while the room is `busy`: coroutines use `apply`.
        """
        if self.failed:
            raise RoomUnavailable("room is reloading")
        self._check_idle()
        self.life.check_update(update)  # an earlier epoch's content is refused, never merged
        return self._settle(self._integrate(update), author)

    async def apply(
        self, update: bytes, author: str, origin: Connection | None = None
    ) -> asyncio.Future[AppendResult] | None:
        """`apply_update` from a coroutine: a big update (or any while the room is busy)
        is applied off the event loop, in order."""
        if len(update) > OFF_LOOP_BYTES or self.busy:
            return await self.apply_update_soon(update, author)
        return self.apply_update(update, author, origin)

    def apply_update_soon(
        self, update: bytes, author: str
    ) -> asyncio.Future[asyncio.Future[AppendResult] | None]:
        """Queue `update` to be applied in a worker thread (sync/offloop.py), in order
        with the others queued so: resolves to what `apply_update` returns or raises."""
        if self.failed:
            raise RoomUnavailable("room is reloading")
        return self._applier.submit(
            lambda: self._integrate_in_pieces(update), lambda done: self._settle(done, author)
        )

    @property
    def busy(self) -> bool:
        """An update is being applied off the loop: the Doc is not ours to touch."""
        return self._applier.busy

    async def idle(self) -> None:
        """Wait until the Doc is free (no update being applied off the loop)."""
        await self._applier.idle()

    def _check_idle(self) -> None:
        self._applier.check_idle()

    def _became_idle(self) -> None:
        deferred, self._deferred_remote = self._deferred_remote, []
        for remote, seq in deferred:
            self.apply_remote_update(remote, seq)
        if self._close_when_idle:
            self.close()

    def _integrate(self, update: bytes) -> Integrated:
        """`integrate` into this room's Doc (on the loop, while it is idle)."""
        return integrate(self.doc, update, self._captured, self._pending, self.max_pending_bytes)

    def _integrate_in_pieces(self, update: bytes) -> Integrated:
        """`integrate` in a worker thread (the room busy): a big update goes in pieces,
        after the epoch check, which decodes it (in Python: the loop keeps the GIL)."""
        try:
            self.life.check_update(update)
        except StaleDocument as exc:
            return Integrated(exc)
        return integrate(
            self.doc, update, self._captured, self._pending, self.max_pending_bytes, True
        )

    def _settle(self, outcome: Integrated, author: str) -> asyncio.Future[AppendResult] | None:
        """On the loop, after `_integrate`: refuse, fail the room, or persist."""
        if self.failed:  # meanwhile, while it was applied in a thread
            self._captured.clear()
            raise RoomUnavailable("room is reloading")
        if outcome.panic:
            log.error("CRDT panic in room %s: %r; reloading room", self.name, outcome.error)
            self.fail("CRDT panic")
            raise InvalidUpdate(f"update made the CRDT panic: {outcome.error!r}") from None
        if outcome.error is not None:
            raise outcome.error
        if outcome.pending_bytes > self.max_pending_bytes:
            # Yrs keeps pending structs in the Doc; the only way to drop them is to
            # reload the room from the store (which never saw them).
            self._persist_captured("system")
            self.fail("pending update bytes over the limit")
            raise LimitExceeded(
                f"{outcome.pending_bytes} bytes of updates with missing dependencies",
                CloseCode.PENDING_TOO_BIG,
            )
        return self._persist_captured(author)

    @property
    def pending_bytes(self) -> int:
        """Bytes of received updates still waiting for their dependencies."""
        return self._pending.size

    def would_change(self, facts: UpdateFacts) -> bool:
        """Would applying the update `facts` describes change the document? (checked
        without applying; from a coroutine: `await room.idle()` first)"""
        self._check_idle()
        return would_change(self.doc, facts)

    def transact(
        self, change: Callable[[Doc[Any]], Any], author: str
    ) -> asyncio.Future[AppendResult] | None:
        """Make a server-side edit (restore, import) through the same write path
        (from a coroutine: `await room.idle()` first)."""
        if self.failed:
            raise RoomUnavailable("room is reloading")
        self._check_idle()
        self._captured.clear()
        with self.doc.transaction():
            change(self.doc)
        return self._persist_captured(author)

    def apply_remote_update(self, update: bytes, seq: int) -> bool:
        """Apply an update another node already committed (seq in the shared log):
        no persisting, broadcast to local subscribers. Returns True if it changed the Doc
        (or will: while the room is busy, or for a big update, which goes in pieces in a
        worker thread, it is applied in order once the thread gets to it)."""
        if self.failed:
            return False
        if self.busy and len(update) <= OFF_LOOP_BYTES:
            self._deferred_remote.append((update, seq))
            return True
        if len(update) > OFF_LOOP_BYTES:
            self._applier.submit(
                lambda: self._apply_remote(update, True),
                lambda done: self._remote_applied(done, seq),
            )
            return True
        return self._remote_applied(self._apply_remote(update, False), seq)

    def _apply_remote(self, update: bytes, in_pieces: bool) -> bytes | BaseException | None:
        """Apply a remote update (in a thread when `in_pieces`): what it changed, as one
        update (the update itself when it went in pieces), None, or what it raised."""
        self._captured.clear()
        try:
            if in_pieces:
                apply_in_pieces(self.doc, update)
            else:
                ydoc.apply_update(self.doc, update)
        except BaseException as exc:
            reraise_if_fatal(exc)
            self._captured.clear()
            return exc
        effective, self._captured = self._captured, []
        if not effective:
            return None
        if in_pieces:
            return update  # a superset of the pieces' changes: merging them holds the GIL
        return effective[0] if len(effective) == 1 else merge_updates(*effective)

    def _remote_applied(self, outcome: bytes | BaseException | None, seq: int) -> bool:
        if isinstance(outcome, BaseException):
            log.error("remote update for %s could not be applied: %r", self.name, outcome)
            self.fail("remote update failed")
            return False
        if seq > self.seq:
            self.seq = seq
        if not self._inflight:
            self.stored_state_vector = self.doc.get_state()
        if outcome is not None:
            self.broadcast(protocol.encode_update(outcome))
        for listener in tuple(self._listeners):
            listener.on_remote(self, seq)
        return outcome is not None

    # -- subscribers -------------------------------------------------------------

    def join(self, conn: Connection) -> None:
        """Subscribe a connection: it gets our step 1 and everyone's presence at once —
        and first, when it named an epoch (`?epoch=`), the room's epoch, or 4410 when
        the one it named is not the room's (its document is of another life).
        From a coroutine: `await room.idle()` first."""
        self._check_idle()
        if conn.epoch_claim is not None:
            try:
                self.life.check_claim(conn.epoch_claim)
            except StaleDocument as exc:
                log.info("refused %s in %s: %s", conn.peer, self.name, exc.detail)
                conn.abort(exc.code, exc.detail)
                return
            conn.send(protocol.encode_epoch(self.life.epoch))
        self.subscribers.add(conn)
        conn.room = self
        conn.send(protocol.encode_sync_step1(self.doc.get_state()))
        entries = self.presence.entries()
        if entries:
            conn.send(protocol.encode_awareness(encode_awareness_entries(entries)))

    def leave(self, conn: Connection) -> None:
        """Unsubscribe; its awareness states are removed and the removal broadcast."""
        if conn not in self.subscribers:
            return
        self.subscribers.discard(conn)
        self._waiting_syncs = [w for w in self._waiting_syncs if w[1] is not conn]
        removed = self.presence.remove_owner(conn)
        if removed:
            self.broadcast(protocol.encode_awareness(encode_awareness_entries(removed)))
            for listener in tuple(self._listeners):
                listener.on_awareness(self, conn, removed)

    # -- lifecycle ---------------------------------------------------------------

    def fail(self, reason: str, code: CloseCode = CloseCode.INTERNAL_ERROR) -> None:
        """The room can no longer be trusted: close everyone; the manager drops it."""
        if self.failed:
            return
        self.failed = True
        log.error(
            "room %s failed (%s); closing %d clients with %d",
            *(self.name, reason, len(self.subscribers), code),
        )
        self.close_all(code, reason.split(":", 1)[0][:100])  # the log line has the cause
        if self._on_failure is not None:
            self._on_failure(self)

    def freeze(self) -> None:
        """A reset is under way: refuse updates (1013, the client comes back after it);
        everyone stays connected until `retire`."""
        self.failed = True

    def retire(self, reason: str, code: int = CloseCode.ROOM_RESET) -> None:
        """The room was reset or deleted: close everyone 4410 (`reason` names the new
        epoch; `code` 1013 when the reset failed); the manager drops it, the next join
        loads the document the store has."""
        if self.retired:
            return
        self.failed = self.retired = True
        log.info("room %s %s; closing %d clients", self.name, reason, len(self.subscribers))
        self.close_all(code, reason)
        if self._on_failure is not None:
            self._on_failure(self)

    def close_all(self, code: int, reason: str) -> None:
        """Close every subscriber with `code`."""
        for conn in list(self.subscribers):
            conn.abort(code, reason)

    def close(self) -> None:
        """Release the Doc observer (once the update being applied off the loop is in)."""
        if self.busy:
            self._close_when_idle = True
            return
        if self._subscription is not None:
            self.doc.unobserve(self._subscription)
            self._subscription = None

    def connections(self) -> Iterable[Connection]:
        """The current subscribers."""
        return tuple(self.subscribers)
