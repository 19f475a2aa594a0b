"""Compaction by another process (a second store on the same database: SQLite file or
PostgreSQL) while this one keeps checkpoint cursors, text timelines and version reads:
nothing built afterwards misses a row, folded versions read as the kept point before
them, and structs still waiting for a dependency survive checkpoints and compaction."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Text
from sqlalchemy import event

from storage.checkpoints import AutoCheckpointer
from storage.compaction import compact_room
from storage.history import doc_at, read_base, update_at
from storage.sql.engine import database_url
from storage.sql.sqlite_read import _TAIL
from storage.sql.store import SqlStore
from storage.texthistory.cache import TextTimelines
from storage.types import Store, UpdateRecord
from tests.helpers.services import fresh_pg_database
from tests.storage.test_history_cursor import random_edits, text_of

ROOM = "r"


@pytest.fixture(params=["sqlite", "postgresql"])
async def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    """The server's store and another process's store on one database."""
    if request.param == "sqlite":
        async with _pair(database_url(str(tmp_path / "shared.db"))) as pair:
            yield pair
        return
    async with fresh_pg_database() as url, _pair(url) as pair:
        yield pair


@asynccontextmanager
async def _pair(url: str) -> AsyncIterator[tuple[SqlStore, SqlStore]]:
    server, other = SqlStore(url), SqlStore(url)
    await server.start()
    await other.start()
    try:
        yield server, other
    finally:
        await other.aclose()
        await server.aclose()


def text_of_update(update: bytes) -> str:
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return text_of(doc)


async def append_all(store: Store, updates: list[bytes]) -> None:
    for update in updates:
        await store.append(ROOM, update, "t")


async def compact(store: Store, keep_every: int = 10) -> None:
    await compact_room(store, ROOM, keep_every=keep_every, now_us=0)


async def checkpointed(store: Store, updates: list[bytes], every: int) -> AutoCheckpointer:
    """A checkpointer whose cursor sits at the last of `updates`, all appended."""
    checkpointer = AutoCheckpointer(store, every=every)
    await append_all(store, updates)
    checkpointer.committed(ROOM, len(updates))
    await checkpointer.aclose()
    assert checkpointer._cursors[ROOM].seq == len(updates)
    return checkpointer


async def test_checkpoints_built_after_a_compaction_miss_no_row(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    server, other = two_stores
    updates, texts = random_edits(100, seed=3)
    checkpointer = await checkpointed(server, updates[:40], every=20)  # the old code trusted it
    await append_all(server, updates[40:70])
    await compact(other)  # folds rows 1..70 into checkpoints every 10
    assert await server.updates_range(ROOM, 40, 70) == []
    await append_all(server, updates[70:])
    checkpointer.seen_load(ROOM, 70)
    checkpointer.committed(ROOM, 100)
    await checkpointer.aclose()
    checkpoint = await server.checkpoint_before(ROOM, 100)
    assert checkpoint is not None and checkpoint[0] == 100
    assert text_of_update(checkpoint[1]) == texts[99]
    loaded = await server.load(ROOM)
    assert loaded.checkpoint_seq == 100 and loaded.tail == []


async def test_folded_versions_read_as_the_kept_point_before_them(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    server, other = two_stores
    updates, texts = random_edits(80, seed=5)
    checkpointer = await checkpointed(server, updates[:50], every=50)
    await append_all(server, updates[50:80])
    await other.add_version(ROOM, 63, "named", "t")
    await compact(other)  # kept: 10, 20, ..., 80 and the named 63
    for seq in range(1, 81):
        kept = seq if seq % 10 == 0 or seq == 63 else (seq // 10) * 10
        if 63 < seq < 70:
            kept = 63
        expected = texts[kept - 1] if kept else ""
        # the cursor declines what it cannot read exactly, the store answers
        assert await checkpointer.read_at(ROOM, seq, text_of) in (None, expected), seq
        assert text_of(await doc_at(server, ROOM, seq)) == expected, seq
        assert text_of_update(await update_at(server, ROOM, seq)) == expected, seq
        assert (await read_base(server, ROOM, seq)).seq == kept, seq


class CompactingStore:
    """The server's store, with another process compacting the room right between
    two of this store's reads (a race that real timing makes rare)."""

    def __init__(self, inner: SqlStore, other: SqlStore, keep_every: int) -> None:
        self.inner, self.other, self.keep_every = inner, other, keep_every
        self.armed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def updates_range(self, room: str, after: int, upto: int) -> list[UpdateRecord]:
        if self.armed:
            self.armed = False
            await compact(self.other, self.keep_every)
        return await self.inner.updates_range(room, after, upto)


