"""Access changes across two nodes (PostgreSQL + Redis, docs/security.md): a grant
lowered on one node makes the next write of a connection on the other 4403; a token
revoked on one node closes its socket on the other within a second (the Redis bus), and
is refused there on connect and on the HTTP API; one no bus message carried is applied
from the database within seconds; the cluster view lists every node's rooms."""

from __future__ import annotations

import time
from collections.abc import Callable

import asyncpg
import httpx
from playwright.async_api import Browser, expect

from tests.browser.conftest import browser
from tests.cluster.conftest import room_name, start_all
from tests.helpers.clients import eventually
from tests.helpers.server import TEST_SECRET, ServerProcess
from tests.interop.node import node_driver
from tests.interop.test_access import closed_with
from tests.interop.test_revocation import ADMIN, jti_of

Nodes = Callable[[int, str], list[ServerProcess]]
__all__ = ["browser"]  # the Chromium fixture


def node_name(server: ServerProcess) -> str:
    return server.extra_args[server.extra_args.index("--node-id") + 1]


def secured(nodes: list[ServerProcess]) -> list[ServerProcess]:
    for node in nodes:
        node.extra_args += ["--secret", TEST_SECRET]
    return nodes


async def test_a_downgrade_and_a_revocation_on_one_node_act_on_the_other(
    make_nodes: Nodes, shared_redis: str, pg_url: str
) -> None:
    from web.auth import issue_token

    a, b = secured(make_nodes(2, shared_redis))
    await start_all([a, b])
    room = room_name("revoked")
    token = issue_token(TEST_SECRET, room, user="trudy")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with node_driver() as driver:
        on_b = await driver.client(b.ws, room, name="on-b", params={"token": token})
        victor = issue_token(TEST_SECRET, room, user="victor")
        lowered = await driver.client(b.ws, room, name="lowered", params={"token": victor})
        async with httpx.AsyncClient(base_url=a.http) as http:
            response = await http.post(
                "/api/admin/grants",
                json={"user": "victor", "room": room, "perm": "read"},
                headers=admin,
            )
        assert response.status_code == 200, response.text

        async def b_knows() -> bool:  # node B applied the grant (its admin view says so)
            async with httpx.AsyncClient(base_url=b.http) as http:
                grants = (await http.get("/api/admin/access", headers=admin)).json()["grants"]
            return [(g["user"], g["perm"]) for g in grants] == [("victor", "read")]

        await eventually(b_knows, 5, "node B heard of the grant")
        await lowered.insert(0, "victor writes")
        status = await closed_with(lowered, 4403)
        assert status["closes"] == [4403], status

        await on_b.insert(0, "written on b")
        asked = time.time()
        async with httpx.AsyncClient(base_url=a.http) as http:
            response = await http.post(
                "/api/admin/revoke",
                json={"jti": jti_of(token)},
                headers=admin,
            )
        assert response.status_code == 200, response.text
        status = await closed_with(on_b, 4401)
        lag = status["closeTimes"][0] / 1000 - asked  # type: ignore[index]
        print(f"closed on the other node {lag * 1000:.0f} ms after the request")
        assert lag < 1.0 and status["reasons"] == ["token revoked"], status

        again = await driver.client(b.ws, room, name="again", synced=False, params={"token": token})
        assert (await closed_with(again, 4401))["shouldConnect"] is False
        async with httpx.AsyncClient(base_url=b.http) as http:
            response = await http.get(
                f"/api/rooms/{room}/content", headers={"Authorization": f"Bearer {token}"}
            )
        assert response.status_code == 401

        # A revocation no bus message carries (stored by another node while this one's
        # bus was away: here, written straight to the database) reaches node B's
        # sockets by its periodic reload (every 2 s).
        quiet = issue_token(TEST_SECRET, room, user="quiet")
        unheard = await driver.client(b.ws, room, name="unheard", params={"token": quiet})
        now = time.time()
        conn = await asyncpg.connect(pg_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(
                "INSERT INTO revocations (kind, value, revoked_us, until_us, by)"
                " VALUES ('user', 'quiet', $1, $2, 'test')",
                int(now * 1e6),
                int((now + 3600) * 1e6),
            )
        finally:
            await conn.close()
        status = await closed_with(unheard, 4401)
        lag = status["closeTimes"][0] / 1000 - now  # type: ignore[index]
        print(f"closed by the database reload {lag * 1000:.0f} ms after the insert")
        assert lag < 4.0, lag


async def test_the_cluster_view_shows_every_node_and_the_rooms_it_holds(
    make_nodes: Nodes, shared_redis: str, browser: Browser
) -> None:
    from web.auth import issue_token

    a, b = secured(make_nodes(2, shared_redis))
    await start_all([a, b])
    on_a, on_b = room_name("held-a"), room_name("held-b")
    admin = {"Authorization": f"Bearer {ADMIN}"}
    async with node_driver() as driver:
        for server, room, count in ((a, on_a, 1), (b, on_b, 2)):
            for i in range(count):
                token = issue_token(TEST_SECRET, room, user=f"u{i}")
                await driver.client(server.ws, room, params={"token": token})

        async def both_nodes() -> bool:
            async with httpx.AsyncClient(base_url=a.http) as http:
                nodes = (await http.get("/api/admin/cluster", headers=admin)).json()["nodes"]
            held = {n["node"]: {r["name"]: r["connections"] for r in n["rooms"]} for n in nodes}
            return held == {node_name(a): {on_a: 1}, node_name(b): {on_b: 2}}

        await eventually(both_nodes, 10, "node A's view lists both nodes and their rooms")
        page = await browser.new_page()
        await page.goto(f"{a.http}/admin?token={ADMIN}")
        await expect(page.locator("#nodes tr")).to_have_count(2)
        await expect(page.locator(f'#nodes tr[data-node="{node_name(a)}"]')).to_contain_text(
            f"{on_a} (1)"
        )
        await expect(page.locator(f'#nodes tr[data-node="{node_name(b)}"]')).to_contain_text(
            f"{on_b} (2)"
        )
        await expect(page.locator("#cluster-status")).to_have_text("2 nodes")

        b.stop()  # a node that stops drops out of the view
        await expect(page.locator("#nodes tr")).to_have_count(1, timeout=15_000)
