"""The SQLite group commit: the write lock taken on the loop when it is free, waited
for in the writer's thread when another connection holds it; concurrent appends share
commits."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from storage.sql import writer
from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from web.app import make_store
from web.cli import build_parser, settings_from_args
from web.settings import Settings


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
        database_url(str(tmp_path / "batched.db")),
        on_batch=lambda n, _s: batches.append(n),
        commit_window=0.5,
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


async def test_one_commit_over_many_rooms_gives_each_room_its_own_seqs(tmp_path: Path) -> None:
    """The seq reservation takes several rooms a statement (chunks of 64, 16, 4, 1):
    every count of rooms, every room's appends in order, a room in another epoch refused."""
    store = SqlStore(database_url(str(tmp_path / "many.db")))
    await store.start()
    try:
        await store.append("stale", b"\x00\x00", "x")
        await store._writer.flush()
        raw = sqlite3.connect(tmp_path / "many.db", isolation_level=None)
        raw.execute("UPDATE rooms SET epoch = 1 WHERE name = 'stale'")  # reset elsewhere
        raw.close()
        for rooms in (1, 5, 21, 64, 90, 150):
            # Names people use: accents composed and decomposed (two rooms), emoji with a
            # skin tone and ZWJ, CJK, right-to-left.
            kinds = ["café", "cafe\u0301", "👋🏽👩\u200d👩\u200d👧", "日本語", "שלום", "r"]
            names = [f"{kinds[i % len(kinds)]}{rooms}-{i:03}" for i in range(rooms)]
            futures = [
                store.append(name, bytes([0, k]), "x") for k in range(3) for name in reversed(names)
            ]
            refused = store.append("stale", b"\x00\x00", "x", epoch=0)
            results = await asyncio.gather(*futures)
            for k in range(3):
                for i, name in enumerate(reversed(names)):
                    result = results[k * rooms + i]
                    assert (result.room, result.seq) == (name, k + 1)
            with pytest.raises(Exception, match="epoch"):
                await refused
        listed = {info.name: info.seq for info in await store.list_rooms()}
        assert listed["stale"] == 1
        assert listed["café150-000"] == listed["cafe\u0301150-001"] == listed["r150-149"] == 3
    finally:
        await store.aclose()


def test_the_commit_window_grows_with_the_arrival_rate_up_to_the_setting() -> None:
    assert writer.commit_window(0) == writer.COMMIT_WINDOW_S == 0.004
    assert writer.commit_window(2000) == 0.004
    assert writer.commit_window(3500) == pytest.approx(0.007)
    assert writer.commit_window(5000) == writer.MAX_COMMIT_WINDOW_S == 0.010
    assert writer.commit_window(1e9) == 0.010
    assert Settings().commit_window == writer.MAX_COMMIT_WINDOW_S  # `serve`'s default
    assert writer.commit_window(1e9, longest=0.025) == 0.025
    assert writer.commit_window(3500, longest=0.005) == 0.005
    assert writer.commit_window(0, longest=0) == writer.commit_window(1e9, longest=0) == 0


def test_serve_s_commit_window_reaches_the_writer(tmp_path: Path) -> None:
    argv = ["serve", "--db", str(tmp_path / "w.db"), "--commit-window", "0.025"]
    store = make_store(settings_from_args(build_parser().parse_args(argv)))
    assert isinstance(store, SqlStore) and store._writer.max_window == 0.025


@pytest.mark.parametrize("value", ["-0.001", "1.5", "nan", "inf", "10ms", ""])
def test_a_commit_window_outside_0_to_1_s_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["serve", "--commit-window", value])
    assert exit_.value.code == 2
    assert "not a number of seconds from 0 to 1" in capsys.readouterr().err


async def commits_under_steady_load(path: Path, window: float) -> int:
    """Commits made in 0.3 s while every commit finds the next append waiting (one is
    queued as each commit ends: the store is never idle, as under concurrent load)."""
    batches: list[int] = []
    pending: list[asyncio.Future[Any]] = []
    running = True

    def committed(count: int, _seconds: float) -> None:
        batches.append(count)
        if running:
            pending.append(store.append("r", b"\x00\x00", "x"))

    store = SqlStore(database_url(str(path)), on_batch=committed, commit_window=window)
    await store.start()
    try:
        pending.append(store.append("r", b"\x00\x00", "x"))
        await asyncio.sleep(0.3)
        running = False
        await asyncio.gather(*pending)
        assert sum(batches) == len(pending)
    finally:
        await store.aclose()
    return len(batches)


async def test_the_longest_window_bounds_how_often_a_busy_store_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "WINDOW_PER_RATE_S", 1.0)  # any load: the longest window
    spaced = await commits_under_steady_load(tmp_path / "spaced.db", 0.05)
    back_to_back = await commits_under_steady_load(tmp_path / "b2b.db", 0)
    assert spaced <= 0.3 / 0.05 + 3
    assert back_to_back > 3 * spaced, (back_to_back, spaced)
