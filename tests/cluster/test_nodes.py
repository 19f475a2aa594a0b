"""Several `samepage serve` processes on one PostgreSQL database and Redis: clients of
one room spread over the nodes converge, every update is stored exactly once, and
the cluster survives a Redis outage and a node killed with -9."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from pycrdt import Doc

from sync import protocol
from sync.awareness import decode_awareness
from tests.cluster.conftest import (
    content,
    edit,
    room_name,
    seeded_rng,
    start_all,
    stop_all,
    stored_updates,
    tokens,
)
from tests.cluster.redis_server import RedisServer
from tests.helpers.clients import RawClient, eventually, raw_client, yclient
from tests.helpers.server import ServerProcess
from tests.sync.test_room import awareness_frame

Nodes = Callable[[int, str], list[ServerProcess]]


def converged(docs: list[Doc[Any]], want: set[str]) -> bool:
    texts = [content(d) for d in docs]
    return all(t == texts[0] for t in texts) and tokens(texts[0]) == want


async def test_three_nodes_converge_and_store_every_update_once(
    make_nodes: Nodes, shared_redis: str, pg_url: str
) -> None:
    nodes = make_nodes(3, shared_redis)
    await start_all(nodes)
    room, rng = room_name("three"), seeded_rng()
    try:
        async with contextlib.AsyncExitStack() as stack:
            docs = [
                await stack.enter_async_context(yclient(nodes[i % 3].ws, room)) for i in range(6)
            ]
            want: set[str] = set()

            async def writer(index: int) -> None:
                for n in range(15):
                    want.add(await edit(docs[index], index, n, rng))
                    await asyncio.sleep(rng.random() * 0.02)

            await asyncio.gather(*(writer(i) for i in range(len(docs))))
            await eventually(lambda: converged(docs, want), 10, "convergence")
            final = content(docs[0])
        rows = await stored_updates(pg_url, room)
        assert len(rows) == len(want) == 90  # one row per edit...
        assert len(set(rows)) == len(rows)  # ...none stored twice
        for node in nodes:  # every node's view of the stored room is the same
            async with httpx.AsyncClient(base_url=node.http) as http:
                assert (await http.get(f"/api/rooms/{room}/content")).text == final
    finally:
        await stop_all(nodes)


async def test_redis_outage_nodes_keep_serving_and_converge_after(
    make_nodes: Nodes, pg_url: str
) -> None:
    redis = RedisServer()
    redis.start()
    nodes = make_nodes(3, redis.url)
    await start_all(nodes)
    room, rng = room_name("outage"), seeded_rng()
    try:
        async with contextlib.AsyncExitStack() as stack:
            docs = [await stack.enter_async_context(yclient(n.ws, room)) for n in nodes]
            want: set[str] = set()
            counters = [0] * len(docs)

            async def burst(count: int, pause: float) -> None:
                for _ in range(count):
                    for i, doc in enumerate(docs):
                        want.add(await edit(doc, i, counters[i], rng))
                        counters[i] += 1
                    await asyncio.sleep(pause)

            await burst(3, 0.01)
            await eventually(lambda: converged(docs, want), 5, "convergence before")
            redis.stop()
            outage_started = time.monotonic()
            await burst(20, 0.5)  # ~10 s of edits on every node while Redis is down
            assert time.monotonic() - outage_started >= 9.5
            redis.start()
            await burst(2, 0.01)
            restarted = time.monotonic()
            await eventually(lambda: converged(docs, want), 5, "convergence after the outage")
            print(f"converged {time.monotonic() - restarted:.2f}s after Redis came back")
        rows = await stored_updates(pg_url, room)
        assert len(rows) == len(want) and len(set(rows)) == len(rows)
    finally:
        await stop_all(nodes)
        redis.stop()


async def test_killed_node_loses_no_acknowledged_update_and_its_presence_vanishes(
    make_nodes: Nodes, shared_redis: str, pg_url: str
) -> None:
    nodes = make_nodes(3, shared_redis)
    await start_all(nodes)
    victim, survivors = nodes[0], nodes[1:]
    room, rng = room_name("kill"), seeded_rng()

    async def presence_ids(node: ServerProcess) -> set[int]:
        async with httpx.AsyncClient(base_url=node.http) as http:
            body = (await http.get(f"/api/rooms/{room}")).json()
        return {p["client_id"] for p in body["presence"]}

    async def no_presence(node: ServerProcess) -> bool:
        return not await presence_ids(node)

    try:
        async with contextlib.AsyncExitStack() as stack:
            watchers = [await stack.enter_async_context(yclient(n.ws, room)) for n in survivors]
            # A user on the victim, with presence, editing.
            doomed = await stack.enter_async_context(raw_client(victim.ws, room))
            await doomed.send(awareness_frame(4242, 1, '{"user":{"name":"ann"}}'))
            for node in survivors:
                await eventually(lambda n=node: presence_ids(n), 5, "relayed presence")
                assert await presence_ids(node) == {4242}
            victim_client: Doc[Any] = Doc()
            acked: set[str] = set()
            victim_conn = yclient(victim.ws, room, victim_client)
            await victim_conn.__aenter__()
            for n in range(10):
                acked.add(await edit(victim_client, 0, n, rng))
            # Acknowledged = committed: seen by clients of the other nodes.
            await eventually(lambda: all(acked <= tokens(content(w)) for w in watchers), 5)
            unacked = {await edit(victim_client, 0, n, rng) for n in range(10, 15)}
            victim.kill()
            with contextlib.suppress(Exception):  # its socket is dead
                await victim_conn.__aexit__(None, None, None)
            killed = time.monotonic()
            for node in survivors:  # no ghost: the dead node's users vanish
                await eventually(lambda n=node: no_presence(n), 8, "presence removed")
            print(f"presence removed {time.monotonic() - killed:.2f}s after kill -9")
            # The victim's client reconnects to a survivor and re-sends what it holds.
            back = await stack.enter_async_context(yclient(survivors[0].ws, room, victim_client))
            want = acked | unacked
            for n in range(2):
                want.add(await edit(watchers[n], n + 1, 0, rng))
            await eventually(lambda: converged([back, *watchers], want), 10, "convergence")
        async with httpx.AsyncClient(base_url=survivors[1].http) as http:
            stored = (await http.get(f"/api/rooms/{room}/content")).text
        assert tokens(stored) == want
        rebuilt: Doc[Any] = Doc()  # the database alone holds every acknowledged edit
        for row in await stored_updates(pg_url, room):
            rebuilt.apply_update(row)
        assert tokens(content(rebuilt)) == want
    finally:
        await stop_all(nodes)


async def test_room_loaded_on_a_second_node_starts_with_the_first_nodes_edits(
    make_nodes: Nodes, shared_redis: str
) -> None:
    a, b = make_nodes(2, shared_redis)
    await start_all([a, b])
    room, rng = room_name("late"), seeded_rng()
    try:
        async with yclient(a.ws, room) as writer, yclient(a.ws, room) as observer:
            stop = asyncio.Event()

            async def keep_editing() -> None:
                n = 0
                while not stop.is_set():
                    await edit(writer, 1, n, rng)
                    n += 1
                    await asyncio.sleep(0.005)

            task = asyncio.create_task(keep_editing())
            try:
                await eventually(lambda: len(tokens(content(observer))) >= 50, 10)
                # What node A has accepted and broadcast (committed) right now...
                accepted = tokens(content(observer))
                async with yclient(b.ws, room) as late:
                    # ...is in B's very first sync, although A keeps editing.
                    first = tokens(content(late))
                    assert accepted <= first, f"missing {len(accepted - first)} edits"
                    stop.set()
                    await task
                    await eventually(lambda: tokens(content(late)) == tokens(content(writer)), 5)
            finally:
                stop.set()
                await task
    finally:
        await stop_all([a, b])


def presence_seen(client: RawClient) -> dict[int, Any]:
    """The presence a client sees, folded from every awareness frame it received."""
    states: dict[int, Any] = {}
    for message in client.of_type(protocol.AwarenessMessage):
        for entry in decode_awareness(message.payload):
            if entry.removed:
                states.pop(entry.client_id, None)
            else:
                states[entry.client_id] = json.loads(entry.state)
    return states


def typing_of(client: RawClient, client_id: int) -> Any:
    return presence_seen(client).get(client_id, {}).get("typing")


async def test_presence_crosses_nodes_typing_included_and_late_nodes_get_it(
    make_nodes: Nodes, shared_redis: str
) -> None:
    a, b, c = make_nodes(3, shared_redis)
    await start_all([a, b, c])
    room = room_name("presence")
    ann_state = '{{"user":{{"name":"ann","color":"#aa0000"}},"typing":{}}}'
    async with raw_client(a.ws, room) as ann, raw_client(b.ws, room) as bob:
        await ann.send(awareness_frame(101, 1, ann_state.format("false")))
        await bob.send(awareness_frame(202, 1, '{"user":{"name":"bob"},"typing":false}'))
        await eventually(lambda: typing_of(bob, 101) is False, 5, "ann seen on node b")
        await eventually(lambda: typing_of(ann, 202) is False, 5, "bob seen on node a")
        await ann.send(awareness_frame(101, 2, ann_state.format("true")))
        await eventually(lambda: typing_of(bob, 101) is True, 5, "ann typing, seen on b")
        # Node c loads the room only now: it asks the holders for their presence.
        async with raw_client(c.ws, room) as cid:
            await eventually(lambda: set(presence_seen(cid)) == {101, 202}, 5, "snapshot")
            assert typing_of(cid, 101) is True
            await ann.aclose()
            await ann.ws.close()  # ann leaves: her state is removed everywhere
            await eventually(lambda: set(presence_seen(cid)) == {202}, 5, "ann gone on c")
            await eventually(lambda: 101 not in presence_seen(bob), 5, "ann gone on b")
