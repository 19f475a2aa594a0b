"""Issue #14: every documented operation beside a live server keeps the guarantees —
`samepage compact` (through the server that holds the database, or `--direct`),
`--older-than` retention while clients write, `samepage import` into a room clients
have open, and restores racing a compaction. After each: the document equals the
clients' after a restart, and every version reads exactly (test_compaction_live's
audit-trigger truth)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from pycrdt import Doc, Text

from storage.sql.engine import database_url
from storage.sql.owner import DatabaseOwner
from storage.sql.store import SqlStore
from tests.durability.audit import Audit
from tests.durability.test_kill import seeded_rng
from tests.helpers.clients import eventually
from tests.helpers.server import TEST_SECRET, ServerProcess, run_cli
from tests.interop.peers import PyPeer, live_doc, state_vector, text_of
from web.auth import issue_token


async def cli(*args: str) -> tuple[int, str]:
    done = await asyncio.to_thread(run_cli, *args)
    return done.returncode, done.stderr


async def write(peer: PyPeer, rng: random.Random, count: int, tag: str) -> None:
    for n in range(count):
        if rng.random() < 0.2:
            peer.delete_at(rng.random(), 2)
        else:
            peer.insert_at(rng.random(), f"<{tag}{n}>")
        await asyncio.sleep(rng.random() * 0.02)


async def settled(server: ServerProcess, room: str, peer: PyPeer) -> None:
    async def stored() -> bool:  # the text too: a delete does not move the state vector
        live = await live_doc(server.http, room)
        return (state_vector(live), text_of(live)) == (state_vector(peer.doc), text_of(peer.doc))

    await eventually(stored, 20, "every edit stored")


async def restart_and_check(
    server: ServerProcess, audit: Audit, room: str, peer: PyPeer, rng: random.Random
) -> int:
    """Restart; the stored room must equal the client's, every version read exactly."""
    await settled(server, room, peer)
    await peer.disconnect()
    await asyncio.to_thread(server.restart)
    loaded = await live_doc(server.http, room)
    assert text_of(loaded) == text_of(peer.doc)
    assert state_vector(loaded) == state_vector(peer.doc)
    return await audit.check_versions(server, room, rng)


@asynccontextmanager
async def scenario(
    db: str, tmp_path: Path, room: str, flags: list[str], edits: int
) -> AsyncIterator[tuple[Audit, ServerProcess, PyPeer, random.Random]]:
    """A server (with `flags`) on `db` with the audit trigger, a pycrdt client that
    made `edits` edits, all stored."""
    rng = seeded_rng(room)
    audit = Audit(db)
    await audit.install()
    server = ServerProcess(db, extra_args=flags, log_path=tmp_path / "log")
    server.start()
    peer = PyPeer(server.ws, room, "py")
    try:
        await peer.connect()
        await write(peer, rng, edits, "a")
        await settled(server, room, peer)
        yield audit, server, peer, rng
    finally:
        await peer.disconnect()
        server.stop()


async def test_compact_goes_through_the_server_that_holds_the_database(tmp_path: Path) -> None:
    db = tmp_path / "secure.db"
    await Audit(str(db)).install()
    server = ServerProcess(db, extra_args=["--secret", TEST_SECRET], log_path=tmp_path / "log")
    server.start()
    room, token = "tools-secure", issue_token(TEST_SECRET, "*", user="t")
    doc: Doc[object] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    try:
        async with httpx.AsyncClient(
            base_url=server.http, headers={"Authorization": f"Bearer {token}"}
        ) as http:
            for n in range(30):
                text.insert(len(text), f"<{n}>")
                posted = await http.post(f"/api/rooms/{room}/updates", content=updates[-1])
                assert posted.status_code == 200, posted.text
            code, err = await cli("compact", "--db", str(db), "--keep-every", "10")
            assert code == 2 and "refused: 401" in err and "--secret" in err, err
            code, err = await cli(
                "compact", "--db", str(db), "--keep-every", "10", "--secret", TEST_SECRET
            )
            assert code == 0, err
            assert "compacting through the server holding the database (pid " in err, err
            assert f"{room}: up to seq 30: 3 checkpoints added, 30 update rows folded" in err
            texts = await Audit(str(db)).truths(room)
            for seq, kept in [(10, 10), (15, 10), (29, 20), (30, 30)]:
                got = await http.get(f"/api/rooms/{room}/content", params={"at": seq})
                assert got.text == texts[kept], seq
            code, err = await cli("compact", "--db", str(db), "--direct", "--keep-every", "5")
            assert code == 0 and "through the server" not in err, err
    finally:
        server.stop()
    assert "compacted tools-secure up to seq 30" in server.log_tail(200)


