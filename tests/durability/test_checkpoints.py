"""Checkpoints keep being written while clients edit (SQLite): a room's load stays
"latest checkpoint + a short tail", and that load gives exactly the document the whole
update log gives."""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

from pycrdt import Doc
from sqlalchemy import text

from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from tests.helpers.clients import eventually
from tests.helpers.server import ServerProcess
from tests.interop.peers import PyPeer, live_doc, state_vector
from tests.interop.peers import text_of as text_of_doc

EVERY = 10
EDITS_PER_WRITER = 150


async def test_checkpoints_are_written_while_clients_edit(tmp_path: Path) -> None:
    seed = int(os.environ.get("SAMEPAGE_TEST_SEED", random.randrange(2**32)))
    print(f"checkpoints: random seed {seed} (replay with SAMEPAGE_TEST_SEED={seed})")
    rng = random.Random(seed)
    server = ServerProcess(
        tmp_path / "samepage.db",
        extra_args=["--checkpoint-every", str(EVERY)],
        log_path=tmp_path / "server.log",
    )
    server.start()
    room = "durability-checkpoints"
    writers = [PyPeer(server.ws, room, f"w{i}") for i in range(2)]
    try:
        for peer in writers:
            await peer.connect()

        async def write(peer: PyPeer, index: int) -> None:
            for n in range(EDITS_PER_WRITER):
                peer.insert_at(rng.random(), f"<{index}.{n}>")
                await asyncio.sleep(rng.random() * 0.004)

        await asyncio.gather(*(write(p, i) for i, p in enumerate(writers)))

        async def stored_all() -> bool:
            room_doc = await live_doc(server.http, room)
            return all(state_vector(room_doc) == state_vector(p.doc) for p in writers)

        await eventually(stored_all, 15, "the room has every edit")
    finally:
        for peer in writers:
            await peer.disconnect()
        server.stop()  # graceful: pending checkpoint builds finish

    store = SqlStore(database_url(str(tmp_path / "samepage.db")))
    await store.start()
    try:
        loaded = await store.load(room)
        async with store.engine.connect() as conn:
            checkpoints = int(
                (
                    await conn.execute(
                        text("SELECT count(*) FROM checkpoints WHERE room = :room"), {"room": room}
                    )
                ).scalar_one()
            )
        full: Doc[object] = Doc()
        for record in await store.updates_range(room, 0, loaded.seq):
            full.apply_update(record.update)
    finally:
        await store.aclose()
    failures = [line for line in server.log_tail(10_000).splitlines() if "checkpoint of" in line]
    assert loaded.seq >= 2 * EDITS_PER_WRITER * 0.9  # one row per edit (a few may merge)
    assert loaded.checkpoint is not None, f"no checkpoint in {loaded.seq} updates: {failures[:3]}"
    # builds are skipped while one is in flight, and one may wait for the write lock
    # while edits pour in: ask for a few, not for one per EVERY updates
    assert checkpoints >= 3, f"{checkpoints} checkpoints in {loaded.seq} updates; {failures[:3]}"
    assert not failures, failures[:3]
    from_checkpoint: Doc[object] = Doc()
    from_checkpoint.apply_update(loaded.checkpoint)
    for update in loaded.tail:
        from_checkpoint.apply_update(update)
    assert state_vector(from_checkpoint) == state_vector(full)
    assert text_of_doc(from_checkpoint) == text_of_doc(full) == text_of_doc(writers[0].doc)
