"""Access that changes while real y-websocket clients are connected (docs/security.md):
a token that expires closes its socket with 4401 within 1 s of its `exp`, on the
native WebSocket server and on the ASGI path; y-websocket then stops reconnecting,
and clients with valid tokens carry on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.clients import eventually
from tests.helpers.server import TEST_SECRET, ServerProcess
from tests.interop.node import NodeClient, node_driver
from web.auth import issue_token, verify_token

WS_SERVERS = ["native", "websockets-sansio"]  # ours, and the ASGI endpoint (web/ws.py)


@pytest.fixture(params=WS_SERVERS)
def auth_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server with tokens on, on each WebSocket implementation."""
    with ServerProcess(
        tmp_path / "access.db",
        extra_args=["--secret", TEST_SECRET, "--ws", request.param],
        log_path=tmp_path / "server.log",
    ) as proc:
        yield proc


async def closed_with(client: NodeClient, code: int) -> dict[str, object]:
    """Wait until `client` saw a close with `code`; its status then."""

    async def seen() -> bool:
        return code in (await client.status())["closes"]

    await eventually(seen, 15, f"{client.name} closed with {code}")
    return await client.status()


async def test_an_expired_token_is_closed_4401_within_a_second_and_not_retried(
    auth_server: ServerProcess,
) -> None:
    room = "expiring"
    short = issue_token(TEST_SECRET, room, user="brief", ttl_s=5)  # room for a slow start
    expires_at = verify_token(TEST_SECRET, short).identity.credential.expires_at  # type: ignore[union-attr]
    assert expires_at is not None
    async with node_driver() as driver:
        brief = await driver.client(auth_server.ws, room, name="brief", params={"token": short})
        steady = await driver.client(
            auth_server.ws, room, name="steady", params={"token": issue_token(TEST_SECRET, room)}
        )
        await brief.insert(0, "before expiry ")
        assert (await brief.status())["closes"] == []  # connected, before its expiry

        status = await closed_with(brief, 4401)
        closed_at = status["closeTimes"][0] / 1000  # type: ignore[index]
        assert status["reasons"] == ["token expired"], status
        lag = closed_at - expires_at
        print(f"closed {lag * 1000:.0f} ms after exp")
        assert -0.05 <= lag <= 1.0, f"closed {lag:.3f}s after exp"
        assert status["shouldConnect"] is False  # y-websocket gave up: 44xx is final

        # The other client carries on, and the expired one never came back.
        await steady.insert(0, "still here ")

        async def steady_stored() -> bool:
            return (await steady.text()).startswith("still here ")

        await eventually(steady_stored, 10, "the valid client carries on")
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # longer than y-websocket's retry delay here
            status = await brief.status()
            assert status["closes"] == [4401] and status["opens"] == 1, status
        assert (await steady.status())["closes"] == []
