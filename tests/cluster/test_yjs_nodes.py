"""Real npm `yjs` + `y-websocket` clients (tests/interop's Node driver) spread over three
nodes, with pycrdt clients: they converge, each edit is stored once, and awareness
(typing included) set by a Yjs client on one node reaches Yjs clients on the others."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter

from pycrdt import Text

from tests.cluster.conftest import content, room_name, seeded_rng, start_all, stored_updates
from tests.cluster.test_nodes import Nodes
from tests.helpers.clients import eventually, yclient
from tests.interop.node import node_driver


async def test_yjs_clients_on_three_nodes_converge_and_see_each_others_presence(
    make_nodes: Nodes, shared_redis: str, pg_url: str
) -> None:
    nodes = make_nodes(3, shared_redis)
    await start_all(nodes)
    room, rng = room_name("yjs"), seeded_rng()
    async with node_driver() as driver, contextlib.AsyncExitStack() as stack:
        yjs = [await driver.client(nodes[i % 3].ws, room) for i in range(4)]
        pys = [await stack.enter_async_context(yclient(nodes[i].ws, room)) for i in (1, 2)]
        inserted: list[str] = []

        async def yjs_writer(index: int) -> None:
            for n in range(15):
                word = f"<y{index}.{n}>"
                inserted.append(word)
                await yjs[index].insert_at(rng.random(), word)
                await asyncio.sleep(rng.random() * 0.01)

        async def py_writer(index: int) -> None:
            text = pys[index].get("content", type=Text)
            for n in range(15):
                word = f"<p{index}.{n}>"
                inserted.append(word)
                text.insert(rng.randrange(len(text) + 1), word)
                await asyncio.sleep(rng.random() * 0.01)

        await asyncio.gather(*(yjs_writer(i) for i in range(4)), *(py_writer(i) for i in (0, 1)))
        want = Counter("".join(inserted))  # inserts may land inside each other: count chars

        async def converged() -> bool:
            texts = [await c.text() for c in yjs] + [content(d) for d in pys]
            return all(t == texts[0] for t in texts) and Counter(texts[0]) == want

        await eventually(converged, 10, "Yjs and pycrdt clients on three nodes converge")
        rows = await stored_updates(pg_url, room)
        assert len(rows) == len(inserted) and len(set(rows)) == len(rows)

        # Presence: a Yjs client on node 0 types; Yjs clients on nodes 1 and 2 see it.
        ann, watchers = yjs[0], [yjs[1], yjs[2]]
        await ann.set_awareness({"user": {"name": "ann", "color": "#aa0000"}, "typing": True})

        async def typing_seen() -> bool:
            for watcher in watchers:
                state = (await watcher.awareness()).get(ann.client_id)
                if not state or state.get("typing") is not True:
                    return False
            return True

        await eventually(typing_seen, 5, "typing relayed across nodes")
        await ann.set_awareness({"user": {"name": "ann", "color": "#aa0000"}, "typing": False})

        async def stopped_typing() -> bool:
            states = [(await w.awareness()).get(ann.client_id) or {} for w in watchers]
            return all(s.get("typing") is False for s in states)

        await eventually(stopped_typing, 5, "typing stop relayed")
        await ann.close()

        async def ann_gone() -> bool:
            seen = [await w.awareness() for w in watchers]
            return all(ann.client_id not in states for states in seen)

        await eventually(ann_gone, 5, "ann's presence removed on the other nodes")
        for client in yjs[1:]:
            await client.close()
