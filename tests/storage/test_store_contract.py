"""One contract, every Store: memory, SQLite (a real file) and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text

from storage.history import build_checkpoint, doc_at
from storage.memory import MemoryStore
from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from storage.types import Store
from tests.helpers.services import fresh_pg_database


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "memory":
        memory = MemoryStore()
        await memory.start()
        yield memory
        await memory.aclose()
        return
    if request.param == "sqlite":
        sql = SqlStore(database_url(str(tmp_path / "contract.db")))
        await sql.start()
        yield sql
        await sql.aclose()
        return
    async with fresh_pg_database() as url:
        pg = SqlStore(url)
        await pg.start()
        yield pg
        await pg.aclose()


def edits(n: int) -> tuple[list[bytes], list[str]]:
    """n updates of one client appending, and the text after each."""
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda e: updates.append(e.update))
    texts = []
    for i in range(n):
        text.insert(len(text), f"{i},")
        texts.append(str(text))
    return updates, texts


def text_of(update_or_doc: Any) -> str:
    if isinstance(update_or_doc, bytes):
        doc: Doc[Any] = Doc()
        doc.apply_update(update_or_doc)
        update_or_doc = doc
    return str(update_or_doc.get("content", type=Text))


async def test_append_assigns_consecutive_seqs_in_call_order(store: Store) -> None:
    updates, _ = edits(30)
    futures = [store.append("r", u, f"user{i % 3}") for i, u in enumerate(updates)]
    results = await asyncio.gather(*futures)
    assert [r.seq for r in results] == list(range(1, 31))
    info = await store.room_info("r")
    assert info is not None and info.seq == 30 and info.bytes == sum(map(len, updates))


async def test_rooms_are_independent(store: Store) -> None:
    updates, _ = edits(3)
    await asyncio.gather(*(store.append(room, updates[0], "a") for room in ["a", "b", "c"]))
    assert (await store.append("b", updates[1], "a")).seq == 2
    assert sorted(r.name for r in await store.list_rooms()) == ["a", "b", "c"]
    assert await store.room_info("nope") is None


async def test_room_list_pages_by_cursor_and_filters_by_prefix(store: Store) -> None:
    """Pages follow the list's order (newest first, ties by name) without gaps or
    repeats; the prefix is literal (`_` and `%` are not wildcards)."""
    updates, _ = edits(1)
    names = ["team-a", "team-b", "team_c", "team%d", "other", "tea"]
    for name in names:
        await store.append(name, updates[0], "a")
    everything = await store.list_rooms()
    assert sorted(r.name for r in everything) == sorted(names)
    keys = [(r.updated_us, r.name) for r in everything]
    assert keys == sorted(keys, key=lambda k: (-k[0], k[1]))
    paged, after = [], None
    while True:
        page = await store.list_rooms(after=after, limit=4)
        paged += page
        if len(page) < 4:
            break
        after = (page[-1].updated_us, page[-1].name)
    assert [r.name for r in paged] == [r.name for r in everything]
    assert sorted(r.name for r in await store.list_rooms(prefix="team-")) == ["team-a", "team-b"]
    assert [r.name for r in await store.list_rooms(prefix="team_")] == ["team_c"]
    assert [r.name for r in await store.list_rooms(prefix="team%")] == ["team%d"]
    assert await store.list_rooms(prefix="zzz") == []


async def test_load_is_checkpoint_plus_tail(store: Store) -> None:
    updates, texts = edits(20)
    await asyncio.gather(*(store.append("r", u, "a") for u in updates[:12]))
    await build_checkpoint(store, "r", 12)
    await asyncio.gather(*(store.append("r", u, "a") for u in updates[12:]))
    loaded = await store.load("r")
    assert loaded.seq == 20 and loaded.checkpoint_seq == 12 and len(loaded.tail) == 8
    doc: Doc[Any] = Doc()
    assert loaded.checkpoint is not None
    doc.apply_update(loaded.checkpoint)
    for u in loaded.tail:
        doc.apply_update(u)
    assert text_of(doc) == texts[-1]


async def test_any_version_is_rebuilt_exactly(store: Store) -> None:
    updates, texts = edits(25)
    await asyncio.gather(*(store.append("r", u, "a") for u in updates))
    await build_checkpoint(store, "r", 10)
    await build_checkpoint(store, "r", 20)
    for seq in [1, 9, 10, 11, 19, 20, 21, 25]:
        assert text_of(await doc_at(store, "r", seq)) == texts[seq - 1]


async def test_history_newest_first_with_authors(store: Store) -> None:
    updates, _ = edits(5)
    for i, u in enumerate(updates):
        await store.append("r", u, f"user{i}")
    rows = await store.history("r", limit=3)
    assert [r.seq for r in rows] == [5, 4, 3] and rows[0].author == "user4"
    assert [r.size for r in rows] == [len(u) for u in updates[4:1:-1]], "sizes, no bytes"
    assert [r.seq for r in await store.history("r", limit=10, before=3)] == [2, 1]
    assert [r.seq for r in await store.updates_range("r", 1, 3)] == [2, 3]


async def test_seq_at_time(store: Store) -> None:
    updates, _ = edits(3)
    first = await store.append("r", updates[0], "a")
    await asyncio.sleep(0.01)
    await store.append("r", updates[1], "a")
    assert await store.seq_at_time("r", first.time_us) == 1
    assert await store.seq_at_time("r", first.time_us - 1) == 0


async def test_versions_and_covered_deletion_keep_named_points(store: Store) -> None:
    updates, texts = edits(10)
    await asyncio.gather(*(store.append("r", u, "a") for u in updates))
    await store.add_version("r", 4, "draft", "alice")
    assert [(v.seq, v.label) for v in await store.list_versions("r")] == [(4, "draft")]
    assert await store.delete_updates_covered("r", 10, keep={4}) == 0  # no checkpoint yet
    await build_checkpoint(store, "r", 3)
    await build_checkpoint(store, "r", 8)
    deleted = await store.delete_updates_covered("r", 8, keep={4})
    assert deleted == 7
    assert [r.seq for r in await store.updates_range("r", 0, 10)] == [4, 9, 10]
    loaded = await store.load("r")
    assert loaded.checkpoint_seq == 8 and text_of(await doc_at(store, "r", 10)) == texts[-1]


async def test_flush_waits_for_everything_queued(store: Store) -> None:
    updates, _ = edits(50)
    futures = [store.append("r", u, "a") for u in updates]
    await store.flush()
    assert all(f.done() for f in futures)
    await store.ping()


async def test_interleaved_rooms_in_one_batch_get_their_own_seqs(store: Store) -> None:
    updates, _ = edits(20)
    futures = [
        (room, store.append(room, update, "a"))
        for update in updates
        for room in ["zeta", "alpha", "mid"]
    ]
    results = await asyncio.gather(*(f for _, f in futures))
    for room in ["zeta", "alpha", "mid"]:
        seqs = [r.seq for (name, _), r in zip(futures, results, strict=True) if name == room]
        assert seqs == list(range(1, 21))
        info = await store.room_info(room)
        assert info is not None and info.seq == 20


async def test_room_seqs_answers_many_rooms_at_once(store: Store) -> None:
    updates, _ = edits(3)
    for i, update in enumerate(updates):
        for room in [f"r{j}" for j in range(i + 1)]:
            await store.append(room, update, "a")
    names = [f"r{j}" for j in range(3)] + ["never-stored"]
    assert await store.room_seqs(names) == {"r0": 3, "r1": 2, "r2": 1}
    assert await store.room_seqs([]) == {}


async def test_text_timeline_snapshots_are_replaced(store: Store) -> None:
    assert await store.load_text_timeline("r") is None
    await store.save_text_timeline("r", 0, 10, b"first")
    await store.save_text_timeline("r", 5, 20, b"second")
    assert await store.load_text_timeline("r") == (5, 20, b"second")
    assert await store.load_text_timeline("other") is None


async def test_a_write_probe_commits_and_no_commit_has_failed(store: Store) -> None:
    assert store.failed_commits == (0, "")
    await store.ping(write=True)  # readiness' probe: a real write, committed
    await store.ping(write=True)
    await store.append("r", edits(1)[0][0], "a")
    assert store.failed_commits == (0, "")


async def test_maintenance_lock_is_granted_when_nobody_holds_it(store: Store) -> None:
    """Granted at once when free; memory and SQLite (one owner per database) grant it
    even nested. Between PostgreSQL nodes it excludes: tests/cluster/test_locks.py."""
    async with store.maintenance_lock("r") as mine:
        assert mine is True
        if isinstance(store, MemoryStore) or "sqlite" in str(getattr(store, "engine", "")):
            async with store.maintenance_lock("r", wait=True) as again:
                assert again is True
    async with store.maintenance_lock("r", wait=True) as after:
        assert after is True


async def test_a_fork_origin_is_recorded_for_the_current_epoch(store: Store) -> None:
    updates, _ = edits(2)
    for update in updates:
        await store.append("copy", update, "ana")
    await store.flush()
    assert await store.list_epochs("copy") == []
    await store.record_origin("copy", "source", 0, 7)
    [epoch] = await store.list_epochs("copy")
    assert (epoch.room, epoch.epoch, epoch.origin_room, epoch.origin_seq) == (
        "copy",
        0,
        "source",
        7,
    )
    assert epoch.ended_us is None and not epoch.kept
    info = await store.room_info("copy")
    assert info is not None and (info.epoch, info.base, info.deleted) == (0, 0, False)


async def test_reset_keeps_the_old_epoch_readable_and_fences_its_appends(store: Store) -> None:
    from pycrdt import get_state

    from storage.types import EpochChanged
    from sync.protocol import decode_state_vector

    updates, texts = edits(5)
    for update in updates:
        await store.append("r", update, "ana")
    await store.flush()
    await build_checkpoint(store, "r", 3)
    await store.add_version("r", 4, "four", "ana")
    end = await store.end_epoch("r", "reset", keep=True)
    assert (end.epoch, end.last_seq, end.base) == (1, 5, 6) and end.archive
    info = await store.room_info("r")
    assert info is not None and (info.epoch, info.base, info.seq, info.deleted) == (1, 6, 6, False)
    loaded = await store.load("r")
    assert (loaded.epoch, loaded.seq, loaded.tail) == (1, 6, [])
    assert text_of(loaded.checkpoint) == ""
    [retired] = loaded.retired
    writer = set(decode_state_vector(get_state(updates[0])))
    assert writer <= set(decode_state_vector(retired))
    # the old epoch, under its archive key, as it was
    assert text_of(await doc_at(store, end.archive, 5)) == texts[4]
    assert text_of(await doc_at(store, end.archive, 2)) == texts[1]
    assert [v.label for v in await store.list_versions(end.archive)] == ["four"]
    assert await store.list_versions("r") == [] and await store.history("r") == []
    assert [r.name for r in await store.list_rooms()] == ["r"]
    epochs = await store.list_epochs("r")
    assert [(e.epoch, e.ended_by, e.last_seq, e.kept) for e in epochs] == [
        (0, "reset", 5, True),
        (1, None, None, False),
    ]
    # an append for the old epoch is refused; the new epoch's go on after the gap
    with pytest.raises(EpochChanged):
        await store.append("r", updates[0], "stale", epoch=0)
    fresh, fresh_texts = edits(2)
    assert (await store.append("r", fresh[0], "bo", epoch=1)).seq == 7
    assert (await store.append("r", fresh[1], "bo", epoch=1)).seq == 8
    assert text_of(await doc_at(store, "r", 8)) == fresh_texts[1]
    assert text_of(await doc_at(store, "r", 7)) == fresh_texts[0]
    assert [r.seq for r in await store.history("r")] == [8, 7]


async def test_delete_drops_every_epoch_and_the_room_comes_back_empty(store: Store) -> None:
    updates, _ = edits(3)
    for update in updates:
        await store.append("d", update, "ana")
    await store.flush()
    first = await store.end_epoch("d", "reset", keep=True)
    await store.append("d", updates[0], "ana", epoch=1)
    await store.flush()
    end = await store.end_epoch("d", "delete", keep=False)
    assert (end.epoch, end.archive) == (2, None)
    assert await store.history(first.archive or "") == []
    assert await store.room_info(first.archive or "") is None
    info = await store.room_info("d")
    assert info is not None and info.deleted and info.seq == info.base
    assert "d" not in [r.name for r in await store.list_rooms()]
    assert [(e.epoch, e.ended_by, e.kept) for e in await store.list_epochs("d")] == [
        (0, "reset", False),
        (1, "delete", False),
        (2, None, False),
    ]
    assert len((await store.load("d")).retired) == 2
    await store.append("d", updates[0], "bo", epoch=2)
    await store.flush()
    info = await store.room_info("d")
    assert info is not None and not info.deleted
    assert "d" in [r.name for r in await store.list_rooms()]
