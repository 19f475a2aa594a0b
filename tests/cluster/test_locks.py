"""The per-room maintenance lock: exclusive across nodes on PostgreSQL, always granted
on single-machine stores; checkpoint building runs under it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pycrdt import Doc
from sqlalchemy import text

from storage.checkpoints import AutoCheckpointer
from storage.memory import MemoryStore
from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from tests.cluster.conftest import content
from tests.storage.test_store_contract import edits


async def test_postgresql_lock_is_exclusive_per_room_and_released(pg_url: str) -> None:
    one, two = SqlStore(pg_url), SqlStore(pg_url)
    await one.start()
    await two.start()
    try:
        async with one.maintenance_lock("r") as first:
            assert first
            async with two.maintenance_lock("r") as second:
                assert not second  # another node holds it: skip, do not wait
            async with two.maintenance_lock("other") as other_room:
                assert other_room
        async with two.maintenance_lock("r") as after:
            assert after  # released with the first node's transaction
        order: list[str] = []
        held = asyncio.Event()

        async def holder() -> None:
            async with one.maintenance_lock("r"):
                order.append("held")
                held.set()
                await asyncio.sleep(0.2)
                order.append("released")

        async def waiter() -> None:
            await held.wait()
            async with two.maintenance_lock("r", wait=True) as granted:
                assert granted
                order.append("waiter")

        await asyncio.gather(holder(), waiter())
        assert order == ["held", "released", "waiter"]
    finally:
        await one.aclose()
        await two.aclose()


async def test_single_machine_stores_always_grant(tmp_path: Path) -> None:
    sqlite = SqlStore(database_url(str(tmp_path / "x.db")))
    await sqlite.start()
    try:
        for store in (MemoryStore(), sqlite):
            async with (
                store.maintenance_lock("r") as a,
                store.maintenance_lock("r") as b,
            ):
                assert a and b
    finally:
        await sqlite.aclose()


async def test_two_nodes_due_for_the_same_checkpoint_build_it_once(pg_url: str) -> None:
    one, two = SqlStore(pg_url), SqlStore(pg_url)
    await one.start()
    await two.start()
    try:
        updates, texts = edits(20)
        for update in updates:
            await one.append("r", update, "t")
        nodes = [AutoCheckpointer(one, 10), AutoCheckpointer(two, 10)]
        for node in nodes:
            node.seen_load("r", 0)
        nodes[0].committed("r", 20)  # both nodes see seq 20 at once
        nodes[1].committed("r", 19)
        await asyncio.gather(*(n.aclose() for n in nodes))
        async with one.engine.connect() as conn:
            seqs = [r[0] for r in await conn.execute(text("SELECT seq FROM checkpoints"))]
        assert len(seqs) == 1
        checkpoint = await one.checkpoint_before("r", 20)
        assert checkpoint is not None
        doc: Doc[Any] = Doc()
        doc.apply_update(checkpoint[1])
        assert content(doc) == texts[checkpoint[0] - 1]
    finally:
        await one.aclose()
        await two.aclose()
