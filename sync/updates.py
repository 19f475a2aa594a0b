"""Checks on Yjs updates before and after Yrs sees them: shape, pending bytes, and
"would this change the document" (for read-only connections)."""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc

from storage import ydoc
from storage.pending import LIVE_SCAN, unintegrated
from storage.ysplit import PartlyApplied, Split, apply_in_pieces, struct_state
from storage.yupdate import SKIP, UpdateFormatError, decode_update
from sync import protocol
from sync.errors import InvalidUpdate, ProtocolError

EMPTY_UPDATE = b"\x00\x00"


def reraise_if_fatal(exc: BaseException) -> None:
    """pycrdt's PanicException is a BaseException: catch it, but never swallow these."""
    if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
        raise exc


def check_update_shape(update: bytes) -> None:
    """Cheap sanity checks before Yrs sees an update. Yrs loops over the leading
    client count before noticing the end of the buffer: a forged count of ~2^32 costs
    a second of CPU, stalling every room, so it is refused up front."""
    if len(update) < 2:
        raise InvalidUpdate("update shorter than 2 bytes")
    if update[0] < 0x80:  # one byte: fewer than 128 clients (what typing sends)
        return
    try:
        clients = protocol.Reader(update).var_uint()
    except ProtocolError as exc:
        raise InvalidUpdate(f"invalid Yjs update: {exc.detail}") from None
    if clients > len(update):
        raise InvalidUpdate(f"update claims {clients} clients in {len(update)} bytes")


def update_state(update: bytes) -> dict[int, int]:
    """{client: clock} covered by the structs of an update (from our decoder: pycrdt's
    `get_state(update)` leaves out clients whose structs do not start at 0)."""
    try:
        return struct_state(update)
    except (UpdateFormatError, RecursionError) as exc:
        raise InvalidUpdate(f"invalid Yjs update: {exc}") from None


def ahead_of(state: dict[int, int], doc_state: dict[int, int]) -> bool:
    """Does `state` hold a clock the document does not have yet?"""
    return any(clock > doc_state.get(client, 0) for client, clock in state.items())


class PendingTracker:
    """Bytes of received updates Yrs holds back because their dependencies are missing."""

    def __init__(self) -> None:
        self._pending: list[tuple[dict[int, int], int]] = []  # (update state, size)

    @property
    def size(self) -> int:
        """Bytes still waiting."""
        return sum(size for _, size in self._pending)

    def note(self, update: bytes, effective: list[bytes], doc: Doc[Any]) -> int:
        """Account for `update` after it was applied (`effective`: what it changed);
        return the pending bytes. Fast path: the effective update covers the same
        state as the received one, so all of it was integrated."""
        if (
            not self._pending
            and len(effective) == 1
            # byte-identical (what Yrs captures from a Yjs update almost always is) skips
            # decoding both: a 3 MB update took 0.3-0.9 s of the loop to compare by state
            and (effective[0] == update or _same_state(effective[0], update))
        ):
            return 0
        doc_state = protocol.decode_state_vector(doc.get_state())
        return self.note_state(update_state(update), len(update), doc_state)

    def note_state(self, state: dict[int, int], size: int, doc_state: dict[int, int]) -> int:
        """`note` for an update whose structs reach `state`, in a doc at `doc_state`."""
        self._pending = [(s, n) for s, n in self._pending if ahead_of(s, doc_state)]
        if ahead_of(state, doc_state):
            self._pending.append((state, size))
        return self.size


def _same_state(effective: bytes, update: bytes) -> bool:
    try:
        return struct_state(effective) == struct_state(update)
    except (UpdateFormatError, RecursionError):
        return False  # cannot tell: take the slow path


@dataclass(frozen=True, slots=True)
class UpdateFacts:
    """What an update holds, read from its bytes alone (no Doc, so a worker thread may
    read a big one): the clock each client's structs reach, and its deletes."""

    state: dict[int, int]
    deletes: list[tuple[int, int, int]]


def update_facts(update: bytes) -> UpdateFacts:
    """Decode `update` (~2 µs a struct); InvalidUpdate when it cannot be read."""
    check_update_shape(update)
    try:
        decoded = decode_update(update)
    except (UpdateFormatError, RecursionError) as exc:
        raise InvalidUpdate(f"invalid Yjs update: {exc}") from None
    state: dict[int, int] = {}
    for struct in decoded.structs:
        if struct.ref != SKIP:
            state[struct.client] = max(state.get(struct.client, 0), struct.clock + struct.length)
    return UpdateFacts(state, decoded.deletes)


