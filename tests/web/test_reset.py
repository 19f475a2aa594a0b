"""Reset and delete that stick (docs/rooms.md), against a live server with real
y-websocket clients: the close code they see, the epoch handshake, a client holding
the old document refused instead of merged, the old history readable as an epoch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sync import protocol
from sync.errors import CloseCode
from tests.helpers.clients import eventually, raw_client
from tests.helpers.receiver import Receiver
from tests.helpers.server import TEST_SECRET, ServerProcess, module_server, run_cli
from tests.interop.node import NodeClient, node_driver
from web.auth import issue_token

OLD = "secret plan ✂️ — naïve 👩🏽‍💻 שלום"


@pytest.fixture(scope="module")
def rserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the tests that only use rooms of their own."""
    yield from module_server(tmp_path_factory.mktemp("reset"))


async def closes(client: NodeClient) -> list[int]:
    codes: list[int] = (await client.status())["closes"]
    return codes


async def test_reset_closes_clients_and_the_old_document_never_comes_back(
    tmp_path: Path,
) -> None:
    with (
        Receiver() as hook,
        ServerProcess(
            tmp_path / "db.sqlite",
            extra_args=["--webhook", hook.url],
            log_path=tmp_path / "server.log",
        ) as server,
    ):
        async with (
            httpx.AsyncClient(base_url=server.http, timeout=30) as http,
            node_driver() as driver,
        ):
            ana = await driver.client(server.ws, "plan", name="ana")
            await ana.insert(0, OLD)

            async def stored() -> bool:
                rows = (await http.get("/api/rooms/plan/history")).json()
                return bool(rows) and (await http.get("/api/rooms/plan/content")).text == OLD

            await eventually(stored, what="the text stored")
            head = (await http.get("/api/rooms/plan")).json()["seq"]

            reset = await http.post("/api/rooms/plan/reset", json={})
            assert reset.status_code == 200, reset.text
            body = reset.json()
            assert body["epoch"] == 1 and body["previous"] == {
                "epoch": 0,
                "last_seq": head,
                "kept": True,
            }

            async def closed_4410() -> bool:
                return CloseCode.ROOM_RESET in await closes(ana)

            await eventually(closed_4410, what="ana closed 4410")
            status = await ana.status()
            assert status["reasons"][-1] == "room reset: epoch 1"
            assert not status["shouldConnect"] or not status["connected"]
            assert (await http.get("/api/rooms/plan/content")).text == ""
            info = (await http.get("/api/rooms/plan")).json()
            assert info["epoch"] == 1 and info["seq"] == head + 1
            # The old epoch's seqs are not versions of this one: a clear 404, not an
            # empty document (they are read from /epochs/0).
            for refused in (
                await http.get(f"/api/rooms/plan/content?at={head}"),
                await http.get(f"/api/rooms/plan/diff?from=1&to={head + 1}"),
                await http.post("/api/rooms/plan/restore", json={"seq": head}),
            ):
                assert refused.status_code == 404, refused.text
                assert refused.json()["error"] == "earlier_epoch"
            assert (await http.get(f"/api/rooms/plan/content?at={head + 1}")).text == ""
            # The old document posted over HTTP: refused too.
            old_doc = await ana.update()
            posted = await http.post("/api/rooms/plan/updates", content=old_doc)
            assert posted.status_code == 409 and posted.json()["error"] == "stale_document"
            assert (await http.get("/api/rooms/plan/content")).text == ""

            # The plain y-websocket client still holds the old document: connecting
            # again, it is refused (4410), not merged.
            await ana.connect()

            async def refused_again() -> bool:
                return (await closes(ana)).count(CloseCode.ROOM_RESET) >= 2

            await eventually(refused_again, what="the old document refused")
            assert (await http.get("/api/rooms/plan/content")).text == ""
            assert (await http.get("/api/rooms/plan/history")).json() == []

            # A fresh client works in the new epoch; ana's old text is nowhere.
            bo = await driver.client(server.ws, "plan", name="bo")
            await bo.insert(0, "new start")

            async def new_text() -> bool:
                return (await http.get("/api/rooms/plan/content")).text == "new start"

            await eventually(new_text, what="the new epoch's text")
            assert await bo.text() == "new start"
            await bo.close()
            await ana.close()

            # The old history is readable as epoch 0.
            epochs = (await http.get("/api/rooms/plan/epochs")).json()
            assert [(e["epoch"], e["ended_by"], e["kept"]) for e in epochs] == [
                (0, "reset", True),
                (1, None, False),
            ]
            old = await http.get(f"/api/rooms/plan/epochs/0/content?at={head}")
            assert old.text == OLD and old.headers["x-samepage-epoch"] == "0"
            rows = (await http.get("/api/rooms/plan/epochs/0/history")).json()
            assert rows[0]["seq"] == head
            assert (await http.get("/api/rooms/plan/epochs/1/content")).status_code == 404
            assert (await http.get("/api/rooms/plan/epochs/7/content")).status_code == 404
        await eventually(lambda: bool(hook.events("room.reset")), what="the webhook")
        [event] = hook.events("room.reset")
        assert event["room"] == "plan" and event["data"] == {"epoch": 1, "seq": head, "kept": True}


