"""kill -9 of the server while clients edit and others receive: after a restart the
stored document contains every update any client had received, and everything the
server announced as saved; then the writers' own copies bring back what the kill cut off.

Receivers only read, so their documents are exactly what the server sent them. By
persist-before-broadcast, each of those documents must be contained in the SQLite file
(against a server patched to broadcast before committing, 3 of these 4 tests failed per
run; tests/durability/test_persist_before_broadcast.py catches it every time).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc

from sync import protocol
from sync.protocol import SubscribeFlag
from tests.helpers.clients import RawClient, eventually, raw_client
from tests.helpers.server import ServerProcess
from tests.interop.node import NodeClient, node_driver
from tests.interop.peers import (
    PyPeer,
    doc_from_update,
    dominates,
    live_doc,
    state_vector,
    stored_doc,
    text_of,
)


def seeded_rng(test: str) -> random.Random:
    """A random.Random whose seed is printed (replay: SAMEPAGE_TEST_SEED=<seed>)."""
    seed = int(os.environ.get("SAMEPAGE_TEST_SEED", random.randrange(2**32)))
    print(f"{test}: random seed {seed} (replay with SAMEPAGE_TEST_SEED={seed})")
    return random.Random(seed)


def contains(big: Doc[Any], small_update: bytes) -> bool:
    """Is everything in `small_update` (inserts and deletes) already in `big`? Applying
    it to a copy of `big` must change neither the state vector nor the text."""
    copy = doc_from_update(big.get_update())
    before = (state_vector(copy), text_of(copy))
    copy.apply_update(small_update)
    return (state_vector(copy), text_of(copy)) == before


def last_saved(raw: RawClient) -> dict[int, int]:
    """The state vector of the last `saved` notification a raw client got."""
    saved = raw.of_type(protocol.Saved)
    return protocol.decode_state_vector(saved[-1].state_vector) if saved else {}


SERVER_FLAGS = {
    "default": [],
    # checkpoints every few updates: the kill also lands while checkpoints are written
    "checkpoints": ["--checkpoint-every", "4"],
}


@pytest.fixture(params=list(SERVER_FLAGS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A `samepage serve` on its own SQLite file, with each flag set of SERVER_FLAGS."""
    proc = ServerProcess(
        tmp_path / "samepage.db",
        extra_args=SERVER_FLAGS[request.param],
        log_path=tmp_path / "server.log",
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_kill_9_keeps_everything_any_client_received(server: ServerProcess) -> None:
    room, rng = "durability-kill", seeded_rng("kill-9")
    inserted: dict[int, int] = {}
    stop = asyncio.Event()
    async with node_driver() as driver:
        node_writer = await driver.client(server.ws, room, name="node-writer")
        node_reader = await driver.client(server.ws, room, name="node-reader")
        py_writers = [PyPeer(server.ws, room, f"py-writer{i}") for i in range(2)]
        py_reader = PyPeer(server.ws, room, "py-reader")
        for peer in (*py_writers, py_reader):
            await peer.connect()
        async with contextlib.AsyncExitStack() as stack:
            watcher = await stack.enter_async_context(raw_client(server.ws, room))
            await watcher.send(protocol.encode_subscribe(SubscribeFlag.SAVED))

            async def write_py(peer: PyPeer, index: int) -> None:
                for n in itertools.count():
                    if stop.is_set():
                        return
                    token = f"<p{index}.{n}>"
                    if rng.random() < 0.2:
                        peer.delete_at(rng.random(), rng.randint(1, 3))
                    else:
                        peer.insert_at(rng.random(), token)
                        cid = peer.doc.client_id
                        inserted[cid] = inserted.get(cid, 0) + len(token)
                    await asyncio.sleep(rng.random() * 0.004)

            async def write_node(client: NodeClient) -> None:
                for n in itertools.count():
                    if stop.is_set():
                        return
                    token = f"<n{n}>"
                    await client.insert_at(rng.random(), token)
                    inserted[client.client_id] = inserted.get(client.client_id, 0) + len(token)
                    await asyncio.sleep(rng.random() * 0.004)

            tasks = [asyncio.ensure_future(write_py(p, i)) for i, p in enumerate(py_writers)]
            tasks.append(asyncio.ensure_future(write_node(node_writer)))
            try:
                # kill at a random point while the writers are writing
                threshold = rng.randint(100, 600)
                await eventually(
                    lambda: len(text_of(py_reader.doc)) >= threshold, 20, "edits flowing"
                )
                server.kill()
                # drain: once each reader saw its socket close, nothing more can arrive
                await eventually(lambda: not py_reader.connected, 10, "py reader disconnected")

                async def node_reader_down() -> bool:
                    return not (await node_reader.status())["connected"]

                await eventually(node_reader_down, 10, "node reader disconnected")
                received = {
                    "py-reader": py_reader.doc.get_update(),
                    "node-reader": await node_reader.update(),
                }
                saved = last_saved(watcher)
                assert saved, "the watcher got no saved notification before the kill"
                # the writers keep typing into their own documents while the server is down
                await asyncio.sleep(0.05)
            finally:
                stop.set()
                await asyncio.gather(*tasks)

        print(
            "at the kill: "
            + ", ".join(
                f"{name} had {len(text_of(doc_from_update(u)))} chars"
                for name, u in received.items()
            )
            + f"; saved vector {saved}"
        )
        server.start()
        stored = await stored_doc(server.db, room)
        served = await live_doc(server.http, room)
        for doc in (stored, served):
            assert dominates(state_vector(doc), saved), "a saved notification was not true"
            for name, update in received.items():
                assert dominates(state_vector(doc), state_vector(doc_from_update(update))), name
                assert contains(doc, update), f"{name} had content the stored doc lacks"

        # The writers still hold what the kill cut off: once back, nothing typed is lost.
        for peer in (*py_writers, py_reader):
            await peer.connect(15)
        await node_writer.wait_synced(15)
        await node_reader.wait_synced(15)
        try:

            async def all_converged() -> bool:
                docs = [await live_doc(server.http, room)]
                docs += [doc_from_update(await c.update()) for c in (node_writer, node_reader)]
                docs += [p.doc for p in (*py_writers, py_reader)]
                vectors = [state_vector(d) for d in docs]
                return all(v == vectors[0] for v in vectors) and vectors[0] == inserted

            await eventually(all_converged, 20, "every edit typed by a writer is back")
        finally:
            for peer in (*py_writers, py_reader):
                await peer.disconnect()


async def test_kill_9_with_many_rooms_in_one_group_commit(server: ServerProcess) -> None:
    """Several rooms edited at once share group commits; after kill -9 each room's stored
    document holds what its reader received — no update filed under the wrong room or
    lost from a shared batch."""
    rng = seeded_rng("kill-9-rooms")
    rooms = [f"durability-rooms-{i}" for i in range(4)]
    writers = {room: [PyPeer(server.ws, room, f"{room}-w{i}") for i in range(2)] for room in rooms}
    readers = {room: PyPeer(server.ws, room, f"{room}-r") for room in rooms}
    peers = [p for ws in writers.values() for p in ws] + list(readers.values())
    stop = asyncio.Event()
    for peer in peers:
        await peer.connect()

    async def write(peer: PyPeer, tag: str) -> None:
        for n in itertools.count():
            if stop.is_set():
                return
            peer.insert_at(rng.random(), f"<{tag}.{n}>")
            await asyncio.sleep(rng.random() * 0.003)

    tasks = [
        asyncio.ensure_future(write(p, f"{r[-1]}{i}"))
        for r, ws in writers.items()
        for i, p in enumerate(ws)
    ]
    try:
        threshold = rng.randint(100, 400)
        await eventually(
            lambda: all(len(text_of(r.doc)) >= threshold for r in readers.values()),
            20,
            "edits flowing in every room",
        )
        server.kill()
        await eventually(lambda: not any(r.connected for r in readers.values()), 10, "drained")
        received = {room: reader.doc.get_update() for room, reader in readers.items()}
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        for peer in peers:
            await peer.disconnect()
    server.start()
    for room, update in received.items():
        stored = await stored_doc(server.db, room)
        assert dominates(state_vector(stored), state_vector(doc_from_update(update))), room
        assert contains(stored, update), f"{room}: the reader had content the store lacks"
        others = {p.doc.client_id for r, ws in writers.items() if r != room for p in ws}
        assert not others & set(state_vector(stored)), f"{room} holds another room's edits"
