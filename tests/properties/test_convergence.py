"""Hypothesis: pycrdt and real Yjs (Node) clients make random inserts and deletes through
a real `samepage serve`, disconnect and reconnect at random, and the server restarts once
in the middle (gracefully, or kill -9). At the end every client, the live room and the
stored document have the same content and the same state vector — and that state vector
is exactly what the clients inserted (a Yjs clock counts inserted characters), so no
edit was lost, not even one made offline or while the server was down.

Replay: a failure prints the steps (`note`) and a `@reproduce_failure` blob; the run's
seed is printed too (`--hypothesis-seed=N` replays a whole run). Hunt for bugs with more
examples: SAMEPAGE_PROPERTY_EXAMPLES=200.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st

from tests.helpers.clients import eventually
from tests.helpers.server import ServerProcess
from tests.interop.node import NodeClient, NodeDriver, node_or_skip
from tests.interop.peers import PyPeer, live_doc, state_vector, stored_doc, text_of

PY_CLIENTS = 2
NODE_CLIENTS = 2
CLIENTS = PY_CLIENTS + NODE_CLIENTS

client = st.integers(0, CLIENTS - 1)
fraction = st.floats(0, 1, allow_nan=False)
insert = st.tuples(st.just("insert"), client, fraction, st.text("abcxyz", min_size=1, max_size=6))
delete = st.tuples(st.just("delete"), client, fraction, st.integers(1, 8))
disconnect = st.tuples(st.just("disconnect"), client)
reconnect = st.tuples(st.just("reconnect"), client)
pause = st.tuples(st.just("pause"), st.integers(0, 15))  # ms: lets messages interleave
step = st.one_of(insert, insert, insert, delete, disconnect, reconnect, pause)
rooms = itertools.count(1)
# The run's seed, noted in a failure's report: replay with SAMEPAGE_TEST_SEED=<n>.
SEED = int(os.environ.get("SAMEPAGE_TEST_SEED", random.randrange(2**32)))


SERVER_FLAGS = {
    "default": [],
    # checkpoints every few updates (loading = checkpoint + tail is exercised), and rooms
    # unloaded as soon as the last client leaves (reconnects race the unload)
    "eager": ["--checkpoint-every", "3", "--unload-grace", "0"],
}


@pytest.fixture(scope="module", params=list(SERVER_FLAGS))
def prop_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """One server for every example (each example uses its own room and restarts it)."""
    tmp = tmp_path_factory.mktemp(f"properties-{request.param}")
    proc = ServerProcess(
        tmp / "samepage.db", extra_args=SERVER_FLAGS[request.param], log_path=tmp / "server.log"
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


class Clients:
    """The mixed set of clients of one example, addressed by index."""

    def __init__(self, server: ServerProcess, room: str, driver: NodeDriver) -> None:
        self.server, self.room, self.driver = server, room, driver
        self.pys = [PyPeer(server.ws, room, f"py{i}") for i in range(PY_CLIENTS)]
        self.nodes: list[NodeClient] = []
        self.inserted: dict[int, int] = {}  # client id -> characters inserted (= its clock)
        self.offline: set[int] = set()

    async def open(self) -> None:
        for peer in self.pys:
            await peer.connect()
        for i in range(NODE_CLIENTS):
            self.nodes.append(await self.driver.client(self.server.ws, self.room, name=f"n{i}"))

    def client_id(self, index: int) -> int:
        if index < PY_CLIENTS:
            return self.pys[index].doc.client_id
        return self.nodes[index - PY_CLIENTS].client_id

    async def run(self, op: tuple[Any, ...]) -> None:
        kind, *args = op
        if kind == "pause":
            await asyncio.sleep(args[0] / 1000)
            return
        index = args[0]
        py = self.pys[index] if index < PY_CLIENTS else None
        node = self.nodes[index - PY_CLIENTS] if py is None else None
        if kind == "insert":
            if py is not None:
                py.insert_at(args[1], args[2])
            else:
                assert node is not None
                await node.insert_at(args[1], args[2])
            cid = self.client_id(index)
            self.inserted[cid] = self.inserted.get(cid, 0) + len(args[2])
        elif kind == "delete":
            if py is not None:
                py.delete_at(args[1], args[2])
            else:
                assert node is not None
                await node.delete_at(args[1], args[2])
        elif kind == "disconnect":
            self.offline.add(index)
            await (py.disconnect() if py is not None else node.disconnect())  # type: ignore[union-attr]
        elif kind == "reconnect":
            self.offline.discard(index)
            await self.reconnect(index)

    async def reconnect(self, index: int) -> None:
        if index < PY_CLIENTS:
            await self.pys[index].connect(15)  # no-op when still connected
        else:
            await self.nodes[index - PY_CLIENTS].connect()

    async def reconnect_all(self) -> None:
        for index in range(CLIENTS):
            await self.reconnect(index)
        for node in self.nodes:
            await node.wait_synced(15)

    async def views(self) -> list[tuple[str, dict[int, int]]]:
        out = [(text_of(p.doc), state_vector(p.doc)) for p in self.pys]
        return out + [(await n.text(), await n.state_vector()) for n in self.nodes]

    async def aclose(self) -> None:
        for peer in self.pys:
            await peer.disconnect()
        for node in self.nodes:
            await node.close()


def restart(server: ServerProcess, kind: str) -> None:
    """Restart the server: gracefully (SIGTERM), or kill -9 then start."""
    if kind == "kill":
        server.kill()
        server.start()
    else:
        server.restart()


async def scenario(
    server: ServerProcess, steps: list[tuple[Any, ...]], restart_at: int, restart_kind: str
) -> None:
    room = f"prop-{next(rooms)}"
    driver = NodeDriver(node_or_skip())
    await driver.start()
    clients = Clients(server, room, driver)
    try:
        await clients.open()
        for i, op in enumerate(steps):
            if i == restart_at:
                # The event loop keeps running (pycrdt peers notice the socket drop);
                # Node clients reconnect by themselves with backoff.
                await asyncio.to_thread(restart, server, restart_kind)
            await clients.run(op)
        await clients.reconnect_all()

        async def converged() -> bool:
            seen = await clients.views()
            return all(v == seen[0] for v in seen)

        await eventually(converged, 20, "every client converges")
        text, vector = (await clients.views())[0]
        # a Yjs clock counts inserted characters: nothing anyone typed was lost
        assert vector == {cid: n for cid, n in clients.inserted.items() if n}
        room_doc = await live_doc(server.http, room)
        assert (text_of(room_doc), state_vector(room_doc)) == (text, vector)

        async def stored_matches() -> bool:
            doc = await stored_doc(server.db, room)
            return (text_of(doc), state_vector(doc)) == (text, vector)

        await eventually(stored_matches, 10, "the SQLite file holds the same document")
    finally:
        await clients.aclose()
        await driver.aclose()


@settings(
    max_examples=int(os.environ.get("SAMEPAGE_PROPERTY_EXAMPLES", "10")),
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@seed(SEED)
@given(
    steps=st.lists(step, min_size=5, max_size=35),
    restart_at=st.integers(0, 35),
    restart_kind=st.sampled_from(["graceful", "kill"]),
)
def test_clients_live_room_and_store_converge(
    prop_server: ServerProcess, steps: list[tuple[Any, ...]], restart_at: int, restart_kind: str
) -> None:
    restart_at = min(restart_at, len(steps) - 1)
    note(
        f"seed {SEED} (SAMEPAGE_TEST_SEED={SEED}); {restart_kind} restart before step {restart_at}"
    )
    note(f"steps: {steps}")
    node_or_skip()
    asyncio.run(scenario(prop_server, steps, restart_at, restart_kind))


def test_server_log_is_clean_after_properties(prop_server: ServerProcess) -> None:
    """No tracebacks in the server log of the property run."""
    log = (
        Path(prop_server.log_path or "").read_text(errors="replace") if prop_server.log_path else ""
    )
    assert "Traceback" not in log, prop_server.log_tail(80)
