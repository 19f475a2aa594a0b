"""ClusterLink in one process: several RoomManagers on one shared store (the "database")
linked by MemoryBus, so the catch-up logic is exercised fast and deterministically."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pycrdt import Doc, Text

from storage.memory import MemoryStore
from sync import protocol
from sync.awareness import AwarenessEntry, decode_awareness, encode_awareness_entries
from sync.bus import MemoryBus, MemoryHub, NodeGone
from sync.cluster import ClusterLink
from sync.handler import handle_frame
from sync.manager import RoomManager
from sync.protocol import SubscribeFlag
from sync.types import SyncSettings
from tests.helpers.clients import eventually
from tests.helpers.fakes import FakeTransport
from tests.sync.test_room import connect


@dataclass
class Node:
    manager: RoomManager
    bus: MemoryBus
    link: ClusterLink

    def text(self, room: str) -> str:
        loaded = self.manager.get(room)
        assert loaded is not None
        return str(loaded.doc.get("content", type=Text))


Factory = Callable[..., Awaitable[list[Node]]]


@pytest.fixture
async def make() -> AsyncIterator[Factory]:
    """`await make(resync_interval=...)`: three linked nodes on one shared store."""
    made: list[Node] = []

    async def build(resync_interval: float = 0.2) -> list[Node]:
        store, hub = MemoryStore(), MemoryHub()
        nodes = []
        for name in ("a", "b", "c"):
            manager = RoomManager(store)
            bus = MemoryBus(hub, name)
            link = ClusterLink(manager, bus, resync_interval=resync_interval, gap_grace=0.05)
            await link.start()
            nodes.append(Node(manager, bus, link))
        made.extend(nodes)
        return nodes

    yield build
    for node in made:
        await node.manager.aclose()
        await node.link.aclose()


@pytest.fixture
async def nodes(make: Factory) -> list[Node]:
    """Three linked nodes with a fast periodic check."""
    return await make()


class Writer:
    """A client document whose edits we can send one by one."""

    def __init__(self, tag: str) -> None:
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("content", type=Text)
        self.tag = tag
        self.n = 0

    def edit(self) -> bytes:
        before = self.doc.get_state()
        self.text.insert(len(self.text), f"{self.tag}{self.n};")
        self.n += 1
        return self.doc.get_update(before)


def expected(*writers: Writer) -> set[str]:
    return {f"{w.tag}{i}" for w in writers for i in range(w.n)}


def pieces(text: str) -> set[str]:
    return {p for p in text.split(";") if p}


async def test_updates_reach_every_node_and_are_stored_once(nodes: list[Node]) -> None:
    a, b, c = nodes
    conns = [(await connect(n.manager, "doc"))[0] for n in nodes]
    writers = [Writer(t) for t in "xyz"]
    for _ in range(20):
        for conn, writer in zip(conns, writers, strict=True):
            await handle_frame(conn, protocol.encode_update(writer.edit()))
    want = expected(*writers)
    await eventually(lambda: all(pieces(n.text("doc")) == want for n in nodes), 5)
    rows = await a.manager.store.updates_range("doc", 0, 10_000)
    assert len(rows) == 60 and len({r.update for r in rows}) == 60
    assert b.link.caught_up == 0 and c.link.caught_up == 0  # the bus was enough
    # each node applied the other two nodes' updates (a commit's may come merged)
    assert all(0 < n.link.remote_applied <= 40 for n in nodes)


async def b_misses(make: Factory, edits: int) -> tuple[Node, Node, Writer]:
    """Nodes a and b hold "doc"; b's bus is down while a stores `edits` edits."""
    a, b, _ = await make(resync_interval=3600)  # only the reconnection can save b
    conn_a, _t = await connect(a.manager, "doc")
    await connect(b.manager, "doc")
    writer = Writer("w")
    b.bus.disconnect()
    for _ in range(edits):
        await handle_frame(conn_a, protocol.encode_update(writer.edit()))
    await a.manager.get("doc").flush()  # type: ignore[union-attr]
    return a, b, writer


async def test_node_that_missed_messages_catches_up_from_the_database(make: Factory) -> None:
    _a, b, writer = await b_misses(make, 10)
    assert pieces(b.text("doc")) == set()
    b.bus.reconnect()  # -> Resubscribed -> catch up
    await eventually(lambda: pieces(b.text("doc")) == expected(writer), 3)
    assert b.link.caught_up == 10


async def test_a_lost_last_message_is_found_by_the_periodic_check(nodes: list[Node]) -> None:
    a, b, _ = nodes
    conn_a, _t = await connect(a.manager, "doc")
    await connect(b.manager, "doc")
    writer = Writer("w")
    a.bus.disconnect()  # a's publishes are dropped; b never notices a reconnection
    await handle_frame(conn_a, protocol.encode_update(writer.edit()))
    await eventually(lambda: pieces(b.text("doc")) == expected(writer), 3)
    assert b.link.caught_up == 1


