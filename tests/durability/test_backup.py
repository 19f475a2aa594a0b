"""`samepage backup` while real clients write, then `samepage restore`.

A y-websocket client (Node) and a pycrdt client type into two rooms of a live server;
a watcher collects the server's `saved` acknowledgements. `samepage backup` (another
process) copies the SQLite file in the middle of it. The backup holds every update
acknowledged before it started, its rows are exactly the live database's first rows
(one consistent snapshot), and the server kept acknowledging writes while it ran.
`samepage migrate` on the live database finds nothing to do. Restored into a new file and
into the live path (server stopped; refused while one runs), a server started on it
serves every acknowledged update.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sqlite3
from pathlib import Path
from typing import Any

from sync import protocol
from sync.protocol import SubscribeFlag
from tests.durability.test_kill import last_saved
from tests.helpers.clients import RawClient, eventually, raw_client
from tests.helpers.server import ServerProcess, run_cli
from tests.interop.node import NodeClient, node_driver
from tests.interop.peers import PyPeer, dominates, live_doc, state_vector, stored_doc, text_of

ROOMS = ["backup-a", "backup-b"]


def _rows(db: Path) -> dict[str, list[tuple[int, bytes]]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return {
            room: [
                (int(seq), bytes(data))
                for seq, data in conn.execute(
                    "SELECT seq, data FROM updates WHERE room = ? ORDER BY seq", (room,)
                )
            ]
            for room in ROOMS
        }


def _kept(folder: Path) -> list[Path]:
    """The databases `samepage restore` kept aside."""
    return [p for p in folder.iterdir() if p.name.startswith("live.db.before-restore-")]


async def _served_vectors(db: Path, tmp: Path) -> dict[str, dict[int, int]]:
    """Start a server on `db`, read each room as served, stop it."""
    with ServerProcess(db, log_path=tmp / f"{db.name}.log") as server:
        return {room: state_vector(await live_doc(server.http, room)) for room in ROOMS}


async def test_backup_under_write_load_then_restore(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    backup = tmp_path / "backups" / "copy.db"
    backup.parent.mkdir()
    stop = asyncio.Event()
    server = ServerProcess(live, log_path=tmp_path / "server.log")
    server.start()
    try:
        async with node_driver() as driver, contextlib.AsyncExitStack() as stack:
            watchers: dict[str, RawClient] = {}
            for room in ROOMS:
                watchers[room] = await stack.enter_async_context(raw_client(server.ws, room))
                await watchers[room].send(protocol.encode_subscribe(SubscribeFlag.SAVED))
            node_writer = await driver.client(server.ws, ROOMS[0], name="node-writer")
            py_writer = PyPeer(server.ws, ROOMS[1], "py-writer")
            await py_writer.connect()

            async def write_node(client: NodeClient) -> None:
                for n in itertools.count():
                    if stop.is_set():
                        return
                    await client.insert_at(0.5, f"<n{n} é👍🏽>")
                    await asyncio.sleep(0.002)

            async def write_py(peer: PyPeer) -> None:
                for n in itertools.count():
                    if stop.is_set():
                        return
                    peer.insert_at(0.5, f"<p{n} 数据>")
                    await asyncio.sleep(0.002)

            tasks = [asyncio.ensure_future(write_node(node_writer))]
            tasks.append(asyncio.ensure_future(write_py(py_writer)))
            try:
                await eventually(
                    lambda: (
                        all(len(last_saved(w)) > 0 for w in watchers.values())
                        and len(text_of(py_writer.doc)) > 300
                    ),
                    30,
                    "writes acknowledged in both rooms",
                )
                acked = {room: last_saved(w) for room, w in watchers.items()}
                acks_before = sum(len(w.of_type(protocol.Saved)) for w in watchers.values())
                done = await asyncio.to_thread(run_cli, "backup", str(backup), "--db", str(live))
                # `samepage migrate` against the live database: nothing to do, nothing hurt
                migrated = await asyncio.to_thread(run_cli, "migrate", "--db", str(live))
                acks_during = (
                    sum(len(w.of_type(protocol.Saved)) for w in watchers.values()) - acks_before
                )
                # ... and the writers go on a little after it
                await asyncio.sleep(0.3)
            finally:
                stop.set()
                await asyncio.gather(*tasks)
            await py_writer.disconnect()
        assert done.returncode == 0, done.stderr
        assert migrated.returncode == 0 and "up to date" in migrated.stderr, migrated.stderr
        print(done.stderr.strip(), f"; {acks_during} acknowledgements while it ran")
        assert "backed up" in done.stderr
        assert acks_during > 0, "the server stopped acknowledging writes during the backup"
        refused = await asyncio.to_thread(run_cli, "restore", str(backup), "--db", str(live))
        assert refused.returncode == 2 and "stop it" in refused.stderr, refused.stderr
    finally:
        server.stop()

    live_rows, backup_rows = _rows(live), _rows(backup)
    for room in ROOMS:
        copied = backup_rows[room]
        assert copied == live_rows[room][: len(copied)], f"{room}: not a snapshot of the log"
        assert len(copied) < len(live_rows[room]), f"{room}: no writes after the backup?"
        doc = await stored_doc(backup, room)
        assert dominates(state_vector(doc), acked[room]), f"{room}: an acknowledged update lost"

    # Restore into a new file, then over the live database (the server is stopped).
    fresh = tmp_path / "restored.db"
    done = await asyncio.to_thread(run_cli, "restore", str(backup), "--db", str(fresh))
    assert done.returncode == 0, done.stderr
    assert _rows(fresh) == backup_rows
    done = await asyncio.to_thread(run_cli, "restore", str(backup), "--db", str(live))
    assert done.returncode == 0, done.stderr
    kept = _kept(tmp_path)
    assert len(kept) == 1 and _rows(kept[0]) == live_rows, "the replaced database was not kept"
    assert _rows(live) == backup_rows
    served = await _served_vectors(live, tmp_path)
    for room in ROOMS:
        assert dominates(served[room], acked[room]), f"{room}: restored server lost an ack"
        assert served[room] == state_vector(await stored_doc(backup, room))


def test_backup_refusals_are_one_line(tmp_path: Path, capsys: Any) -> None:
    """PostgreSQL: use pg_dump; an existing destination is never overwritten; a missing
    or broken backup is not restored (and nothing is touched). Each is exit 2, one line."""
    from web.cli import main

    db = tmp_path / "x.db"
    db.write_bytes(b"")
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"keep me")
    cases = [
        (["backup", str(tmp_path / "b.db"), "--db", "postgresql://u@h/db"], "pg_dump"),
        (["backup", str(taken), "--db", str(db)], "never overwrites"),
        (["restore", str(tmp_path / "missing.db"), "--db", str(db)], "no backup at"),
        (["restore", str(taken), "--db", str(db)], "not a readable SQLite database"),
    ]
    for argv, says in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], (argv, lines)
    assert taken.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.db", "x.db"]  # none kept aside
