"""RedisBus against a Redis that stops answering without closing its sockets (a frozen
server, as in a network partition): the bus notices, reconnects once Redis answers
again and reports `Resubscribed`, so the cluster link catches up."""

from __future__ import annotations

import os
import signal

from sync.bus import BusMessage, BusUpdate, NodeGone, Resubscribed
from sync.bus_redis import RedisBus
from tests.cluster.redis_server import RedisServer
from tests.helpers.clients import eventually


async def test_a_frozen_redis_is_noticed_and_the_bus_recovers() -> None:
    with RedisServer() as server:
        assert server.proc is not None
        got: dict[str, list[BusMessage]] = {"a": [], "b": []}
        buses = {
            name: RedisBus(server.url, name, heartbeat_s=0.2, ttl_s=0.8, timeout_s=0.5)
            for name in got
        }
        for name, bus in buses.items():
            await bus.start(got[name].append)
            await bus.join("room")
        a, b = buses["a"], buses["b"]
        try:
            os.kill(server.proc.pid, signal.SIGSTOP)  # sockets stay open; nothing answers
            try:
                await eventually(lambda: not a.connected and not b.connected, 10, "noticed")
                a.publish(BusUpdate("room", 1, b"lost", a.node_id))
            finally:
                os.kill(server.proc.pid, signal.SIGCONT)
            await eventually(
                lambda: all(any(isinstance(m, Resubscribed) for m in got[n]) for n in got),
                15,
                "resubscribed",
            )
            a.publish(BusUpdate("room", 2, b"after", a.node_id))
            await eventually(
                lambda: any(isinstance(m, BusUpdate) and m.seq == 2 for m in got["b"]), 5
            )
            assert not any(isinstance(m, NodeGone) for m in got["a"] + got["b"])
        finally:
            for bus in buses.values():
                await bus.aclose()


async def test_the_bus_reads_redis_replies_with_hiredis() -> None:
    """Every update crosses the bus twice (published, and read back by each subscribed
    node): redis-py's pure-Python reply parser was ~10 % of a node's CPU on s2 at
    7,500 updates/s; hiredis (a runtime dependency) parses in C."""
    with RedisServer() as server:
        bus = RedisBus(server.url, "a")
        await bus.start(lambda _message: None)
        try:
            await bus.join("room")
            await eventually(lambda: bus.connected, 5, "connected")
            connection = await bus._redis.connection_pool.get_connection()
            try:
                assert type(connection._parser).__name__ == "_AsyncHiredisParser"
            finally:
                await bus._redis.connection_pool.release(connection)
        finally:
            await bus.aclose()