async def test_a_gap_in_seqs_is_filled_from_the_database(nodes: list[Node]) -> None:
    a, b, c = nodes
    conn_a, _t = await connect(a.manager, "doc")
    conn_c, _t = await connect(c.manager, "doc")
    await connect(b.manager, "doc")
    wa, wc = Writer("a"), Writer("c")
    c.bus.disconnect()  # c's update (the middle seq) never reaches b over the bus
    await handle_frame(conn_a, protocol.encode_update(wa.edit()))
    await c.manager.get("doc").flush()  # type: ignore[union-attr]
    await eventually(lambda: "a0" in pieces(b.text("doc")), 3)
    await handle_frame(conn_c, protocol.encode_update(wc.edit()))
    await c.manager.get("doc").flush()  # type: ignore[union-attr]
    await handle_frame(conn_a, protocol.encode_update(wa.edit()))
    await eventually(lambda: pieces(b.text("doc")) == expected(wa, wc), 3)
    assert b.link.rooms["doc"].applied == 3


async def test_a_room_loaded_while_another_node_edits_misses_nothing(nodes: list[Node]) -> None:
    a, b, _ = nodes
    conn_a, _t = await connect(a.manager, "doc")
    writer = Writer("w")
    for _ in range(5):
        await handle_frame(conn_a, protocol.encode_update(writer.edit()))
    # Edits that commit while b is between its subscription and its store read.
    original = b.manager.store.load

    async def slow_load(name: str) -> Any:
        for _ in range(5):
            await handle_frame(conn_a, protocol.encode_update(writer.edit()))
        await a.manager.get("doc").flush()  # type: ignore[union-attr]
        loaded = await original(name)
        for _ in range(5):  # and while it builds the room
            await handle_frame(conn_a, protocol.encode_update(writer.edit()))
        await a.manager.get("doc").flush()  # type: ignore[union-attr]
        return loaded

    b.manager.store.load = slow_load  # type: ignore[method-assign]
    await connect(b.manager, "doc")
    b.manager.store.load = original  # type: ignore[method-assign]
    await eventually(lambda: pieces(b.text("doc")) == expected(writer), 3)
    assert b.link.caught_up == 0  # buffered bus messages were enough


def awareness(client_id: int, clock: int, name: str | None) -> bytes:
    state = "null" if name is None else json.dumps({"user": {"name": name}})
    return protocol.encode_awareness(
        encode_awareness_entries([AwarenessEntry(client_id, clock, state)])
    )


async def test_presence_is_relayed_snapshotted_for_joiners_and_dropped_with_its_node(
    nodes: list[Node],
) -> None:
    a, b, c = nodes
    conn_a, _t = await connect(a.manager, "doc")
    await connect(b.manager, "doc")
    await handle_frame(conn_a, awareness(11, 1, "ann"))

    def names(node: Node) -> set[str]:
        room = node.manager.get("doc")
        assert room is not None
        return {s["user"]["name"] for s in room.presence.states().values()}

    await eventually(lambda: names(b) == {"ann"}, 3)
    await connect(c.manager, "doc")  # a late joiner asks for snapshots
    await eventually(lambda: names(c) == {"ann"}, 3)
    await handle_frame(conn_a, awareness(11, 2, None))
    await eventually(lambda: names(b) == set() and names(c) == set(), 3)
    await handle_frame(conn_a, awareness(11, 3, "ann again"))
    await eventually(lambda: names(b) == {"ann again"}, 3)
    await a.bus.aclose()  # node a leaves the cluster: NodeGone
    await eventually(lambda: names(b) == set() and names(c) == set(), 3)


async def test_a_client_back_on_another_node_makes_peers_there_re_announce(
    nodes: list[Node],
) -> None:
    # Dave (on a) is unchanged while Bob drops from b and comes back on c: Bob's client
    # kept Dave's clock, so a must tell Dave to re-announce past it (via the bus).
    a, b, c = nodes
    dave, dave_t = await connect(a.manager, "doc")
    bob, _ = await connect(b.manager, "doc")
    await connect(c.manager, "doc")
    await handle_frame(dave, awareness(44, 7, "dave"))
    await handle_frame(bob, awareness(22, 1, "bob"))

    def seen_on_c(client_id: int) -> bool:
        room = c.manager.get("doc")
        return room is not None and client_id in room.presence

    await eventually(lambda: seen_on_c(44) and seen_on_c(22), 3)
    await bob.aclose()
    await eventually(lambda: not seen_on_c(22), 3)

    def dave_nudges() -> list[AwarenessEntry]:
        return [
            e
            for m in dave_t.of_type(protocol.AwarenessMessage)
            for e in decode_awareness(m.payload)
            if e.client_id == 44 and e.removed
        ]

    welcomed = len(dave_nudges())  # his own welcome when he announced himself
    back, _ = await connect(c.manager, "doc")
    await handle_frame(back, awareness(22, 1, "bob"))
    await eventually(lambda: len(dave_nudges()) == welcomed + 1, 3)
    assert dave_nudges()[-1] == AwarenessEntry(44, 8, "null")