@pytest.mark.parametrize("seq", [55, 60, 77, 90])
async def test_a_read_racing_a_compaction_reads_again(
    two_stores: tuple[SqlStore, SqlStore], seq: int
) -> None:
    server, other = two_stores
    updates, texts = random_edits(90, seed=11)
    await append_all(server, updates)
    await server.add_checkpoint(ROOM, 50, (await update_at(server, ROOM, 50)))
    racing = CompactingStore(server, other, keep_every=20)
    # read checkpoint 50, then the compaction adds 60, 80, 90 and deletes 1..90
    base = await read_base(racing, ROOM, seq)  # type: ignore[arg-type]
    kept = max(p for p in (20, 40, 50, 60, 80, 90) if p <= seq)
    assert base.seq == kept
    assert text_of(await doc_at(server, ROOM, seq)) == texts[kept - 1]


async def test_text_timelines_rebuild_after_a_compaction(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    server, other = two_stores
    updates, texts = random_edits(120, seed=9)
    await append_all(server, updates[:40])
    timelines = TextTimelines(server, keep=4)
    assert await timelines.text_at(ROOM, 40, wait=True) == texts[39]
    await append_all(server, updates[40:90])
    await compact(other)  # rows 41..90 are gone before the timeline saw them
    await append_all(server, updates[90:])
    await timelines.catch_up(ROOM, 120)
    assert await timelines.text_at(ROOM, 120, wait=True) == texts[119]
    assert timelines.builds == 2
    for seq in (95, 100, 119):
        assert await timelines.text_at(ROOM, seq) == texts[seq - 1]
    await timelines.aclose()


def out_of_order_updates() -> tuple[list[bytes], str]:
    """Four updates of one writer; applying [2, 3] before [0, 1] leaves 2 pending (it
    follows a struct of update 1) and 3 a pending delete (of update 1's text)."""
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text.insert(0, "héllo ")
    text.insert(6, "wörld ")
    text.insert(12, "again 😀")
    del text[6:8]
    return updates, str(text)


async def test_pending_structs_survive_checkpoints_compaction_and_reload(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    server, other = two_stores
    updates, final = out_of_order_updates()
    await append_all(server, [updates[0], updates[2], updates[3]])  # update 1 is late
    checkpointer = AutoCheckpointer(server, every=1)
    checkpointer.committed(ROOM, 3)
    await checkpointer.aclose()
    checkpoint = await server.checkpoint_before(ROOM, 3)
    assert checkpoint is not None and checkpoint[0] == 3
    await compact(other, keep_every=1)
    assert await server.updates_range(ROOM, 0, 3) == []  # only checkpoints hold them now
    await server.append(ROOM, updates[1], "t")  # the missing dependency arrives
    loaded = await server.load(ROOM)
    doc: Doc[Any] = Doc()
    assert loaded.checkpoint is not None
    doc.apply_update(loaded.checkpoint)
    for update in loaded.tail:
        doc.apply_update(update)
    assert text_of(doc) == final
    assert text_of(await doc_at(server, ROOM, 4)) == final
    await compact(other, keep_every=1)  # and again, with everything integrated
    assert text_of(await doc_at(server, ROOM, 4)) == final
    assert text_of_update((await server.load(ROOM)).checkpoint or b"") == final
    checkpointer = AutoCheckpointer(server, every=1)
    await append_all(server, [updates[3]])  # a duplicate: changes nothing
    checkpointer.committed(ROOM, 5)
    await checkpointer.aclose()
    assert text_of(await doc_at(server, ROOM, 5)) == final
    await asyncio.sleep(0)


async def test_a_room_loaded_while_a_compaction_commits_misses_nothing(
    two_stores: tuple[SqlStore, SqlStore],
) -> None:
    """`load` reads the checkpoint, then the tail: on PostgreSQL (read committed) a
    compaction committing in between left the rows it folded out of both."""
    server, _ = two_stores
    updates, texts = random_edits(60, seed=13)
    await append_all(server, updates)
    await server.add_checkpoint(ROOM, 20, await update_at(server, ROOM, 20))
    fired: list[bool] = []

    def compact_in_between(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not fired and statement.startswith(("SELECT updates.seq, updates.data", _TAIL[:20])):
            fired.append(True)  # another process compacts right now (this one waits)
            worker = threading.Thread(target=asyncio.run, args=(compact_fresh(server.url),))
            worker.start()
            worker.join()

    event.listen(server.engine.sync_engine, "before_cursor_execute", compact_in_between)
    if server._reader is not None:  # SQLite loads through plain sqlite3: one snapshot
        server._reader.trace = lambda sql: compact_in_between(None, None, sql)
    loaded = await server.load(ROOM)
    assert fired
    doc: Doc[Any] = Doc()
    doc.apply_update(loaded.checkpoint or b"\x00\x00")
    for update in loaded.tail:
        doc.apply_update(update)
    assert text_of(doc) == texts[59]


async def compact_fresh(url: str) -> None:
    store = SqlStore(url)
    await store.start()
    try:
        await compact(store)
    finally:
        await store.aclose()