async def test_the_epoch_handshake(rserver: ServerProcess) -> None:
    server = rserver
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
        await http.post("/api/rooms/hs/updates", content=b"\x00\x00")
        async with raw_client(server.ws, "hs?epoch=") as fresh:  # no copy yet: told the epoch
            await eventually(lambda: bool(fresh.of_type(protocol.EpochMessage)))
            assert fresh.of_type(protocol.EpochMessage)[0].epoch == 0
        assert (await http.post("/api/rooms/hs/reset", json={"keep_history": False})).is_success
        async with raw_client(server.ws, "hs?epoch=0") as stale:
            assert await stale.closed() == CloseCode.ROOM_RESET
            assert not stale.of_type(protocol.SyncStep1)  # refused before anything
        async with raw_client(server.ws, "hs?epoch=1") as current:
            await eventually(lambda: bool(current.of_type(protocol.SyncStep1)))
            assert current.of_type(protocol.EpochMessage)[0].epoch == 1
        async with raw_client(server.ws, "hs") as plain:  # old clients: no epoch message
            await eventually(lambda: bool(plain.of_type(protocol.SyncStep1)))
            assert not plain.of_type(protocol.EpochMessage)
        epochs = (await http.get("/api/rooms/hs/epochs")).json()
        assert epochs[0]["kept"] is False


async def test_delete_removes_the_room_and_its_history(rserver: ServerProcess) -> None:
    server = rserver
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as http, node_driver() as driver:
        client = await driver.client(server.ws, "gone")
        await client.insert(0, OLD)

        async def stored() -> bool:
            return (await http.get("/api/rooms/gone/content")).text == OLD

        await eventually(stored)
        await http.post("/api/rooms/gone/reset")  # an earlier kept epoch goes too
        await client.close()
        again = await driver.client(server.ws, "gone")
        await again.insert(0, "second life")
        await eventually(lambda: _text(http, "gone", "second life"))
        deleted = await http.delete("/api/rooms/gone")
        assert deleted.status_code == 200 and deleted.json()["deleted"] is True
        assert deleted.json()["epoch"] == 2

        async def closed() -> bool:
            return CloseCode.ROOM_RESET in (await again.status())["closes"]

        await eventually(closed)
        await again.close()
        assert "gone" not in [r["name"] for r in (await http.get("/api/rooms")).json()]
        assert (await http.get("/api/rooms/gone/content")).text == ""
        assert (await http.get("/api/rooms/gone/history")).json() == []
        epochs = (await http.get("/api/rooms/gone/epochs")).json()
        assert [(e["ended_by"], e["kept"]) for e in epochs] == [
            ("reset", False),
            ("delete", False),
            (None, False),
        ]
        assert (await http.get("/api/rooms/gone/epochs/0/content")).status_code == 404
        # The name can be used again: a new, empty document.
        fresh = await driver.client(server.ws, "gone")
        await fresh.insert(0, "third")
        await eventually(lambda: _text(http, "gone", "third"))

        async def listed() -> bool:  # once its first update of the new life is stored
            return "gone" in [r["name"] for r in (await http.get("/api/rooms")).json()]

        await eventually(listed)
        await fresh.close()


