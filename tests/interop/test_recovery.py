"""Real y-websocket clients recover from the server's protective closes by themselves:
the server may slow a client down or drop it, but its edits must reach the room, and the
room's edits must reach it, without anyone reloading the page. (y-websocket 3.x never
reconnects after a close code in 4400-4499.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.clients import eventually
from tests.helpers.server import ServerProcess
from tests.interop.node import node_driver
from tests.interop.peers import live_doc, text_of
from tests.interop.proxy import StallingProxy

BURST = 2000  # over the default burst of 1000 messages, ~3.3 s of throttling at 300/s


async def test_a_burst_of_small_updates_from_y_websocket_arrives(server: ServerProcess) -> None:
    room = "interop-burst"
    async with node_driver() as driver:
        bot = await driver.client(server.ws, room)
        assert await bot.type(BURST) == BURST

        async def all_arrived() -> bool:
            status = await bot.status()
            stored = len(text_of(await live_doc(server.http, room)))
            assert status["shouldConnect"], (
                f"y-websocket gave up (close codes {status['closes']}) with {stored} of "
                f"{BURST} characters in the room"
            )
            return stored == BURST

        await eventually(all_arrived, 20, f"{BURST} one-character updates reach the room")


@pytest.fixture
def small_queue_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose outbound queue holds 20 frames (a stalled client overflows it soon)."""
    proc = ServerProcess(
        tmp_path / "samepage.db",
        extra_args=["--outbound-queue-frames", "20"],
        log_path=tmp_path / "server.log",
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_a_stalled_y_websocket_client_resyncs_after_a_slow_consumer_close(
    small_queue_server: ServerProcess,
) -> None:
    server, room = small_queue_server, "interop-stalled"
    proxy = StallingProxy(server.port)
    await proxy.start()
    try:
        async with node_driver() as driver:
            writer = await driver.client(server.ws, room)
            stalled = await driver.client(proxy.ws, room)
            proxy.stall()
            async with httpx.AsyncClient(base_url=server.http) as http:
                # 120 frames of 100 kB, one commit each (not merged into a few big
                # frames): the socket buffers take ~4 MB, then the 20-frame queue overflows
                for n in range(120):
                    await writer.insert(10**9, f"{n:05d}" * 20_000)

                    async def committed(seq: int = n + 1) -> bool:
                        info = (await http.get(f"/api/rooms/{room}")).json()
                        return int(info["seq"]) >= seq

                    await eventually(committed, 10, f"update {n} committed")
            await eventually(
                lambda: "closing slow consumer" in server.log_tail(200),
                20,
                "the server drops the stalled client as a slow consumer",
            )
            proxy.resume()
            want = await writer.text()

            async def caught_up() -> bool:
                status = await stalled.status()
                assert status["shouldConnect"], (
                    f"y-websocket gave up after close codes {status['closes']}; "
                    f"it has {len(await stalled.text())} of {len(want)} characters"
                )
                return await stalled.text() == want

            await eventually(caught_up, 20, "the stalled client resyncs after the close")
    finally:
        await proxy.aclose()
