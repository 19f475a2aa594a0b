"""The checkpoint builder holds the rows this node committed (`committed(..., rows)`) and
builds from them without reading them back: the checkpoints equal the ones built from
the database, structs waiting for a dependency are kept, a gap (rows another node
committed) or a full budget falls back to reading, and rooms that come due together
are built a few at a time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pycrdt import Doc

from storage import checkpoints
from storage.checkpoints import AutoCheckpointer
from storage.history import doc_at
from storage.memory import MemoryStore
from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from storage.types import Store, UpdateRecord
from tests.storage.test_compaction_races import out_of_order_updates
from tests.storage.test_history_cursor import random_edits, text_of

ROOM = "r"


class CountingStore(MemoryStore):
    """A memory store that counts row reads and the builds running at once."""

    def __init__(self) -> None:
        super().__init__()
        self.row_reads = 0
        self.building = 0
        self.most_building = 0

    async def updates_range(self, room: str, after: int, upto: int) -> list[UpdateRecord]:
        self.row_reads += 1
        return await super().updates_range(room, after, upto)

    async def add_checkpoint(self, room: str, seq: int, state: bytes) -> None:
        self.building += 1
        self.most_building = max(self.most_building, self.building)
        await asyncio.sleep(0.01)  # a commit takes a while
        await super().add_checkpoint(room, seq, state)
        self.building -= 1


async def commit_all(
    store: Store,
    checkpointer: AutoCheckpointer,
    room: str,
    updates: list[bytes],
    hold: bool,
    settle: bool = True,
) -> None:
    """Append each update and tell the checkpointer, as the room's listener does;
    `settle`: let each build finish before the next commit (a commit while a build
    runs schedules none: which seqs get one would depend on timing)."""
    for update in updates:
        result = await store.append(room, update, "t")
        rows = [(result.seq, update)] if hold else []
        checkpointer.committed(room, result.seq, rows)
        if settle:
            await checkpointer.aclose()


def text_of_state(state: bytes) -> str:
    doc: Doc[Any] = Doc()
    doc.apply_update(state)
    return text_of(doc)


async def assert_checkpoints(store: Store, room: str, seqs: list[int], texts: list[str]) -> None:
    """The room has a checkpoint at each of `seqs`, with the text of that version."""
    for seq in seqs:
        checkpoint = await store.checkpoint_before(room, seq)
        assert checkpoint is not None and checkpoint[0] == seq
        assert text_of_state(checkpoint[1]) == texts[seq - 1]


async def test_builds_from_the_rows_it_holds_without_reading_them() -> None:
    updates, texts = random_edits(60, seed=3)
    store = CountingStore()
    await store.start()
    checkpointer = AutoCheckpointer(store, every=10)
    await commit_all(store, checkpointer, ROOM, updates[:40], hold=True)
    await checkpointer.aclose()
    assert store.row_reads == 0
    await assert_checkpoints(store, ROOM, [10, 20, 30, 40], texts)
    # a new builder (no cursor: the room was unloaded and loaded again) decodes the
    # last checkpoint and applies the held rows after it
    checkpointer.forget(ROOM)
    fresh = AutoCheckpointer(store, every=10)
    fresh.seen_load(ROOM, 40)
    await commit_all(store, fresh, ROOM, updates[40:], hold=True)
    await fresh.aclose()
    assert store.row_reads == 0
    await assert_checkpoints(store, ROOM, [50, 60], texts)
    assert text_of(await doc_at(store, ROOM, 55)) == texts[54]
    await store.aclose()


async def test_held_rows_keep_structs_waiting_for_a_dependency(tmp_path: Path) -> None:
    """Update 1 comes last: the checkpoint at 3 (built from held rows) must keep
    updates 2 and 3, which the document cannot integrate yet."""
    updates, final = out_of_order_updates()
    store = SqlStore(database_url(str(tmp_path / "pending.db")))
    await store.start()
    checkpointer = AutoCheckpointer(store, every=3)
    await commit_all(store, checkpointer, ROOM, [updates[0], updates[2], updates[3]], True)
    await checkpointer.aclose()
    checkpoint = await store.checkpoint_before(ROOM, 3)
    assert checkpoint is not None and checkpoint[0] == 3
    doc: Doc[Any] = Doc()
    doc.apply_update(checkpoint[1])
    doc.apply_update(updates[1])  # the dependency arrives: the held-back parts apply
    assert text_of(doc) == final
    await store.aclose()


async def test_a_gap_in_the_held_rows_reads_them_back() -> None:
    """Rows another node committed (not held here) are read from the store."""
    updates, texts = random_edits(30, seed=5)
    store = CountingStore()
    await store.start()
    checkpointer = AutoCheckpointer(store, every=10)
    await commit_all(store, checkpointer, ROOM, updates[:12], hold=True)
    await commit_all(store, checkpointer, ROOM, updates[12:15], hold=False)  # "remote"
    await commit_all(store, checkpointer, ROOM, updates[15:], hold=True)
    await checkpointer.aclose()
    assert store.row_reads >= 1  # the build at 20 read rows 11-20 back
    await assert_checkpoints(store, ROOM, [10, 20, 30], texts)
    await store.aclose()


async def test_over_the_budget_rows_are_read_back(monkeypatch: Any) -> None:
    monkeypatch.setattr(checkpoints, "KNOWN_ROW_BYTES", 200)
    updates, texts = random_edits(20, seed=9)
    store = CountingStore()
    await store.start()
    checkpointer = AutoCheckpointer(store, every=10)
    await commit_all(store, checkpointer, ROOM, updates, hold=True)
    await checkpointer.aclose()
    assert store.row_reads >= 1
    assert checkpointer._known_bytes <= 200
    await assert_checkpoints(store, ROOM, [20], texts)
    await store.aclose()


async def test_rooms_that_come_due_together_are_built_a_few_at_a_time() -> None:
    updates, texts = random_edits(10, seed=11)
    store = CountingStore()
    await store.start()
    checkpointer = AutoCheckpointer(store, every=10)
    rooms = [f"room-{n}" for n in range(30)]
    for room in rooms:
        await commit_all(store, checkpointer, room, updates, hold=True, settle=False)
    await checkpointer.aclose()
    assert store.most_building == checkpoints.BUILDS_AT_ONCE
    for room in rooms:
        await assert_checkpoints(store, room, [10], texts)
    assert len(checkpointer._cursors) == len(rooms)  # small documents: every cursor kept
    await store.aclose()
