"""One contract, every multi-node Bus: `MemoryBus` (in-process) and `RedisBus` (a
private redis-server, stopped and restarted for the outage case). `LocalBus` has no
peers; it only has to be a well-behaved no-op."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from sync.bus import (
    Bus,
    BusAwareness,
    BusEphemeral,
    BusMessage,
    BusNotice,
    BusUpdate,
    LocalBus,
    MemoryBus,
    MemoryHub,
    NodeGone,
    PresenceNudge,
    PresenceQuery,
    PresenceSnapshot,
    Resubscribed,
)
from sync.bus_redis import RedisBus
from sync.bus_wire import decode_bus_message, encode_bus_message
from sync.errors import ProtocolError
from tests.cluster.redis_server import RedisServer
from tests.helpers.clients import eventually


@dataclass
class Node:
    bus: Bus
    got: list[BusMessage] = field(default_factory=list)

    def of(self, kind: type) -> list[BusMessage]:
        return [m for m in self.got if isinstance(m, kind)]


@dataclass
class Cluster:
    """A way to make nodes, and to take the bus away and give it back."""

    make: Callable[[str], Bus]
    outage: Callable[[], None]
    restore: Callable[[], None]
    crash: Callable[[Bus], None]
    nodes: list[Node] = field(default_factory=list)

    async def node(self, name: str) -> Node:
        node = Node(self.make(name))
        await node.bus.start(node.got.append)
        self.nodes.append(node)
        return node


@pytest.fixture(params=["memory", "redis"])
async def cluster(request: pytest.FixtureRequest) -> AsyncIterator[Cluster]:
    if request.param == "memory":
        hub = MemoryHub()
        buses: list[MemoryBus] = []

        def make_memory(name: str) -> Bus:
            bus = MemoryBus(hub, name)
            buses.append(bus)
            return bus

        def crash_memory(bus: Bus) -> None:
            assert isinstance(bus, MemoryBus)
            hub.buses.pop(bus.node_id, None)
            hub.route(NodeGone(bus.node_id), None)  # the hub notices at once

        made = Cluster(
            make_memory,
            lambda: [b.disconnect() for b in buses] and None,
            lambda: [b.reconnect() for b in buses] and None,
            crash_memory,
        )
        yield made
    else:
        server = RedisServer()
        server.start()

        def make_redis(name: str) -> Bus:
            return RedisBus(server.url, name, heartbeat_s=0.2, ttl_s=0.8)

        def crash_redis(bus: Bus) -> None:
            assert isinstance(bus, RedisBus)
            for task in bus._tasks:  # stop heart-beating without a goodbye
                task.cancel()
            bus._closed = True

        made = Cluster(make_redis, server.stop, server.start, crash_redis)
        try:
            yield made
        finally:
            server.stop()
            server.start()  # let the buses close cleanly
            for node in made.nodes:
                await node.bus.aclose()
            server.stop()
        return
    for node in made.nodes:
        await node.bus.aclose()


def room() -> str:
    return f"bus-{uuid.uuid4().hex[:8]}"


async def test_messages_reach_joined_peers_in_order_never_the_sender(cluster: Cluster) -> None:
    a, b, c = await cluster.node("a"), await cluster.node("b"), await cluster.node("c")
    name, other = room(), room()
    await b.bus.join(name)
    await a.bus.join(name)
    await c.bus.join(other)
    for seq in range(1, 51):
        a.bus.publish(BusUpdate(name, seq, bytes([seq]), a.bus.node_id))
    a.bus.publish(BusAwareness(name, b"\x00", a.bus.node_id))
    await eventually(lambda: len(b.of(BusUpdate)) == 50 and bool(b.of(BusAwareness)), 5)
    updates = b.of(BusUpdate)
    assert [m.seq for m in updates] == list(range(1, 51))  # type: ignore[attr-defined]
    assert all(m.origin == a.bus.node_id for m in updates)
    assert not a.of(BusUpdate) and not c.of(BusUpdate)  # no echo; other rooms untouched


async def test_every_message_kind_arrives_intact(cluster: Cluster) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    name = room()
    await a.bus.join(name)
    await b.bus.join(name)
    sent: list[BusMessage] = [
        BusUpdate(name, 7, b"\x01\x02" * 1000, a.bus.node_id),
        BusAwareness(name, b"\x01\x05\x03", a.bus.node_id),
        PresenceQuery(name, a.bus.node_id),
        PresenceSnapshot(name, b"\x00", a.bus.node_id),
        PresenceNudge(name, b"\x01\x05\x03\x04null", a.bus.node_id),
        BusEphemeral(name, '{"cursor": "é"}', a.bus.node_id),
    ]
    for message in sent:
        a.bus.publish(message)
    await eventually(lambda: len(b.got) >= len(sent), 5)
    assert b.got == sent


async def test_notices_reach_every_peer_whatever_rooms_it_joined(cluster: Cluster) -> None:
    a, b, c = await cluster.node("a"), await cluster.node("b"), await cluster.node("c")
    await b.bus.join(room())  # b holds some room, c none: both get node-wide notices
    notice = BusNotice("access", b'{"revoke": "x"}', a.bus.node_id)
    a.bus.publish(notice)
    await eventually(lambda: bool(b.of(BusNotice)) and bool(c.of(BusNotice)), 5)
    assert b.of(BusNotice) == [notice] == c.of(BusNotice) and not a.of(BusNotice)


async def test_leave_stops_delivery_and_join_again_resumes(cluster: Cluster) -> None:
    a, b, witness = await cluster.node("a"), await cluster.node("b"), await cluster.node("w")
    name = room()
    await a.bus.join(name)
    await b.bus.join(name)
    await witness.bus.join(name)
    await b.bus.leave(name)
    a.bus.publish(BusUpdate(name, 1, b"x", a.bus.node_id))
    await eventually(lambda: bool(witness.of(BusUpdate)), 5)  # seq 1 is out
    await b.bus.join(name)
    a.bus.publish(BusUpdate(name, 2, b"y", a.bus.node_id))
    await eventually(lambda: bool(b.of(BusUpdate)), 5)
    assert [m.seq for m in b.of(BusUpdate)] == [2]  # type: ignore[attr-defined]


async def test_a_closed_peer_is_reported_gone(cluster: Cluster) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    name = room()
    await a.bus.join(name)
    await b.bus.join(name)
    b.bus.publish(BusAwareness(name, b"\x00", b.bus.node_id))  # a now knows b
    await eventually(lambda: bool(a.of(BusAwareness)), 5)
    gone_id = b.bus.node_id
    await b.bus.aclose()
    await b.bus.aclose()  # idempotent
    b.bus.publish(BusUpdate(name, 1, b"x", gone_id))  # after close: ignored, no error
    await eventually(lambda: NodeGone(gone_id) in a.got, 5)


async def test_a_crashed_peer_is_reported_gone_within_a_bound(cluster: Cluster) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    name = room()
    await a.bus.join(name)
    await b.bus.join(name)
    b.bus.publish(BusAwareness(name, b"\x00", b.bus.node_id))
    await eventually(lambda: bool(a.of(BusAwareness)), 5)
    cluster.crash(b.bus)
    await eventually(lambda: NodeGone(b.bus.node_id) in a.got, 3)


async def test_after_an_outage_nodes_resubscribe_and_say_so(cluster: Cluster) -> None:
    a, b = await cluster.node("a"), await cluster.node("b")
    name = room()
    await a.bus.join(name)
    await b.bus.join(name)
    cluster.outage()
    a.bus.publish(BusUpdate(name, 1, b"lost", a.bus.node_id))  # must not raise or block
    await eventually(lambda: not any(getattr(n.bus, "connected", False) for n in (a, b)), 5)
    cluster.restore()
    await eventually(lambda: bool(b.of(Resubscribed) and a.of(Resubscribed)), 10)
    a.bus.publish(BusUpdate(name, 2, b"after", a.bus.node_id))
    await eventually(lambda: any(m.seq == 2 for m in b.of(BusUpdate)), 5)  # type: ignore[attr-defined]
    assert not any(isinstance(m, NodeGone) for m in a.got + b.got)  # an outage is no death


async def test_local_bus_is_a_quiet_no_op() -> None:
    bus = LocalBus()
    got: list[BusMessage] = []
    await bus.start(got.append)
    await bus.join("r")
    bus.publish(BusUpdate("r", 1, b"x", bus.node_id))
    await bus.leave("r")
    await bus.aclose()
    await bus.aclose()
    assert got == []


def test_wire_format_round_trips_and_rejects_garbage() -> None:
    for message in [
        BusUpdate("r", 2**40, b"\xff" * 3, "n.1"),
        BusAwareness("r", b"", "n.1"),
        PresenceQuery("r", "n.1"),
        PresenceSnapshot("r", b"\x00", "n.1"),
        PresenceNudge("r", b"\x00", "n.1"),
        BusEphemeral("r", "{}", "n.1"),
        NodeGone("n.1"),
        BusNotice("access", b'{"kind": "jti"}', "n.1"),
    ]:
        assert decode_bus_message(encode_bus_message(message)) == message
    good = encode_bus_message(BusUpdate("r", 1, b"abc", "n"))
    for bad in [b"", b"\x02" + good[1:], good[:-1], good + b"\x00", b"\x01\x0a\x01n\x01r"]:
        with pytest.raises(ProtocolError):
            decode_bus_message(bad)