async def test_older_than_retention_while_clients_write(tmp_path: Path) -> None:
    room, db = "tools-retention", str(tmp_path / "retention.db")
    flags = ["--checkpoint-every", "4"]
    async with scenario(db, tmp_path, room, flags, 30) as (audit, server, peer, rng):
        aged = time.monotonic() + 3.5  # --older-than counts whole seconds
        await eventually(lambda: time.monotonic() > aged, 10, "the first edits aged 3 s")
        old_head = len(await audit.truths(room)) - 1
        writing = asyncio.ensure_future(write(peer, rng, 25, "new"))
        code, err = await cli("compact", "--db", db, "--keep-every", "7", "--older-than", "3s")
        await writing
        assert code == 0 and "through the server" in err, err
        rows = set(await audit.seqs("updates", room))
        head = len(await audit.truths(room)) - 1
        assert set(range(old_head + 1, head + 1)) <= rows  # the newer history is whole
        assert len(rows) < head - 15  # the older one was folded
        assert await restart_and_check(server, audit, room, peer, rng) > 0


async def test_import_into_a_room_clients_have_open(database: str, tmp_path: Path) -> None:
    room = "tools-import"
    async with scenario(database, tmp_path, room, [], 20) as (audit, server, peer, rng):
        watcher = PyPeer(server.ws, room, "watcher")
        await watcher.connect()
        imported = "Imported text: héllo wörld 😀 नमस्ते\nsecond line\n"
        source = tmp_path / "in.txt"
        source.write_text(imported, encoding="utf-8")
        code, err = await cli("import", room, str(source), "--db", database)
        assert code == 0 and "importing through the server holding the database" in err, err
        # the open clients see it live: the server applied it, not just the file
        await eventually(lambda: text_of(watcher.doc) == imported, 10, "watcher sees it")
        await eventually(lambda: text_of(peer.doc) == imported, 10, "writer sees it")
        for n in range(10):  # appended: pycrdt's byte offsets could split a character
            peer.text.insert(len(peer.text), f"<after{n}>")
        await watcher.disconnect()
        await restart_and_check(server, audit, room, peer, rng)


async def test_restores_racing_a_compaction(database: str, tmp_path: Path) -> None:
    room, flags = "tools-restore", ["--checkpoint-every", "3"]
    async with scenario(database, tmp_path, room, flags, 30) as (audit, server, peer, rng):
        head = len(await audit.truths(room)) - 1

        async def restores() -> None:
            async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
                for _ in range(6):
                    target = rng.randint(1, head)
                    done = await http.post(f"/api/rooms/{room}/restore", json={"seq": target})
                    assert done.status_code == 200, done.text
                    await asyncio.sleep(rng.random() * 0.2)

        compaction = cli("compact", "--db", database, "--direct", "--keep-every", "7")
        results = await asyncio.gather(restores(), compaction, write(peer, rng, 15, "b"))
        assert results[1][0] == 0, results[1][1]
        assert await restart_and_check(server, audit, room, peer, rng) > 0


async def test_compact_beside_a_holder_it_cannot_reach_compacts_here(tmp_path: Path) -> None:
    """A holder's URL is its own loopback address: from another machine (here: a
    holder whose port answers nothing) `compact` says so and compacts in-process."""
    db = str(tmp_path / "far.db")
    doc: Doc[object] = Doc()
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    for n in range(12):
        doc.get("content", type=Text).insert(0, f"<{n}>")
    store = SqlStore(database_url(db))
    await store.start()
    for update in updates:
        await store.append("far", update, "t")
    await store.aclose()
    owner = DatabaseOwner(database_url(db), url="http://127.0.0.1:1", redis=None)
    await owner.acquire()
    try:
        code, err = await cli("compact", "--db", db, "--keep-every", "5")
    finally:
        await owner.aclose()
    assert code == 0 and "cannot reach it" in err and "compacting here instead" in err, err
    assert "far: up to seq 12: 3 checkpoints added, 12 update rows folded" in err, err