def would_change(doc: Doc[Any], facts: UpdateFacts) -> bool:
    """Would applying the update `facts` describes change `doc`? (for a read-only
    connection). Nothing new in its structs leaves its deletes: they change nothing if
    the document has deleted all of them already — checked against the document's
    delete set, not by applying the update to a copy of the whole document (which took
    ~0.2 s of the loop on a million-item document, on every such frame)."""
    if ahead_of(facts.state, protocol.decode_state_vector(doc.get_state())):
        return True
    if not facts.deletes:
        return False
    held = DeleteRanges(decode_update(doc.get_update(doc.get_state())).deletes)
    return not all(held.covers(client, clock, length) for client, clock, length in facts.deletes)


class DeleteRanges:
    """A delete set as sorted, merged ranges per client, to ask what it covers."""

    def __init__(self, deletes: list[tuple[int, int, int]]) -> None:
        spans: dict[int, list[tuple[int, int]]] = {}
        for client, clock, length in sorted(deletes):
            runs = spans.setdefault(client, [])
            if runs and clock <= runs[-1][1]:
                runs[-1] = (runs[-1][0], max(runs[-1][1], clock + length))
            else:
                runs.append((clock, clock + length))
        self._starts = {client: [start for start, _ in runs] for client, runs in spans.items()}
        self._spans = spans

    def covers(self, client: int, clock: int, length: int) -> bool:
        """Are clocks [clock, clock + length) of `client` all deleted?"""
        starts = self._starts.get(client)
        if not starts:
            return length == 0
        at = bisect.bisect_right(starts, clock) - 1
        return at >= 0 and self._spans[client][at][1] >= clock + length


@dataclass(slots=True)
class Integrated:
    """What applying one update to a room's Doc came to (see `integrate`)."""

    error: BaseException | None = None  # an InvalidUpdate, or the panic
    panic: bool = False  # the CRDT panicked: the Doc can no longer be trusted
    pending_bytes: int = 0


def integrate(
    doc: Doc[Any],
    update: bytes,
    captured: list[bytes],
    pending: PendingTracker,
    limit: int,
    in_pieces: bool = False,
) -> Integrated:
    """Apply `update` to `doc`, whose observer appends what changed to `captured`; add
    what Yrs holds back for a missing dependency (it is stored too: the checkpoints keep
    it, or a restart before the dependency arrives would lose it). Touches only these
    arguments, so a room may run it in a worker thread while it is busy; `in_pieces`
    (a big update, in a thread) applies it piece by piece (storage/ysplit.py), so that
    the event loop gets the GIL in between. Raises nothing but fatal exceptions: the
    caller settles the outcome on the loop."""
    captured.clear()
    split: Split | None = None
    try:
        check_update_shape(update)
        if in_pieces:
            split = apply_in_pieces(doc, update)
        else:
            ydoc.apply_update(doc, update)
    except InvalidUpdate as exc:
        return Integrated(exc)
    except PartlyApplied as exc:  # the Doc holds part of a refused update: reload it
        captured.clear()
        return Integrated(InvalidUpdate(f"invalid Yjs update: {exc}"), panic=True)
    except Exception as exc:  # pycrdt raises ValueError for undecodable updates
        captured.clear()
        return Integrated(InvalidUpdate(f"invalid Yjs update: {exc}"))
    except BaseException as exc:  # pyo3 PanicException derives from BaseException
        reraise_if_fatal(exc)
        captured.clear()
        return Integrated(exc, panic=True)
    if split is not None:
        return _settle_pieces(doc, update, split, captured, pending)
    pending_bytes = pending.note(update, captured, doc)
    if pending_bytes > limit:
        return Integrated(pending_bytes=pending_bytes)
    if not (len(captured) == 1 and captured[0] == update):
        try:
            left = unintegrated(update, doc.get_state(), LIVE_SCAN)
        except BaseException as exc:  # cannot tell: storing it all is harmless
            reraise_if_fatal(exc)
            left = update
        if left is not None:
            captured.append(left)
    return Integrated(pending_bytes=pending_bytes)


def _settle_pieces(
    doc: Doc[Any],
    update: bytes,
    split: Split,
    captured: list[bytes],
    pending: PendingTracker,
) -> Integrated:
    """After `update` went in as pieces: what changed is the update itself (storing all
    of it is harmless, applying is idempotent), if any piece changed the Doc or any part
    of it waits for a dependency; merging the pieces' changes would hold the GIL again."""
    changed = bool(captured)
    captured.clear()
    have = protocol.decode_state_vector(doc.get_state())
    waiting = ahead_of(split.state, have) or ahead_of(split.deletes_reach, have)
    pending_bytes = pending.note_state(split.state, len(update), have)
    if changed or waiting:
        captured.append(update)
    return Integrated(pending_bytes=pending_bytes)
