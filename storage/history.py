"""Rebuilding documents from the store's own rows: any version, and checkpoints."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pycrdt import Doc, Text

from storage.sql.locks import room_maintenance_lock
from storage.text_track import TEXT_ROOT, TextTrack, TrackRecorder
from storage.types import Store

log = logging.getLogger("samepage.storage")


@dataclass(slots=True)
class Cursor:
    """A doc rebuilt from stored rows as it was after `seq`, with the text track of the
    versions it went through that is not stored yet: None, or (track.from_seq, seq]."""

    seq: int
    doc: Doc[Any]
    track: TextTrack | None = None

    def text_at(self, seq: int) -> str | None:
        """The text after `seq` if this cursor went through it, else None."""
        if seq == self.seq:
            return str(self.doc.get(TEXT_ROOT, type=Text))
        if self.track is not None and self.track.from_seq <= seq <= self.track.upto_seq:
            return self.track.text_at(seq)
        return None


async def open_cursor(store: Store, room: str, seq: int) -> Cursor:
    """A cursor at the latest checkpoint at or before `seq` (decodes it)."""
    doc: Doc[Any] = Doc()
    checkpoint = await store.checkpoint_before(room, seq)
    if checkpoint is None:
        return Cursor(0, doc)
    doc.apply_update(checkpoint[1])
    return Cursor(checkpoint[0], doc)


async def advance(store: Store, room: str, cursor: Cursor, upto: int, *, record: bool) -> None:
    """Apply the stored rows (cursor.seq, upto] to the cursor, recording their text."""
    recorder = TrackRecorder(cursor.doc, cursor.seq) if record else None
    for row in await store.updates_range(room, cursor.seq, upto):
        cursor.doc.apply_update(row.update)
        if recorder is not None:
            recorder.applied(row.seq)
    cursor.seq = max(cursor.seq, upto)
    if recorder is None:
        cursor.track = None
        return
    if recorder.track.upto_seq < upto:
        recorder.applied(upto)  # rows compacted away at the end: unchanged text
    new = recorder.close()
    if new is None:  # an embed: no plain-text track for these versions
        cursor.track = None
    elif cursor.track is None:
        cursor.track = new
    else:
        cursor.track.deltas.extend(new.deltas)


async def store_checkpoint(store: Store, room: str, cursor: Cursor) -> None:
    """Store the cursor's doc as a checkpoint and its pending text track."""
    await store.add_checkpoint(room, cursor.seq, cursor.doc.get_update())
    if cursor.track is not None and cursor.track.deltas:
        track = cursor.track
        await store.add_text_track(room, track.from_seq, track.upto_seq, track.encode())
    cursor.track = None


async def doc_at(store: Store, room: str, seq: int) -> Doc[Any]:
    """The document exactly as it was after update `seq` (nearest checkpoint + tail)."""
    cursor = await open_cursor(store, room, seq)
    await advance(store, room, cursor, seq, record=False)
    return cursor.doc


async def text_at(store: Store, room: str, seq: int) -> str | None:
    """The `content` text after update `seq` from a stored text track (a few ms where
    `doc_at` decodes a whole checkpoint), or None where no track covers `seq`."""
    data = await store.text_track_covering(room, seq)
    return TextTrack.decode(data).text_at(seq) if data is not None else None


async def build_checkpoint(store: Store, room: str, upto: int) -> None:
    """Add a checkpoint at `upto`, built from stored rows, never from a live doc, and
    the text track of the versions since the previous checkpoint."""
    cursor = await open_cursor(store, room, upto)
    await advance(store, room, cursor, upto, record=True)
    await store_checkpoint(store, room, cursor)


class AutoCheckpointer:
    """Adds a checkpoint whenever a room has `every` updates past its last one.

    It keeps a cursor per room (at most `keep`, dropped on unload): the next build
    applies only the new rows — a checkpoint of a 100,000-item document costs ~10 ms of
    the event loop (encoding) instead of ~100 ms (decoding the previous one first) — and
    the text of versions after the last checkpoint is read from the cursor's track."""

    def __init__(self, store: Store, every: int, keep: int = 16) -> None:
        self._store = store
        self._every = every
        self._keep = keep
        self._last: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    def forget(self, room: str) -> None:
        """The room was unloaded: drop its cursor."""
        self._cursors.pop(room, None)
        self._locks.pop(room, None)

    async def text_at(self, room: str, seq: int) -> str | None:
        """The text after `seq` from the room's cursor, advancing it when `seq` is ahead
        (or opening one: that decodes a checkpoint once); None when the cursor is past
        `seq` with no track of it (a stored track or the CRDT must answer)."""
        async with self._locks.setdefault(room, asyncio.Lock()):
            cursor = self._cursors.pop(room, None) or await open_cursor(self._store, room, seq)
            if cursor.seq < seq:
                await advance(self._store, room, cursor, seq, record=True)  # raises: dropped
            self._keep_cursor(room, cursor)
            return cursor.text_at(seq)

    def _keep_cursor(self, room: str, cursor: Cursor) -> None:
        self._cursors[room] = cursor
        self._cursors.move_to_end(room)
        while len(self._cursors) > self._keep:
            self._cursors.popitem(last=False)

    def seen_load(self, room: str, checkpoint_seq: int) -> None:
        """Tell the policy where the room's latest checkpoint is (at load)."""
        self._last[room] = checkpoint_seq

    def committed(self, room: str, seq: int) -> None:
        """Called after a commit; schedules a checkpoint build when due."""
        if self._every <= 0 or room in self._tasks:
            return
        if seq - self._last.get(room, 0) >= self._every:
            self._last[room] = seq
            task = asyncio.get_running_loop().create_task(self._build(room, seq))
            self._tasks[room] = task

    async def _build(self, room: str, seq: int) -> None:
        try:
            # Nodes sharing a PostgreSQL database all see the room's seqs grow: one
            # builds (advisory lock), and none rebuilds what another just built.
            async with room_maintenance_lock(self._store, room) as mine:
                if not mine:
                    return
                latest = await self._store.checkpoint_before(room, seq)
                if latest is not None and seq - latest[0] < self._every:
                    return
                async with self._locks.setdefault(room, asyncio.Lock()):
                    cursor = self._cursors.pop(room, None)
                    if cursor is None or cursor.seq > seq:
                        cursor = await open_cursor(self._store, room, seq)
                    await advance(self._store, room, cursor, seq, record=True)
                    await store_checkpoint(self._store, room, cursor)
                    self._keep_cursor(room, cursor)
        except Exception as exc:  # a missed checkpoint only costs load time
            log.warning("checkpoint of %s at %d failed: %s", room, seq, exc)
        finally:
            self._tasks.pop(room, None)

    async def aclose(self) -> None:
        """Wait for checkpoint builds in flight (idempotent)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
