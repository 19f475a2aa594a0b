"""Two nodes over PostgreSQL and Redis, one webhook receiver: every event once, though
clients of the room edit on both nodes and both see every change."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from tests.cluster.conftest import room_name, start_all
from tests.helpers.clients import eventually
from tests.helpers.receiver import Receiver
from tests.helpers.server import ServerProcess
from tests.interop.node import node_driver


async def test_each_event_is_delivered_once(
    tmp_path: Path, shared_redis: str, make_nodes: Callable[[int, str], list[ServerProcess]]
) -> None:
    config = tmp_path / "hooks.toml"
    config.write_text("[webhooks]\nquiet = 0.3\nmax_wait = 1.0\ninterval = 1.0\n")
    room = room_name("hooks")
    with Receiver() as receiver:
        nodes = make_nodes(2, shared_redis)
        for node in nodes:
            node.extra_args += ["--webhook", receiver.url, "--webhook-config", str(config)]
        await start_all(nodes)
        async with node_driver() as driver:
            ana = await driver.client(nodes[0].ws, room, name="ana")
            await ana.set_awareness({"user": {"name": "Ana"}})
            bo = await driver.client(nodes[1].ws, room, name="bo")
            await bo.set_awareness({"user": {"name": "Bo"}})
            for i in range(6):  # both nodes commit, both see every change
                await ana.insert(0, "a")
                await bo.insert(0, "b")
                await asyncio.sleep(0.25 * (i % 3))
            await eventually(lambda: len(receiver.events("presence.joined", room)) == 2)

            def reported_all() -> bool:
                changed = receiver.events("room.changed", room)
                return bool(changed) and changed[-1]["data"]["seq"] == 12

            await eventually(reported_all, timeout=15, what="the last change reported")
            await asyncio.sleep(1.5)  # anything duplicated would have come by now
            await ana.close()
            await bo.close()
            await eventually(lambda: len(receiver.events("presence.left", room)) == 2)

        assert len(receiver.events("room.created", room)) == 1
        changed = receiver.events("room.changed", room)
        seqs = [e["data"]["seq"] for e in changed]
        afters = [e["data"]["after"] for e in changed]
        assert seqs == sorted(set(seqs)), seqs  # no seq reported twice
        assert afters == [0, *seqs[:-1]], (seqs, afters)  # each picks up where one ended
        authors = set().union(*(e["data"]["authors"] for e in changed))
        assert authors == {"Ana", "Bo"}
        joined = sorted(e["data"]["name"] for e in receiver.events("presence.joined", room))
        assert joined == ["Ana", "Bo"]
        assert {e["node"].split(".")[0] for e in receiver.events("presence.joined", room)} == {
            n.extra_args[n.extra_args.index("--node-id") + 1] for n in nodes
        }
