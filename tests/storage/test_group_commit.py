"""The SQLite group commit: the write lock taken on the loop when it is free, waited
for in the writer's thread when another connection holds it; concurrent appends share
commits."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from storage.sql import writer
from storage.sql.engine import database_url
from storage.sql.store import SqlStore


async def test_append_waits_for_another_writer_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "locked.db"
    store = SqlStore(database_url(str(path)))
    await store.start()
    try:
        assert (await store.append("r", b"\x00\x00", "a")).seq == 1
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process writing
        pending = store.append("r", b"\x00\x00", "a")
        ticks = 0
        while ticks < 20:  # the loop keeps running while the writer waits for the lock
            await asyncio.sleep(0.005)
            ticks += 1
        assert not pending.done()
        other.execute("COMMIT")
        assert (await pending).seq == 2
        other.close()
        assert (await store.append("r", b"\x00\x00", "a")).seq == 3
    finally:
        await store.aclose()


async def test_concurrent_appends_gather_for_the_commit_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "COMMIT_WINDOW_S", 0.5)
    batches: list[int] = []
    store = SqlStore(
        database_url(str(tmp_path / "batched.db")), on_batch=lambda n, _s: batches.append(n)
    )
    await store.start()
    try:
        first = store.append("a", b"\x00\x00", "x")  # after an idle spell: at once
        await asyncio.sleep(0)
        second = store.append("b", b"\x00\x00", "x")  # arrives during the first commit
        await first
        third = store.append("c", b"\x00\x00", "x")  # within the window: joins it
        await asyncio.gather(second, third)
        assert batches == [1, 2]
        started = time.monotonic()
        await store.append("d", b"\x00\x00", "x")  # a lone append is not held back
        assert time.monotonic() - started < 0.4
        assert batches == [1, 2, 1]
    finally:
        await store.aclose()
