"""Issue #14: compaction by another process at random moments while real clients write
and the server builds checkpoints (every 5 updates), then restarts — on a SQLite file
and on PostgreSQL. `samepage compact` runs as its own process, through the server that
holds the database, then `--direct`, with random `--keep-every` and sometimes
`--older-than`. After each restart the document equals the clients', and every version
reads exactly: a kept one as it was, a folded one as the kept point before it (truth:
tests/durability/audit.py). Seeded (printed; replay with SAMEPAGE_TEST_SEED), bounded
in time.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from pathlib import Path

from tests.durability.audit import Audit
from tests.durability.test_kill import seeded_rng
from tests.helpers.clients import eventually
from tests.helpers.server import ServerProcess, run_cli
from tests.interop.node import NodeClient, node_driver
from tests.interop.peers import PyPeer, live_doc, state_vector, text_of

ROOM = "compact-live"
BUDGET_S = 12.0  # rounds start while there is time left
MAX_ROUNDS = 2


async def test_compaction_at_random_moments_while_clients_write_and_the_server_restarts(
    database: str, tmp_path: Path
) -> None:
    rng = seeded_rng("compaction-live")
    audit = Audit(database)
    await audit.install()
    server = ServerProcess(
        database, extra_args=["--checkpoint-every", "5"], log_path=tmp_path / "server.log"
    )
    server.start()
    started = time.monotonic()
    compactions: list[str] = []
    folded_total = 0
    try:
        async with node_driver() as driver:
            node = await driver.client(server.ws, ROOM, name="node")
            peer = PyPeer(server.ws, ROOM, "py")
            await peer.connect()
            for round_ in itertools.count():
                if round_ >= MAX_ROUNDS or time.monotonic() - started > BUDGET_S:
                    break
                # The first round surely folds something (so the checks read folded
                # versions); the others draw from everything.
                keep = rng.choice([3, 10] if round_ == 0 else [1, 3, 10, 40])
                flags = ["--keep-every", str(keep)]
                if round_ > 0 and rng.random() < 0.4:
                    flags += ["--older-than", f"{rng.choice([0.3, 1, 2])}s"]
                if round_ % 2:
                    flags.append("--direct")  # else through the server holding it
                compactions.append(" ".join(flags))

                async def compact_later(delay: float, flags: list[str] = flags) -> None:
                    await asyncio.sleep(delay)
                    done = await asyncio.to_thread(
                        run_cli, "compact", "--db", database, "--room", ROOM, *flags
                    )
                    assert done.returncode == 0, done.stderr

                compaction = asyncio.ensure_future(compact_later(0.5 + rng.random() * 0.5))
                await asyncio.gather(write_py(peer, rng, 25), write_node(node, rng, 25), compaction)
                await node.wait_synced()

                async def stored_all() -> bool:  # the text too: deletes keep the vector
                    live = await live_doc(server.http, ROOM)
                    mine = (state_vector(peer.doc), text_of(peer.doc))
                    return (state_vector(live), text_of(live)) == mine and (
                        await node.state_vector() == mine[0] and await node.text() == mine[1]
                    )

                await eventually(stored_all, 20, "every edit stored")
                expected = text_of(peer.doc)
                await peer.disconnect()
                await asyncio.to_thread(server.restart)
                loaded = await live_doc(server.http, ROOM)  # the room as stored
                assert text_of(loaded) == expected, f"round {round_}: {compactions}"
                assert state_vector(loaded) == state_vector(peer.doc)
                folded_total += await audit.check_versions(server, ROOM, rng)
                await peer.connect()
            print(f"compaction-live: rounds {compactions}, {folded_total} versions folded")
            await peer.disconnect()
    finally:
        server.stop()
    assert folded_total > 0  # the compactions did fold versions the checks then read


async def write_py(peer: PyPeer, rng: random.Random, count: int) -> None:
    for n in range(count):
        if rng.random() < 0.25:
            peer.delete_at(rng.random(), rng.randint(1, 3))
        else:
            peer.insert_at(rng.random(), f"<p{n}>")
        await asyncio.sleep(rng.random() * 0.03)


async def write_node(node: NodeClient, rng: random.Random, count: int) -> None:
    for n in range(count):
        if rng.random() < 0.25:
            await node.delete_at(rng.random(), rng.randint(1, 3))
        else:
            # ASCII only: pycrdt's Text counts UTF-8 bytes, so the Python writer's random
            # index could split a character (issue #13; not this test's subject)
            await node.insert_at(rng.random(), f"<n{n}>")
        await asyncio.sleep(rng.random() * 0.03)
