"""Webhooks against a live server and a real HTTP receiver started by the test: the
events real y-websocket clients cause, signed; a receiver that fails then recovers; one
that hangs (the server goes on, a second receiver gets everything); a full queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers.clients import eventually
from tests.helpers.receiver import Receiver
from tests.helpers.server import ServerProcess
from tests.interop.node import node_driver
from web.webhooks.config import verify

SECRET = "hook-secret-0123456789"
FAST = "quiet = 0.3\nmax_wait = 1.0\ninterval = 1.0\ntimeout = 1.0\nretry_base = 0.2\n"


def hook_server(tmp: Path, urls: list[str], extra: str = "") -> ServerProcess:
    config = tmp / "hooks.toml"
    config.write_text(f"[webhooks]\n{FAST}{extra}")
    args = [a for url in urls for a in ("--webhook", url)]
    args += ["--webhook-secret", SECRET, "--webhook-config", str(config)]
    return ServerProcess(tmp / "db.sqlite", extra_args=args, log_path=tmp / "server.log")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as hook:
        yield hook


def metric(text: str, outcome: str) -> float:
    line = f'samepage_webhook_deliveries_total{{outcome="{outcome}"}} '
    found = [float(row.split()[-1]) for row in text.splitlines() if row.startswith(line)]
    return found[0] if found else 0.0


async def test_clients_cause_signed_events(tmp_path: Path, receiver: Receiver) -> None:
    with hook_server(tmp_path, [receiver.url]) as server:
        async with node_driver() as driver:
            ana = await driver.client(server.ws, "hooked", name="ana")
            await ana.set_awareness({"user": {"name": "Ana 🦊"}})
            bo = await driver.client(server.ws, "hooked", name="bo")
            await bo.set_awareness({"user": {"name": "Bo"}})
            await eventually(lambda: len(receiver.events("presence.joined")) == 2, what="joins")
            for i in range(10):  # a burst: one report
                await ana.insert(0, "é🙂"[i % 2])
            await eventually(lambda: bool(receiver.events("room.changed")), what="room.changed")
            await asyncio.sleep(0.6)  # past the quiet time: nothing more comes
            await bo.insert(0, "字")
            await eventually(lambda: len(receiver.events("room.changed")) == 2, what="second")
            await bo.close()
            await eventually(lambda: bool(receiver.events("presence.left")), what="left")
            await ana.close()

        [created] = receiver.events("room.created")
        assert created["room"] == "hooked" and created["data"]["seq"] == 1
        first, second = receiver.events("room.changed")
        assert first["data"]["seq"] == 10 and first["data"]["after"] == 0
        assert first["data"]["text_length"] == 10  # code points: 5 × é + 5 × 🙂
        assert first["data"]["authors"] == ["Ana 🦊"]
        assert second["data"] == {
            "seq": 11,
            "after": 10,
            "authors": ["Bo"],
            "text_length": 11,
        }
        joined = {e["data"]["name"] for e in receiver.events("presence.joined")}
        assert joined == {"Ana 🦊", "Bo"}
        assert next(e["data"]["name"] for e in receiver.events("presence.left")) == "Bo"
        for item in receiver.received:
            assert verify(SECRET, item.headers["x-samepage-signature"], item.body)
            assert item.headers["x-samepage-event"] == item.event["type"]
            assert item.headers["x-samepage-delivery"] == item.event["id"]
        assert len({r.event["id"] for r in receiver.received}) == len(receiver.received)
        async with httpx.AsyncClient(base_url=server.http) as http:
            metrics = (await http.get("/metrics")).text
        assert metric(metrics, "delivered") == len(receiver.received)


async def test_a_failing_receiver_gets_it_once_it_recovers(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.fail_next = 3
    with hook_server(tmp_path, [receiver.url]) as server:
        async with httpx.AsyncClient(base_url=server.http) as http:
            fork = await http.post("/api/rooms/src/updates", content=b"\x00\x00")
            assert fork.status_code == 200  # an empty update: no event
            async with node_driver() as driver:
                client = await driver.client(server.ws, "flaky")
                await client.insert(0, "x")
                await eventually(
                    lambda: bool(
                        receiver.events("room.changed") and receiver.events("room.created")
                    ),
                    timeout=15,
                )
                await client.close()
            assert len(receiver.attempts) >= 4
            created = [a for a in receiver.attempts if a.event["type"] == "room.created"]
            assert [a.headers["x-samepage-attempt"] for a in created][-1] != "1"
            assert len(receiver.events("room.created")) == 1
            metrics = (await http.get("/metrics")).text
            assert metric(metrics, "http_error") == 3
            assert metric(metrics, "delivered") >= 2
            view = (await http.get("/api/admin/webhooks")).json()
            assert view["enabled"] and view["urls"] == [receiver.url] and view["dropped"] == 0
            outcomes = [
                (d["type"], d["attempt"], d["outcome"], d["status"]) for d in view["recent"]
            ]
            assert ("room.created", 1, "http_error", 503) in outcomes
            assert any(o[0] == "room.created" and o[2] == "delivered" for o in outcomes)
            page = (await http.get("/admin")).text
            assert 'id="hooks"' in page and "/api/admin/webhooks" in page
            log = (tmp_path / "server.log").read_text()
            assert "failed (HTTP 503)" in log and "retrying in" in log


async def test_a_hanging_receiver_holds_nothing(tmp_path: Path) -> None:
    with Receiver() as hanging, Receiver() as healthy:
        hanging.hang_s = 30
        extra = "attempts = 2\n"
        with hook_server(tmp_path, [hanging.url, healthy.url], extra) as server:
            async with node_driver() as driver:
                client = await driver.client(server.ws, "hang")
                started = time.monotonic()
                for i in range(5):
                    await client.insert(0, str(i))
                    worst = 0.0
                    for _ in range(5):  # the server answers at once meanwhile
                        t0 = time.monotonic()
                        async with httpx.AsyncClient(timeout=2) as http:
                            assert (await http.get(server.http + "/healthz")).status_code == 200
                        worst = max(worst, time.monotonic() - t0)
                    assert worst < 1.0  # a hanging receiver holds one sender, not the loop
                await eventually(
                    lambda: bool(healthy.events("room.changed")), what="healthy gets it"
                )
                assert time.monotonic() - started < 10  # not held by the hanging one's 1 s timeouts
                assert await client.text() == "43210"
                await client.close()
            metrics = ""

            def gave_up() -> bool:
                nonlocal metrics
                metrics = httpx.get(server.http + "/metrics").text
                return metric(metrics, "gave_up") >= 1

            await eventually(gave_up, timeout=15, what="hanging deliveries given up")
            assert metric(metrics, "timeout") >= 2
            assert not hanging.received


async def test_a_full_queue_drops_and_counts(tmp_path: Path) -> None:
    with Receiver() as hanging:
        hanging.hang_s = 30
        with hook_server(tmp_path, [hanging.url], "queue = 2\nsenders = 1\n") as server:
            async with httpx.AsyncClient(base_url=server.http) as http:
                async with node_driver() as driver:
                    clients = [await driver.client(server.ws, f"q{i}") for i in range(4)]
                    for client in clients:
                        await client.insert(0, "x")

                    async def dropped() -> bool:
                        return metric((await http.get("/metrics")).text, "dropped") >= 1

                    await eventually(dropped, what="a drop")
                    for client in clients:
                        await client.close()
                assert (await http.get("/healthz")).status_code == 200
            assert "webhook queue full (2): dropped" in (tmp_path / "server.log").read_text()
