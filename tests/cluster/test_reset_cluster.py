"""A reset on one node reaches the other node's clients (two nodes over PostgreSQL and
Redis): they are closed 4410 while they type, nothing of the old document reaches the
new one on either node, and the old document is refused when it comes back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from sync.errors import CloseCode
from tests.cluster.conftest import room_name, start_all
from tests.helpers.clients import eventually
from tests.helpers.server import ServerProcess
from tests.interop.node import NodeClient, node_driver


async def test_a_reset_on_one_node_closes_the_other_nodes_clients(
    shared_redis: str, make_nodes: Callable[[int, str], list[ServerProcess]]
) -> None:
    a, b = make_nodes(2, shared_redis)
    await start_all([a, b])
    room = room_name("reset")
    async with node_driver() as driver:
        on_a = await driver.client(a.ws, room, name="on-a")
        on_b = await driver.client(b.ws, room, name="on-b")
        await on_b.insert(0, "old text from b ")
        await on_a.insert(0, "old text from a ")
        typing = True

        async def type_on(client: NodeClient) -> None:
            while typing:
                await client.type(3, "z")
                await asyncio.sleep(0.02)

        tasks = [asyncio.create_task(type_on(c)) for c in (on_a, on_b)]
        await asyncio.sleep(0.4)
        async with httpx.AsyncClient(timeout=30) as http:  # a first worker process: seconds
            reset = await http.post(f"{a.http}/api/rooms/{room}/reset")
            assert reset.status_code == 200 and reset.json()["epoch"] == 1
            for client in (on_a, on_b):

                async def refused(c: NodeClient = client) -> bool:
                    return CloseCode.ROOM_RESET in (await c.status())["closes"]

                await eventually(refused, timeout=5, what=f"{client.name} closed 4410")
            typing = False
            await asyncio.gather(*tasks)
            await on_b.connect()  # the old document, back on node b: refused
            fresh = await driver.client(b.ws, room, name="fresh")
            await fresh.insert(0, "new")

            async def both_new() -> bool:
                texts = [
                    (await http.get(f"{n.http}/api/rooms/{room}/content")).text for n in (a, b)
                ]
                return texts == ["new", "new"]

            await eventually(both_new, what="both nodes serve the new document")
            await asyncio.sleep(0.5)
            assert await both_new()
            assert (await on_b.status())["closes"].count(CloseCode.ROOM_RESET) >= 2
            rows = (await http.get(f"{b.http}/api/rooms/{room}/history")).json()
            assert len(rows) == 1  # only the fresh client's update in the new epoch
            old = (await http.get(f"{b.http}/api/rooms/{room}/epochs/0/content")).text
            assert "old text from b" in old and "old text from a" in old
