"""Key rotation as docs/security.md tells an operator to do it, on a real server with real
y-websocket clients: add the new key beside the old, sign with the new one, retire the
old; tokens of the retired key are refused (4401 on the socket, 401 on the API), tokens
naming a key falsely are refused, and `samepage token` signs with the chosen key."""

from __future__ import annotations

from pathlib import Path

import httpx
import jwt
import pytest

from tests.helpers.server import ServerProcess, run_cli
from tests.interop.node import node_driver
from tests.interop.test_access import closed_with
from web.auth import issue_token
from web.keys import Keyring

OLD, NEW = "old-secret-0123456789abcdef0123456789", "new-secret-0123456789abcdef0123456789"


async def api_status(server: ServerProcess, token: str) -> int:
    async with httpx.AsyncClient(base_url=server.http) as http:
        response = await http.get(
            "/api/rooms/rotated/content", headers={"Authorization": f"Bearer {token}"}
        )
    return response.status_code


def cli_token() -> str:
    """`samepage token` in another process (keys from the environment)."""
    done = run_cli("token", "rotated", "--user", "cli")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


async def test_rotating_keys_old_tokens_work_until_the_old_key_is_retired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ServerProcess(
        tmp_path / "keys.db", extra_args=["--key", f"k1={OLD}"], log_path=tmp_path / "log"
    )
    server.start()
    try:
        old_token = issue_token(Keyring({"k1": OLD}, "k1"), "rotated", user="early")
        assert jwt.get_unverified_header(old_token)["kid"] == "k1"
        assert await api_status(server, old_token) == 200

        # Step 1-2: both keys active, new tokens signed with k2 (the CLI reads the same
        # SAMEPAGE_KEY / SAMEPAGE_SIGNING_KEY as the server).
        server.extra_args = ["--key", f"k1={OLD}", "--key", f"k2={NEW}", "--signing-key", "k2"]
        server.restart()
        monkeypatch.setenv("SAMEPAGE_KEY", f"k1={OLD},k2={NEW}")
        monkeypatch.setenv("SAMEPAGE_SIGNING_KEY", "k2")
        new_token = cli_token()
        monkeypatch.delenv("SAMEPAGE_KEY")  # the server restarted below has its flags only
        monkeypatch.delenv("SAMEPAGE_SIGNING_KEY")
        assert jwt.get_unverified_header(new_token)["kid"] == "k2"
        assert await api_status(server, old_token) == 200
        assert await api_status(server, new_token) == 200

        # Step 3: k1 retired.
        server.extra_args = ["--key", f"k2={NEW}"]
        server.restart()
        assert await api_status(server, old_token) == 401
        assert await api_status(server, new_token) == 200
        forged = jwt.encode(
            jwt.decode(new_token, options={"verify_signature": False}),
            OLD,
            algorithm="HS256",
            headers={"kid": "k2"},
        )
        assert await api_status(server, forged) == 401
        no_kid = jwt.encode(
            jwt.decode(new_token, options={"verify_signature": False}), NEW, algorithm="HS256"
        )
        assert await api_status(server, no_kid) == 401  # no kid means `default`: not active

        async with node_driver() as driver:
            fine = await driver.client(
                server.ws, "rotated", name="fine", params={"token": new_token}
            )
            await fine.insert(0, "signed with k2")
            retired = await driver.client(
                server.ws, "rotated", name="retired", synced=False, params={"token": old_token}
            )
            status = await closed_with(retired, 4401)
            assert status["reasons"] == ["token signed with a retired or unknown key (kid 'k1')"]
            assert status["shouldConnect"] is False
            assert (await fine.status())["closes"] == []
    finally:
        server.stop()
