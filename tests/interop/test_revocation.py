"""Revocation and downgrade with real y-websocket clients (docs/security.md): by jti
through the admin API and through `samepage revoke`, by user, by room. Sockets using a
revoked token close 4401 within a second and y-websocket stops; the token is refused on
connect and on the HTTP API, also after a restart; other tokens carry on. A grant
lowered to read-only applies to the live connection: it keeps following the room, and
its next write closes it 4403."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from tests.helpers.clients import eventually
from tests.helpers.server import TEST_SECRET, ServerProcess, run_cli
from tests.interop.node import NodeClient, node_driver
from tests.interop.test_access import auth_server, closed_with
from web.auth import issue_token, verify_token

__all__ = ["auth_server"]  # the fixture (native and ASGI WebSocket servers)
ADMIN = issue_token(TEST_SECRET, "*", user="root", admin=True)


def jti_of(token: str) -> str:
    credential = verify_token(TEST_SECRET, token).identity.credential
    assert credential is not None and credential.token_id
    return credential.token_id


async def revoke(server: ServerProcess, body: dict[str, str]) -> float:
    """Revoke through the admin API; the time the server answered (it has closed the
    sockets by then)."""
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post(
            "/api/admin/revoke", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
        )
    assert response.status_code == 200, response.text
    return time.time()


async def http_status(server: ServerProcess, token: str, room: str) -> int:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.get(
            f"/api/rooms/{room}/content", headers={"Authorization": f"Bearer {token}"}
        )
    return response.status_code


async def refused_on_connect(client: NodeClient) -> None:
    status = await closed_with(client, 4401)
    assert status["closes"] == [4401] and status["shouldConnect"] is False, status


async def test_revoking_a_jti_closes_its_sockets_at_once_and_refuses_it_everywhere(
    auth_server: ServerProcess,
) -> None:
    room = "revoked-jti"
    doomed = issue_token(TEST_SECRET, room, user="eve")
    other = issue_token(TEST_SECRET, room, user="eve")  # the same user, another token
    async with node_driver() as driver:
        a = await driver.client(auth_server.ws, room, name="a", params={"token": doomed})
        b = await driver.client(auth_server.ws, room, name="b", params={"token": doomed})
        keep = await driver.client(auth_server.ws, room, name="keep", params={"token": other})
        await a.insert(0, "hello")
        asked = time.time()
        answered = await revoke(auth_server, {"jti": jti_of(doomed)})
        for client in (a, b):
            status = await closed_with(client, 4401)
            closed_at = status["closeTimes"][0] / 1000  # type: ignore[index]
            assert status["reasons"] == ["token revoked"], status
            assert closed_at - asked < 1.0, f"closed {closed_at - asked:.3f}s after the request"
            assert status["shouldConnect"] is False
        print(f"revoke answered in {(answered - asked) * 1000:.0f} ms")

        again = await driver.client(
            auth_server.ws, room, name="again", synced=False, params={"token": doomed}
        )
        await refused_on_connect(again)
        assert await http_status(auth_server, doomed, room) == 401
        assert await http_status(auth_server, other, room) == 200
        await keep.insert(0, "still ")
        assert (await keep.status())["closes"] == []


async def test_revoke_by_user_and_by_room_and_it_survives_a_restart(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "revoke.db",
        extra_args=["--secret", TEST_SECRET],
        log_path=tmp_path / "server.log",
    )
    server.start()
    try:
        mallory = issue_token(TEST_SECRET, "*", user="mallory")
        carol = issue_token(TEST_SECRET, "*", user="carol")
        async with node_driver() as driver:
            m1 = await driver.client(server.ws, "r1", name="m1", params={"token": mallory})
            m2 = await driver.client(server.ws, "r2", name="m2", params={"token": mallory})
            c1 = await driver.client(server.ws, "r1", name="c1", params={"token": carol})
            c2 = await driver.client(server.ws, "r2", name="c2", params={"token": carol})

            # `samepage revoke --user`: through the server holding the database.
            done = run_cli(
                "revoke", "--user", "mallory", "--db", server.db, "--secret", TEST_SECRET
            )
            assert done.returncode == 0, done.stderr
            assert "through the server" in done.stderr
            for client in (m1, m2):
                assert (await closed_with(client, 4401))["reasons"] == [
                    "token revoked (every token of this user)"
                ]
            # By room: carol loses r2 only.
            await revoke(server, {"room": "r2"})
            status = await closed_with(c2, 4401)
            assert status["reasons"] == ["token revoked for this room"]
            await c1.insert(0, "carol in r1 ")
            assert (await c1.status())["closes"] == []
            assert await http_status(server, carol, "r2") == 401
            assert await http_status(server, carol, "r1") == 200

        server.restart()
        assert await http_status(server, mallory, "r1") == 401  # stored: a restart keeps it
        assert await http_status(server, carol, "r2") == 401
        assert await http_status(server, carol, "r1") == 200
        # Tokens issued after the revocation (`iat` is in whole seconds: from the next
        # second on) are fine.
        await asyncio.sleep(1.05 - time.time() % 1)
        fresh = issue_token(TEST_SECRET, "*", user="mallory")
        assert await http_status(server, fresh, "r1") == 200
        async with httpx.AsyncClient(base_url=server.http) as http:
            listed = await http.get(
                "/api/admin/access", headers={"Authorization": f"Bearer {ADMIN}"}
            )
        kinds = sorted((r["kind"], r["value"]) for r in listed.json()["revocations"])
        assert kinds == [("room", "r2"), ("user", "mallory")]
    finally:
        server.stop()


async def grant(server: ServerProcess, user: str, room: str, perm: str) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.post(
            "/api/admin/grants",
            json={"user": user, "room": room, "perm": perm},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
    assert response.status_code == 200, response.text


async def test_a_downgrade_applies_to_the_live_connection_its_next_write_is_4403(
    auth_server: ServerProcess,
) -> None:
    room = "downgraded"
    token = issue_token(TEST_SECRET, room, user="dave")
    async with node_driver() as driver:
        dave = await driver.client(auth_server.ws, room, name="dave", params={"token": token})
        erin = await driver.client(
            auth_server.ws, room, name="erin", params={"token": issue_token(TEST_SECRET, room)}
        )
        await dave.insert(0, "dave wrote this")
        await grant(auth_server, "dave", room, "read")
        # Still connected, still following the room: no reconnection happened.
        await erin.insert(10**6, ", erin too")

        async def dave_follows() -> bool:
            return await dave.text() == "dave wrote this, erin too"

        await eventually(dave_follows, 10, "the downgraded connection still follows")
        status = await dave.status()
        assert status["closes"] == [] and status["opens"] == 1, status
        assert await http_status(auth_server, token, room) == 200  # reading is fine

        await dave.insert(0, "not any more ")
        status = await closed_with(dave, 4403)
        assert status["closes"] == [4403] and status["shouldConnect"] is False, status
        assert "read-only" in status["reasons"][0]  # type: ignore[index]
        async with httpx.AsyncClient(base_url=auth_server.http) as http:
            posted = await http.post(
                f"/api/rooms/{room}/updates",
                content=b"\x00\x00",
                headers={"Authorization": f"Bearer {token}"},
            )
        assert posted.status_code == 403

        # Lifted again: the same token writes on a new connection.
        await grant(auth_server, "dave", room, "write")
        again = await driver.client(auth_server.ws, room, name="again", params={"token": token})
        await again.insert(0, "back: ")

        async def stored() -> bool:
            return (await erin.text()).startswith("back: dave wrote this")

        await eventually(stored, 10, "the write after the grant came back")
        assert (await again.status())["closes"] == []
