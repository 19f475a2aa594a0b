"""Huge single updates (issue #13 items 3 and 7): a million tiny array items arriving as
four 3 MB WebSocket frames from a real y-websocket client are applied off the event loop
(`Room.apply_update_soon`; the frames are collected as chunks, not re-buffered), while a
y-websocket client types in another room and a pycrdt client joins the busy room. Every
item arrives, the joiner gets the whole document, the other room keeps converging, and
the event loop never stalls over 250 ms: the updates go into Yrs in pieces
(storage/ysplit.py), as pycrdt holds the GIL while it decodes one. The other room's
latency is printed, not asserted: it waits for group commits that write 3 MB rows, on a
machine whose two cores also run the Node clients and the joiner (tests/FINDINGS.md 7).

Run alone: `pytest -m no_freeze -s tests/web/test_big_updates.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pycrdt import Array

from tests.helpers.clients import eventually, yclient
from tests.helpers.server import ServerProcess, module_server
from tests.interop.node import DOCGEN, NodeDriver, node_driver
from tests.web.test_no_freeze import loop_stalls

pytestmark = [pytest.mark.no_freeze, pytest.mark.timeout(300)]

ITEMS = 1_000_000  # docgen's `million`: four updates of 250,000 one-number items


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory.mktemp("big-updates"))


async def _typed(probe: NodeDriver) -> bool:
    return len((await probe.call("latencies"))["latencies"]) >= 5


async def _joiner_sees_everything(server: ServerProcess, room: str) -> int:
    """A pycrdt client joins the room while it is busy and syncs the whole document."""
    async with yclient(server.ws, room) as doc:
        items = doc.get("items", type=Array)

        def complete() -> bool:
            return len(items) == ITEMS

        await eventually(complete, timeout=120, what=f"{ITEMS} items in the joiner's doc")
        return len(items)


async def test_a_million_items_in_four_updates_keep_another_room_responsive(
    server: ServerProcess,
) -> None:
    async with (
        httpx.AsyncClient(base_url=server.http) as http,
        node_driver(DOCGEN) as probe,
        node_driver(DOCGEN) as sender,
    ):
        await sender.call("prepare", kind="million", reply_within=120)
        before = (await http.get("/metrics")).text
        log_start = len(server.log_tail(10**9).splitlines())
        await probe.call("typing", url=server.ws, room="quiet", intervalMs=20)
        await eventually(lambda: _typed(probe), timeout=10, what="the probe's round trips")
        started = time.monotonic()
        made: dict[str, Any] = {}
        for via, room in (("ws", "huge-ws"), ("post", "huge-post")):
            ws = server.ws if via == "ws" else None
            sending = sender.call(
                "nasty", kind="million", url=server.http, room=room, ws=ws, reply_within=120
            )
            joining = asyncio.ensure_future(_joiner_sees_everything(server, room))
            made[via] = await sending
            assert await asyncio.wait_for(joining, 150) == ITEMS, f"joiner of {room}"
        elapsed = time.monotonic() - started
        await probe.call("latencies", stop=True)

        async def drained() -> bool:
            return bool((await probe.call("latencies"))["pending"] == 0)

        await eventually(drained, timeout=10, what="every mark reaching the other client")
        latencies = sorted(ms for _sent, ms in (await probe.call("latencies"))["latencies"])
        for via, room in (("ws", "huge-ws"),):
            info = (await http.get(f"/api/rooms/{room}")).json()
            assert info["seq"] == len(made[via]["sizes"]), f"{room}: {info}"
            text = await http.get(f"/api/rooms/{room}/content", params={"format": "text"})
            assert text.text == made[via]["text"], f"{room}: the text beside the items"
        after = (await http.get("/metrics")).text
    stalls, over = loop_stalls(server, log_start, before, after)
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    print(
        f"\nbig updates: {elapsed:.1f} s for {ITEMS} items; other room: {len(latencies)} "
        f"round trips, p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms; "
        f"{over:.0f} lag observations over 250 ms\n" + "\n".join(stalls)
    )
    assert len(latencies) >= 10, "the other room kept converging meanwhile"
    assert over == 0, f"event-loop stalls over 250 ms: {stalls}"
