"""Rebuilding documents from the store's own rows: any version, and checkpoints.

Another process may compact the room at any moment (`samepage compact`: it adds
checkpoints, then deletes the rows they cover, in one transaction). So nothing here
trusts a read it has not checked: a version is read as a checkpoint plus the rows
after it, and those rows must run without a gap from the checkpoint to the version —
a gap means rows were folded, and the read starts again from the checkpoint that now
covers them (`read_base`). Cursors kept between reads check the same before every
step. A version whose rows were folded reads as the kept point before it.

A checkpoint also keeps what its document could not integrate yet (structs waiting
for a dependency: storage/pending.py), so folding the rows they came in loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, merge_updates

from storage.pending import decode_state, unintegrated
from storage.types import Store, StoreError, UpdateRecord
from storage.ysplit import Split, apply_in_pieces

log = logging.getLogger("samepage.storage")
READ_ATTEMPTS = 8  # consistent reads retried while compactions keep moving the base


@dataclass(frozen=True, slots=True)
class Base:
    """A consistent read of a version: the latest checkpoint at or before it and every
    row after that up to `seq`, without a gap. `seq` is the version asked for, or —
    when its rows were folded by a compaction — the kept point before it."""

    seq: int
    checkpoint: tuple[int, bytes] | None
    rows: list[UpdateRecord]


def _runs_from(rows: list[UpdateRecord], after: int) -> int:
    """How many of `rows` continue `after` without a gap (after+1, after+2, ...)."""
    for index, row in enumerate(rows):
        if row.seq != after + 1 + index:
            return index
    return len(rows)


async def read_base(store: Store, room: str, seq: int) -> Base:
    """The checkpoint and rows that give version `seq` — or the kept point before it
    when `seq` was folded — read so that a concurrent compaction cannot make them
    disagree: the rows must continue the checkpoint without a gap, and the checkpoint
    must still be the latest one after the rows were read; else read again."""
    for _ in range(READ_ATTEMPTS):
        checkpoint = await store.checkpoint_before(room, seq)
        after = checkpoint[0] if checkpoint is not None else 0
        rows = await store.updates_range(room, after, seq) if after < seq else []
        run = _runs_from(rows, after)
        if after == seq or (run == len(rows) and rows and rows[-1].seq == seq):
            return Base(seq, checkpoint, rows)
        again = await store.checkpoint_before(room, seq)
        if (again[0] if again is not None else 0) != after:
            continue  # a compaction added a checkpoint meanwhile: read from it
        if run == len(rows):  # folded (or past the head): the last row that is there
            return Base(rows[-1].seq if rows else after, checkpoint, rows)
        # A gap in one consistent read of the rows under an unchanged checkpoint: the
        # rows were deleted between our two reads of the checkpoint; read again.
    raise StoreError(f"room {room}: no consistent read of version {seq} (rows missing?)")


@dataclass(slots=True)
class Cursor:
    """A doc rebuilt from stored rows (never a live doc) as it was after `seq`, and
    what of those rows it has not integrated yet (`pending`, kept by checkpoints)."""

    seq: int
    doc: Doc[Any]
    pending: bytes | None = None
    track: bool = True  # follow `pending` (builders); a one-off read need not
    size: int = 0  # bytes of the updates applied (of its state, once encoded)

    def apply(self, updates: list[bytes], seq: int) -> None:
        """Apply `updates` (the rows up to `seq`), tracking what stays pending. A big
        one goes in pieces (storage/ysplit.py), so that the event loop's thread gets
        the GIL in between."""
        splits: list[Split | None] = []
        with self.doc.transaction():  # one transaction: ~1.7 instead of ~3 µs a row
            for update in updates:
                splits.append(apply_in_pieces(self.doc, update))
                self.size += len(update)
        self.seq = seq
        if not updates or not self.track:
            return
        state = self.doc.get_state()
        have = decode_state(state)
        waiting = [self.pending] if self.pending is not None else []
        for update, split in zip(updates, splits, strict=True):
            if split is not None and split.held_by(have):
                continue  # known from its split: Yrs would decode it all to tell
            if (part := unintegrated(update, state)) is not None:
                waiting.append(part)
        if not waiting:
            self.pending = None
        else:
            merged = waiting[0] if len(waiting) == 1 else merge_updates(*waiting)
            self.pending = unintegrated(merged, state)

    def state(self) -> bytes:
        """The document as one update for keeps: its state plus what is pending."""
        full = self.doc.get_update()
        return full if self.pending is None else merge_updates(full, self.pending)


def cursor_from(base: Base, *, track: bool = True) -> Cursor:
    """A new cursor at `base.seq` (decodes the checkpoint); `track`: see Cursor."""
    cursor = Cursor(0, Doc(), track=track)
    if base.checkpoint is not None:
        cursor.apply([base.checkpoint[1]], base.checkpoint[0])
    cursor.apply([row.update for row in base.rows], base.seq)
    return cursor


@dataclass(slots=True)
class KnownRows:
    """Updates this node committed to a room, in seq order without a gap (`updates[0]`
    has seq `first`): the stored rows themselves, since the commit gave them their
    seqs, kept so that a checkpoint build does not read them back."""

    first: int
    updates: list[bytes] = field(default_factory=list)
    size: int = 0  # bytes of `updates`

    @property
    def last(self) -> int:
        """The seq of the newest update held (`first - 1` when none)."""
        return self.first + len(self.updates) - 1

    def between(self, after: int, upto: int) -> list[bytes] | None:
        """The updates (after, upto], or None when some are not held."""
        if after + 1 < self.first or upto > self.last or upto < after:
            return None
        return self.updates[after + 1 - self.first : upto + 1 - self.first]

    def add(self, seq: int, update: bytes) -> None:
        """Hold the row `seq`; after a gap (another node's rows) only what follows it."""
        if seq != self.last + 1:
            self.first, self.updates, self.size = seq, [], 0
        self.updates.append(update)
        self.size += len(update)

    def drop_through(self, seq: int) -> None:
        """Forget the updates up to `seq`."""
        count = min(max(seq - self.first + 1, 0), len(self.updates))
        if count:
            self.size -= sum(len(u) for u in self.updates[:count])
            del self.updates[:count]
            self.first += count


INLINE_DECODE_BYTES = 64 * 1024  # larger checkpoints are decoded in a worker thread
INLINE_APPLY_ROWS = 50  # more rows than this are applied to a cursor in a worker thread


async def open_cursor(store: Store, room: str, seq: int, *, track: bool = True) -> Cursor:
    """A cursor at version `seq` (or the kept point before it, when folded). A large
    checkpoint is decoded in a worker thread: pycrdt releases the GIL while Yrs
    applies an update, so the event loop goes on (the new Doc is nobody else's)."""
    base = await read_base(store, room, seq)
    if base.checkpoint is not None and len(base.checkpoint[1]) > INLINE_DECODE_BYTES:
        return await asyncio.to_thread(cursor_from, base, track=track)
    return cursor_from(base, track=track)


async def advance(
    store: Store, room: str, cursor: Cursor, upto: int, known: KnownRows | None = None
) -> bool:
    """Apply the stored rows (cursor.seq, upto] to the cursor (~3 µs a row): from
    `known` when it holds them all, else read. False, and the cursor untouched, when
    they are not all there: a compaction folded some (or `upto` is past the head);
    reopen the cursor then."""
    if upto <= cursor.seq:
        return upto == cursor.seq
    updates = known.between(cursor.seq, upto) if known is not None else None
    if updates is None:
        rows = await store.updates_range(room, cursor.seq, upto)
        if _runs_from(rows, cursor.seq) != len(rows) or not rows or rows[-1].seq != upto:
            return False
        updates = [row.update for row in rows]
    if len(updates) > INLINE_APPLY_ROWS:  # Yrs releases the GIL: another core does it
        await asyncio.to_thread(cursor.apply, updates, upto)
    else:
        cursor.apply(updates, upto)
    return True


async def cursor_at(
    store: Store,
    room: str,
    seq: int,
    cursor: Cursor | None = None,
    known: KnownRows | None = None,
) -> Cursor:
    """A cursor at version `seq` (or the kept point before it): `cursor` advanced when
    it is at or before `seq` and the rows since are all stored, else a new one. Rows
    in `known` are not read again."""
    if cursor is not None and await advance(store, room, cursor, seq, known):
        return cursor
    if known is not None and known.first <= seq <= known.last:
        checkpoint = await store.checkpoint_before(room, seq)
        after = checkpoint[0] if checkpoint is not None else 0
        if known.between(after, seq) is not None:  # the checkpoint and rows in memory
            base = Base(after, checkpoint, [])
            if checkpoint is not None and len(checkpoint[1]) > INLINE_DECODE_BYTES:
                cursor = await asyncio.to_thread(cursor_from, base)
            else:
                cursor = cursor_from(base)
            if await advance(store, room, cursor, seq, known):
                return cursor
    return await open_cursor(store, room, seq)


async def doc_at(store: Store, room: str, seq: int) -> Doc[Any]:
    """The document as it was after update `seq` (nearest checkpoint + tail); a folded
    seq gives the kept point before it."""
    return (await open_cursor(store, room, seq, track=False)).doc


async def version_at(store: Store, room: str, seq: int) -> tuple[int, list[bytes]]:
    """The document after update `seq` as updates to apply in order — the nearest
    checkpoint and the rows after it, read consistently (`read_base`), bytes only, for
    a worker process or a merge — and the seq they give: `seq`, or the kept point
    before it when a compaction folded it."""
    base = await read_base(store, room, seq)
    parts = [base.checkpoint[1]] if base.checkpoint is not None else []
    parts += [row.update for row in base.rows]
    return base.seq, parts


async def version_parts(store: Store, room: str, seq: int) -> list[bytes]:
    """`version_at`'s updates only."""
    return (await version_at(store, room, seq))[1]


def doc_of(parts: list[bytes]) -> Doc[Any]:
    """A new document made of updates (a checkpoint and the rows after it, or a state)."""
    doc: Doc[Any] = Doc()
    with doc.transaction():
        for part in parts:
            apply_in_pieces(doc, part)
    return doc


def merged(parts: list[bytes]) -> bytes:
    """Updates as one update (an empty document's when there are none)."""
    if not parts:
        return Doc().get_update()
    return parts[0] if len(parts) == 1 else merge_updates(*parts)


async def update_at(store: Store, room: str, seq: int) -> bytes:
    """The document after update `seq` as one Yjs update: the nearest checkpoint merged
    with the rows after it. Merging skips integrating them into a doc and encoding it
    again: 12-23 ms instead of ~60 ms for a 100,000-item document."""
    return merged(await version_parts(store, room, seq))


async def build_checkpoint(
    store: Store,
    room: str,
    upto: int,
    cursor: Cursor | None = None,
    known: KnownRows | None = None,
) -> Cursor:
    """Add a checkpoint at `upto`, built from stored rows, never from a live doc.
    `cursor` (one a previous build returned) saves decoding the latest checkpoint when
    it is at or before `upto`, and `known` (rows this node committed) reading rows
    back; the cursor used is returned. Nothing is added when `upto` was folded
    meanwhile (the compaction's checkpoints cover it)."""
    cursor = await cursor_at(store, room, upto, cursor, known)
    if cursor.seq == upto:
        # encoding a large document is ~10 ms of Yrs with the GIL released: a thread
        # (the cursor's Doc is the caller's alone)
        state = await asyncio.to_thread(cursor.state)
        cursor.size = len(state)
        await store.add_checkpoint(room, upto, state)
    return cursor
