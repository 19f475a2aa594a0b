"""Issue #14: compaction by another process at random moments while real clients write
and the server builds checkpoints (every 5 updates), then restarts. After each restart
the document equals the clients', and every version reads exactly: a kept one as it
was, a folded one as the kept point before it.

The truth comes from outside samepage: a trigger (test instrumentation, installed in the
database before the server starts) copies every stored update into an audit table that
compaction does not know about; version k's truth is those updates 1..k replayed in
pycrdt. Seeded (printed; replay with SAMEPAGE_TEST_SEED) and bounded in time.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
from pycrdt import Doc

from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from tests.durability.test_kill import seeded_rng
from tests.helpers.clients import eventually
from tests.helpers.server import ServerProcess, run_cli
from tests.interop.node import NodeClient, node_driver
from tests.interop.peers import PyPeer, live_doc, state_vector, text_of

ROOM = "compact-live"
BUDGET_S = 30.0  # rounds start while there is time left
MAX_ROUNDS = 5
VERSIONS_CHECKED = 250  # per round at most (plus every checkpoint)

AUDIT = """
CREATE TABLE audit (room TEXT, seq INTEGER, data BLOB NOT NULL, PRIMARY KEY (room, seq));
CREATE TRIGGER audit_updates AFTER INSERT ON updates
BEGIN INSERT INTO audit (room, seq, data) VALUES (NEW.room, NEW.seq, NEW.data); END;
"""


def query(db: Path, sql: str) -> list[Any]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def truths(db: Path, room: str = ROOM) -> list[str]:
    """The text after each update 1..n, replayed from the audit table (index = seq)."""
    doc: Doc[Any] = Doc()
    texts = [""]
    for seq, data in query(db, f"SELECT seq, data FROM audit WHERE room = '{room}' ORDER BY seq"):
        assert seq == len(texts), f"audit has a gap at {len(texts)}"
        doc.apply_update(bytes(data))
        texts.append(text_of(doc))
    return texts


def resolved(seq: int, rows: set[int], checkpoints: list[int]) -> int:
    """The version `content?at=seq` must answer: seq itself while the rows from the
    checkpoint before it are all stored, else (folded) that checkpoint."""
    base = max((c for c in checkpoints if c <= seq), default=0)
    return seq if all(s in rows for s in range(base + 1, seq + 1)) else base


async def check_versions(
    server: ServerProcess, db: Path, rng: random.Random, room: str = ROOM
) -> int:
    """Read a sample of versions (every checkpoint among them) from the server and
    compare each with the truth; returns how many of them were folded."""
    texts = truths(db, room)
    head = len(texts) - 1
    rows = {r[0] for r in query(db, f"SELECT seq FROM updates WHERE room = '{room}'")}
    checkpoints = sorted(
        r[0] for r in query(db, f"SELECT seq FROM checkpoints WHERE room = '{room}'")
    )
    seqs = list(range(1, head + 1))
    sample = set(rng.sample(seqs, min(len(seqs), VERSIONS_CHECKED))) | set(checkpoints)
    folded = 0
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
        for seq in sorted(sample):
            want = resolved(seq, rows, checkpoints)
            folded += want != seq
            fmt = rng.choice(["text", "text", "yjs"])
            response = await http.get(
                f"/api/rooms/{room}/content", params={"at": seq, "format": fmt}
            )
            assert response.status_code == 200, (seq, response.text)
            got = response.text if fmt == "text" else text_of(_doc(response.content))
            assert got == texts[want], f"version {seq} ({fmt}) should read as {want}"
    return folded


def _doc(update: bytes) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return doc


async def prepare(db: Path) -> None:
    """Create the schema (as the server would), then the audit trigger."""
    store = SqlStore(database_url(str(db)))
    await store.start()
    await store.aclose()
    with sqlite3.connect(db) as conn:
        conn.executescript(AUDIT)


async def test_compaction_at_random_moments_while_clients_write_and_the_server_restarts(
    tmp_path: Path,
) -> None:
    rng = seeded_rng("compaction-live")
    db = tmp_path / "live.db"
    await prepare(db)
    server = ServerProcess(
        db, extra_args=["--checkpoint-every", "5"], log_path=tmp_path / "server.log"
    )
    server.start()
    started = time.monotonic()
    compactions: list[str] = []
    folded_total = 0
    try:
        async with node_driver() as driver:
            node = await driver.client(server.ws, ROOM, name="node")
            peer = PyPeer(server.ws, ROOM, "py")
            await peer.connect()
            for round_ in itertools.count():
                if round_ >= MAX_ROUNDS or time.monotonic() - started > BUDGET_S:
                    break
                flags = ["--keep-every", str(rng.choice([1, 3, 10, 40]))]
                if rng.random() < 0.4:
                    flags += ["--older-than", f"{rng.choice([0.3, 1, 2])}s"]
                compactions.append(" ".join(flags))

                async def compact_later(delay: float, flags: list[str] = flags) -> None:
                    await asyncio.sleep(delay)
                    done = await asyncio.to_thread(
                        run_cli, "compact", "--db", str(db), "--room", ROOM, *flags
                    )
                    assert done.returncode == 0, done.stderr

                compaction = asyncio.ensure_future(compact_later(rng.random() * 1.0))
                await asyncio.gather(write_py(peer, rng, 40), write_node(node, rng, 40), compaction)
                await node.wait_synced()

                async def stored_all() -> bool:  # the text too: deletes keep the vector
                    live = await live_doc(server.http, ROOM)
                    mine = (state_vector(peer.doc), text_of(peer.doc))
                    return (state_vector(live), text_of(live)) == mine and (
                        await node.state_vector() == mine[0] and await node.text() == mine[1]
                    )

                await eventually(stored_all, 20, "every edit stored")
                expected = text_of(peer.doc)
                assert await node.text() == expected
                await peer.disconnect()
                await asyncio.to_thread(server.restart)
                loaded = await live_doc(server.http, ROOM)  # the room as stored
                assert text_of(loaded) == expected, f"round {round_}: {compactions}"
                assert state_vector(loaded) == state_vector(peer.doc)
                folded_total += await check_versions(server, db, rng)
                await peer.connect()
            print(f"compaction-live: rounds {compactions}, {folded_total} versions folded")
            await peer.disconnect()
    finally:
        server.stop()
    assert folded_total > 0  # the compactions did fold versions the checks then read


async def write_py(peer: PyPeer, rng: random.Random, count: int) -> None:
    for n in range(count):
        if rng.random() < 0.25:
            peer.delete_at(rng.random(), rng.randint(1, 3))
        else:
            peer.insert_at(rng.random(), f"<p{n}>")
        await asyncio.sleep(rng.random() * 0.03)


async def write_node(node: NodeClient, rng: random.Random, count: int) -> None:
    for n in range(count):
        if rng.random() < 0.25:
            await node.delete_at(rng.random(), rng.randint(1, 3))
        else:
            # ASCII only: pycrdt's Text counts UTF-8 bytes, so the Python writer's random
            # index could split a character (issue #13; not this test's subject)
            await node.insert_at(rng.random(), f"<n{n}>")
        await asyncio.sleep(rng.random() * 0.03)
