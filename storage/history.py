"""Rebuilding documents from the store's own rows: any version, and checkpoints."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pycrdt import Doc

from storage.sql.locks import room_maintenance_lock
from storage.text_track import TextTrack, TrackRecorder
from storage.types import Store

log = logging.getLogger("samepage.storage")


async def doc_at(store: Store, room: str, seq: int) -> Doc[Any]:
    """The document exactly as it was after update `seq` (nearest checkpoint + tail)."""
    doc, _ = await _replay(store, room, seq, record=False)
    return doc


async def text_at(store: Store, room: str, seq: int) -> str | None:
    """The `content` text after update `seq` from a text track (a few ms where
    `doc_at` decodes a whole checkpoint), or None where no track covers `seq`."""
    data = await store.text_track_covering(room, seq)
    return TextTrack.decode(data).text_at(seq) if data is not None else None


async def build_checkpoint(store: Store, room: str, upto: int) -> None:
    """Add a checkpoint at `upto`, built from stored rows, never from a live doc, and
    the text track of the versions since the previous checkpoint."""
    doc, track = await _replay(store, room, upto, record=True)
    await store.add_checkpoint(room, upto, doc.get_update())
    if track is not None and track.deltas:
        await store.add_text_track(room, track.from_seq, track.upto_seq, track.encode())


async def _replay(
    store: Store, room: str, seq: int, *, record: bool
) -> tuple[Doc[Any], TextTrack | None]:
    doc: Doc[Any] = Doc()
    start = 0
    checkpoint = await store.checkpoint_before(room, seq)
    if checkpoint is not None:
        start, state = checkpoint
        doc.apply_update(state)
    recorder = TrackRecorder(doc, start) if record else None
    for record_ in await store.updates_range(room, start, seq):
        doc.apply_update(record_.update)
        if recorder is not None:
            recorder.applied(record_.seq)
    if recorder is None:
        return doc, None
    if recorder.track.upto_seq < seq:
        recorder.applied(seq)  # rows compacted away at the end: unchanged text
    return doc, recorder.close()


class AutoCheckpointer:
    """Adds a checkpoint whenever a room has `every` updates past its last one."""

    def __init__(self, store: Store, every: int) -> None:
        self._store = store
        self._every = every
        self._last: dict[str, int] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

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
                await build_checkpoint(self._store, room, seq)
        except Exception as exc:  # a missed checkpoint only costs load time
            log.warning("checkpoint of %s at %d failed: %s", room, seq, exc)
        finally:
            self._tasks.pop(room, None)

    async def aclose(self) -> None:
        """Wait for checkpoint builds in flight (idempotent)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)