async def test_ephemeral_messages_reach_subscribers_on_other_nodes_once(nodes: list[Node]) -> None:
    a, b, c = nodes
    sender, sender_t = await connect(a.manager, "doc")
    listeners = [await connect(n.manager, "doc") for n in (a, b, c)]
    for conn, _t in [(sender, sender_t), *listeners]:
        await handle_frame(conn, protocol.encode_subscribe(SubscribeFlag.EPHEMERAL))
    await handle_frame(sender, protocol.encode_ephemeral('{"ping": 1}'))

    def received(transport: FakeTransport) -> list[str]:
        return [m.data for m in transport.of_type(protocol.Ephemeral)]

    await eventually(lambda: all(received(t) == ['{"ping": 1}'] for _c, t in listeners), 3)
    assert received(sender_t) == []  # not back to the sender, and no node echoes it


async def test_refresh_before_join_keeps_a_moved_clients_edit_from_being_stored_twice(
    make: Factory,
) -> None:
    a, b, _ = await make(resync_interval=3600)
    conn_a, _t = await connect(a.manager, "doc")
    await connect(b.manager, "doc")
    writer = Writer("w")
    b.bus.disconnect()  # b has not heard of the edit when the client moves to it
    await handle_frame(conn_a, protocol.encode_update(writer.edit()))
    await a.manager.get("doc").flush()  # type: ignore[union-attr]
    b.bus.connected = True  # back, without the reconnection catch-up
    await b.link.refresh("doc")
    moved, _t = await connect(b.manager, "doc")
    await handle_frame(moved, protocol.encode_sync_step2(writer.doc.get_update()))
    await b.manager.get("doc").flush()  # type: ignore[union-attr]
    assert len(await b.manager.store.updates_range("doc", 0, 100)) == 1


async def test_a_node_wrongly_reported_gone_gets_its_presence_back(nodes: list[Node]) -> None:
    a, b, _ = nodes
    conn_a, _t = await connect(a.manager, "doc")
    _conn_b, seen_on_b = await connect(b.manager, "doc")
    await handle_frame(conn_a, awareness(11, 1, "ann"))

    def states_on_b() -> list[str]:  # what b's client was told about client 11, in order
        return [
            e.state
            for m in seen_on_b.of_type(protocol.AwarenessMessage)
            for e in decode_awareness(m.payload)
            if e.client_id == 11
        ]

    await eventually(lambda: len(states_on_b()) == 1, 3)
    b.bus.deliver(NodeGone("a"))  # a only missed heartbeats (a long pause): not dead
    # b drops a's presence, asks the holders again, and a (alive) answers.
    await eventually(lambda: len(states_on_b()) == 3, 3)
    assert states_on_b()[1] == "null" and states_on_b()[2] != "null"
    room = b.manager.get("doc")
    assert room is not None and set(room.presence.states()) == {11}


async def test_a_long_catch_up_reaches_local_clients_as_one_frame(make: Factory) -> None:
    a, b, _ = await make(resync_interval=3600)
    conn_a, _t = await connect(a.manager, "doc", SyncSettings(messages_per_second=0))
    watcher, watcher_t = await connect(b.manager, "doc")
    writer = Writer("w")
    b.bus.disconnect()
    for _ in range(3000):  # more than a client's outbound queue holds in frames
        await handle_frame(conn_a, protocol.encode_update(writer.edit()))
    await a.manager.get("doc").flush()  # type: ignore[union-attr]
    b.bus.reconnect()
    await eventually(lambda: pieces(b.text("doc")) == expected(writer), 10)
    assert not watcher.closed
    assert len(watcher_t.of_type(protocol.SyncUpdate)) <= 2


async def test_a_catch_up_across_a_compaction_that_kept_a_named_row(make: Factory) -> None:
    """b missed rows 1..12; a compaction (another process) folded them, keeping row 1
    (a named version): the rows b reads start right after its seq, with a gap behind
    row 1, which only the checkpoint covers."""
    from storage.compaction import compact_room

    a, b, writer = await b_misses(make, 12)
    store = a.manager.store
    await store.add_version("doc", 1, "first", "t")
    await compact_room(store, "doc", keep_every=5, now_us=0)
    assert [r.seq for r in await store.updates_range("doc", 0, 12)] == [1]
    b.bus.reconnect()
    await eventually(lambda: pieces(b.text("doc")) == expected(writer), 3)