async def _text(http: httpx.AsyncClient, room: str, want: str) -> bool:
    return (await http.get(f"/api/rooms/{room}/content")).text == want


async def test_only_admins_reset_or_delete(secure_server: ServerProcess) -> None:
    user = issue_token(TEST_SECRET, "*", user="ana")
    admin = issue_token(TEST_SECRET, "*", user="root", admin=True)
    async with httpx.AsyncClient(base_url=secure_server.http) as http:
        assert (await http.post("/api/rooms/x/reset")).status_code == 401
        headers = {"Authorization": f"Bearer {user}"}
        assert (await http.post("/api/rooms/x/reset", headers=headers)).status_code == 403
        assert (await http.delete("/api/rooms/x", headers=headers)).status_code == 403
        headers = {"Authorization": f"Bearer {admin}"}
        assert (await http.post("/api/rooms/x/reset", headers=headers)).status_code == 200
        bad = await http.post("/api/rooms/x/reset", headers=headers, json={"keep_history": 1})
        assert bad.status_code == 400
        assert (await http.delete("/api/rooms/..", headers=headers)).status_code in (400, 404)


@pytest.mark.parametrize("ws", ["native", "websockets-sansio"])
async def test_reset_while_clients_type(tmp_path: Path, ws: str) -> None:
    """Two y-websocket clients type without pause while the room is reset: none of
    the old document's text reaches the new one, every client is closed 4410, and the
    server stays responsive."""
    with ServerProcess(tmp_path / "db.sqlite", extra_args=["--ws", ws]) as server:
        async with (
            httpx.AsyncClient(base_url=server.http, timeout=30) as http,
            node_driver() as driver,
        ):
            clients = [await driver.client(server.ws, "busy", name=f"c{i}") for i in range(2)]
            typing = True

            async def type_on(client: NodeClient) -> None:
                while typing:
                    await client.type(5, "o")
                    await asyncio.sleep(0.01)

            tasks = [asyncio.create_task(type_on(c)) for c in clients]
            await asyncio.sleep(0.5)
            assert (await http.post("/api/rooms/busy/reset")).status_code == 200
            for client in clients:

                async def refused(c: NodeClient = client) -> bool:
                    return CloseCode.ROOM_RESET in (await c.status())["closes"]

                await eventually(refused)
            await asyncio.sleep(0.3)
            typing = False
            await asyncio.gather(*tasks)
            for client in clients:
                await client.connect()  # the old document again: refused, not merged
            await asyncio.sleep(0.5)
            assert (await http.get("/api/rooms/busy/content")).text == ""
            assert (await http.get("/api/rooms/busy/history")).json() == []
            assert (await http.get("/healthz")).status_code == 200


async def test_cli_reset_and_delete_through_the_server_and_directly(
    tmp_path: Path, server: ServerProcess
) -> None:
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as http, node_driver() as driver:
        client = await driver.client(server.ws, "cli-room")
        await client.insert(0, "to be reset")
        await eventually(lambda: _text(http, "cli-room", "to be reset"))

        async def committed() -> bool:  # the content route reads the live document
            return bool((await http.get("/api/rooms/cli-room/history")).json())

        await eventually(committed)
        done = await asyncio.to_thread(run_cli, "reset", "cli-room", "--db", server.db)
        assert done.returncode == 0, done.stderr
        assert "reset: epoch 1 starts empty" in done.stderr

        async def closed() -> bool:
            return CloseCode.ROOM_RESET in (await client.status())["closes"]

        await eventually(closed, what="the live client closed by the CLI's reset")
        assert (await http.get("/api/rooms/cli-room/content")).text == ""
        old = await http.get("/api/rooms/cli-room/epochs/0/content")
        assert old.text == "to be reset"
        done = await asyncio.to_thread(run_cli, "delete", "cli-room", "--db", server.db)
        assert done.returncode == 0 and "deleted" in done.stderr, done.stderr
        assert (await http.get("/api/rooms/cli-room/epochs/0/content")).status_code == 404
        await client.close()
    server.stop()
    done = await asyncio.to_thread(run_cli, "reset", "cli-room", "--db", server.db)
    assert done.returncode == 0 and "epoch 3" in done.stderr, done.stderr
