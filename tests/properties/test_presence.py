"""Hypothesis: real y-websocket clients join, leave, drop and come back, and change their
presence at random. At the end every connected client sees exactly the presence of the
connected clients, each at its latest state: no ghost of a client that left, no state
wiped by someone else's leaving, no stale state.

Replay: a failure notes the seed (SAMEPAGE_TEST_SEED) and the steps, plus a blob.
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

SLOTS = 5  # client slots; a slot holds at most one live client at a time
# Drops and reconnects are part of the property since FINDINGS #4 was fixed
# (SAMEPAGE_PRESENCE_RECONNECTS=0 turns them off).
RECONNECTS = os.environ.get("SAMEPAGE_PRESENCE_RECONNECTS", "1") == "1"
VISIBLE_WITHIN_S = 5.0
slot = st.integers(0, SLOTS - 1)
ops = ["join", "join", "leave", "state", "state"] + (["drop", "back"] if RECONNECTS else [])
step = st.tuples(st.sampled_from(ops), slot)
rooms = itertools.count(1)
SEED = int(os.environ.get("SAMEPAGE_TEST_SEED", random.randrange(2**32)))


@pytest.fixture(scope="module")
def presence_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for every example (each example uses its own room)."""
    tmp: Path = tmp_path_factory.mktemp("presence")
    proc = ServerProcess(tmp / "samepage.db", log_path=tmp / "server.log")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def scenario(server: ServerProcess, steps: list[tuple[str, int]]) -> None:
    room = f"presence-{next(rooms)}"
    driver = NodeDriver(node_or_skip())
    await driver.start()
    live: dict[int, NodeClient] = {}
    states: dict[int, dict[str, Any]] = {}  # slot -> its latest state
    dropped: set[int] = set()
    counter = itertools.count()
    try:
        for kind, index in steps:
            client = live.get(index)
            if kind == "join" and client is None:
                live[index] = await driver.client(server.ws, room, name=f"{room}-{next(counter)}")
                states.pop(index, None)
            elif kind == "leave" and client is not None:
                await client.close()
                del live[index]
                states.pop(index, None)
                dropped.discard(index)
            elif kind == "state" and client is not None:
                state = {"user": {"name": f"u{index}", "color": "#aa0000"}, "n": next(counter)}
                await client.set_awareness(state)
                states[index] = state
            elif kind == "drop" and client is not None:
                await client.disconnect()
                dropped.add(index)
            elif kind == "back" and client is not None and index in dropped:
                await client.connect()
                dropped.discard(index)
        for index in dropped:
            await live[index].connect()
        for client in live.values():
            await client.wait_synced(15)
        want = {live[i].client_id: s for i, s in states.items()}
        silent = {c.client_id for i, c in live.items() if i not in states}

        def right(client: NodeClient, view: dict[int, Any]) -> bool:
            # y-protocols starts every client at {} with clock 0, which a peer need not
            # apply (a clock must exceed what it knows, 0 for a stranger): a client that
            # set nothing may show as {} or not at all; everyone else exactly, no ghosts
            shown = {cid: s for cid, s in view.items() if cid not in silent}
            silent_ok = all(view.get(cid, {}) == {} for cid in silent)
            own = view.get(client.client_id) == states.get(_slot_of(live, client), {})
            return shown == want and silent_ok and own

        async def everyone_sees_exactly_the_live_states() -> bool:
            views = [(c, await c.awareness()) for c in live.values()]
            return all(right(c, view) for c, view in views)

        await eventually(
            everyone_sees_exactly_the_live_states, VISIBLE_WITHIN_S, f"presence == {want}"
        )
    finally:
        await driver.aclose()


def _slot_of(live: dict[int, NodeClient], client: NodeClient) -> int:
    return next(i for i, c in live.items() if c is client)


@settings(
    max_examples=int(os.environ.get("SAMEPAGE_PROPERTY_EXAMPLES", "10")),
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@seed(SEED)
@given(steps=st.lists(step, min_size=3, max_size=30))
def test_presence_matches_the_live_clients(
    presence_server: ServerProcess, steps: list[tuple[str, int]]
) -> None:
    note(f"seed {SEED} (SAMEPAGE_TEST_SEED={SEED}); steps: {steps}")
    node_or_skip()
    asyncio.run(scenario(presence_server, steps))
