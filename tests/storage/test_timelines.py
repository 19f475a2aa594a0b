"""Text timelines over a real store (a SQLite file): built at the first read, kept up
to date by the checkpoint builder, restarted after compaction at its cutoff, and
stopped (not wrong) at an update they cannot follow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc

from storage.checkpoints import AutoCheckpointer
from storage.compaction import compact_room
from storage.history import doc_at, update_at
from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from storage.texthistory.cache import TextTimelines
from tests.storage.test_history_cursor import random_edits, text_of


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    sql = SqlStore(database_url(str(tmp_path / "timelines.db")))
    await sql.start()
    yield sql
    await sql.aclose()


async def fill(store: SqlStore, room: str, updates: list[bytes]) -> None:
    for update in updates:
        await store.append(room, update, "a")


async def test_first_read_starts_a_build_and_later_reads_advance(store: SqlStore) -> None:
    updates, texts = random_edits(120, seed=3)
    await fill(store, "r", updates[:80])
    timelines = TextTimelines(store)
    assert await timelines.text_at("r", 40) is None  # built in the background
    assert await timelines.text_at("r", 40, wait=True) == texts[39]
    assert await timelines.text_at("r", 0, wait=True) == ""
    for k in (80, 1, 40, 79):
        assert await timelines.text_at("r", k, wait=True) == texts[k - 1], k
    await fill(store, "r", updates[80:])
    for k in (120, 81, 2):  # past its seq: it applies the new rows first
        assert await timelines.text_at("r", k, wait=True) == texts[k - 1], k


async def test_the_text_history_keeps_a_new_room_caught_up(store: SqlStore) -> None:
    """web.text_history feeds the timelines as a listener of the room manager (a
    stand-in manager here: only `add_listener` is used)."""
    from types import SimpleNamespace
    from typing import Any, cast

    from sync.types import CommitNotice
    from web.text_history import TextHistory

    updates, texts = random_edits(95, seed=4)
    listeners: list[Any] = []
    manager = SimpleNamespace(add_listener=listeners.append)
    history = TextHistory(store, cast(Any, manager), keep=8, every=10)
    assert listeners == [history]
    history.on_load(cast(Any, SimpleNamespace(name="r", seq=0)))  # no update yet
    for update in updates:
        result = await store.append("r", update, "a")
        # Rows committed here come along (no read back); every 7th came from another
        # node, so the catch-up reads those from the database.
        rows = [(result.seq, update, "a")] if result.seq % 7 else []
        history.on_commit(CommitNotice("r", result.seq, rows))
        await asyncio.sleep(0)
    while history._catching_up:
        await asyncio.gather(*history._catching_up.values())
    assert history.timelines.behind("r", 95) < 10  # applied in the background
    for k in range(1, 96):
        assert await history.timelines.text_at("r", k, wait=True) == texts[k - 1], k
    await history.aclose()


async def test_after_compaction_it_starts_at_the_cutoff(store: SqlStore) -> None:
    updates, texts = random_edits(60, seed=5)
    await fill(store, "r", updates[:40])
    await store.add_version("r", 20, "named", "a")
    result = await compact_room(store, "r", keep_every=25, now_us=0)  # cutoff: 40
    assert result.cutoff == 40 and result.rows_deleted > 0
    await fill(store, "r", updates[40:])
    timelines = TextTimelines(store)
    for k in (60, 41, 40, 55):  # the full history after the cutoff
        assert await timelines.text_at("r", k, wait=True) == texts[k - 1], k
    # Before the cutoff only kept points remain: those come from Yrs, as before.
    assert await timelines.text_at("r", 20, wait=True) is None
    assert text_of(await doc_at(store, "r", 20)) == texts[19]

    all_compacted = TextTimelines(store)
    await compact_room(store, "r", keep_every=25, now_us=0)  # cutoff: 60
    assert await all_compacted.text_at("r", 60, wait=True) == texts[59]
    assert await all_compacted.text_at("r", 59, wait=True) is None


async def test_an_update_it_cannot_follow_stops_it_where_it_was_exact(store: SqlStore) -> None:
    updates, texts = random_edits(30, seed=6)
    await fill(store, "r", updates[:10])
    timelines = TextTimelines(store)
    assert await timelines.text_at("r", 10, wait=True) == texts[9]
    # Yrs ignores an update of garbage structs it never integrates; ours cannot parse it.
    await store.append("r", b"\x01\x01\x01\x00\x1f", "mallory")
    await fill(store, "r", updates[10:])
    assert await timelines.text_at("r", 25, wait=True) is None
    assert await timelines.text_at("r", 7, wait=True) == texts[6]
    assert timelines.behind("r", 31) == 0  # stopped: nothing more is applied


async def test_a_version_compacted_by_another_process_is_left_to_yrs(store: SqlStore) -> None:
    """A timeline built before `samepage compact` still holds every version exactly;
    once the rows are folded, versions resolve to the kept point before them (as the
    other formats and the CLI say), so the timeline declines them."""
    updates, texts = random_edits(31, seed=8)
    await fill(store, "r", updates[:30])
    timelines = TextTimelines(store)
    assert await timelines.text_at("r", 12, wait=True) == texts[11]
    await compact_room(store, "r", keep_every=10, now_us=0)  # cutoff 30
    assert await timelines.text_at("r", 12) is None
    assert text_of(await doc_at(store, "r", 12)) == texts[9]  # the kept point at 10
    await fill(store, "r", updates[30:])
    assert await timelines.text_at("r", 31) == texts[30]  # a row after the cutoff


async def test_update_at_is_the_document_doc_at_rebuilds(store: SqlStore) -> None:
    """`content?at=&format=yjs` merges the nearest checkpoint with the rows after it
    instead of rebuilding a doc: the same document (text and state vector)."""
    updates, _ = random_edits(70, seed=9)
    checkpointer = AutoCheckpointer(store, every=16)
    for update in updates:
        result = await store.append("r", update, "a")
        checkpointer.committed("r", result.seq)
        await asyncio.sleep(0)
    await checkpointer.aclose()
    assert (await store.checkpoint_before("r", 70)) is not None
    for k in [0, 1, 15, 16, 17, 33, 48, 69, 70]:
        merged: Doc[Any] = Doc()
        merged.apply_update(await update_at(store, "r", k))
        rebuilt = await doc_at(store, "r", k)
        assert text_of(merged) == text_of(rebuilt), k
        assert merged.get_state() == rebuilt.get_state(), k


async def test_a_saved_timeline_answers_after_a_restart(store: SqlStore) -> None:
    """What a build (or shutdown) saves answers every version up to its seq in a new
    process at once, while that one builds its own; later versions wait for it."""
    updates, texts = random_edits(50, seed=10)
    await fill(store, "r", updates[:40])
    first = TextTimelines(store)
    assert await first.text_at("r", 40, wait=True) == texts[39]
    await first.aclose()  # saves it
    saved = await store.load_text_timeline("r")
    assert saved is not None and saved[:2] == (0, 40)
    await fill(store, "r", updates[40:])

    restarted = TextTimelines(store)
    assert await restarted.text_at("r", 17) == texts[16]  # no wait: from the saved one
    assert restarted.answered == 1 and restarted.builds == 0
    assert await restarted.text_at("r", 45) is None  # after it: Yrs, until built
    assert await restarted.text_at("r", 45, wait=True) == texts[44]
    for k in range(0, 51):
        assert await restarted.text_at("r", k) == (texts[k - 1] if k else ""), k
    await restarted.aclose()
    assert (await store.load_text_timeline("r"))[:2] == (0, 50)  # type: ignore[index]


async def test_an_unreadable_saved_timeline_is_rebuilt(store: SqlStore) -> None:
    updates, texts = random_edits(20, seed=11)
    await fill(store, "r", updates)
    await store.save_text_timeline("r", 0, 20, b"SPT1 not zlib")
    timelines = TextTimelines(store)
    assert await timelines.text_at("r", 7) is None  # not from the bad one: Yrs answers
    assert await timelines.text_at("r", 7, wait=True) == texts[6]
