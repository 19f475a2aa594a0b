"""The admin page renders the rooms with their connections and presence; its stats
endpoint is what the page polls; with auth on only an admin token opens it."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from sync import protocol
from sync.awareness import AwarenessEntry, encode_awareness_entries
from tests.helpers.clients import eventually, raw_client
from tests.helpers.server import ServerProcess
from web.auth import issue_token


def presence_frame(client_id: int, name: str) -> bytes:
    """An awareness frame announcing `name`."""
    state = json.dumps({"user": {"name": name, "color": "#336699"}, "typing": False})
    entries = [AwarenessEntry(client_id, 1, state)]
    return protocol.encode_awareness(encode_awareness_entries(entries))


async def test_admin_page_shows_a_room_with_its_connection(server: ServerProcess) -> None:
    async with (
        raw_client(server.ws, "ops-room") as client,
        httpx.AsyncClient(base_url=server.http) as http,
    ):
        await client.send(presence_frame(42, "Dana <script>"))

        async def stats_show_dana() -> bool:
            stats = (await http.get("/api/admin/stats")).json()
            rooms = {r["name"]: r for r in stats["rooms"]}
            room = rooms.get("ops-room")
            return bool(
                room and room["presence"] and room["presence"][0]["name"].startswith("Dana")
            )

        await eventually(stats_show_dana, what="presence in the stats")
        stats = (await http.get("/api/admin/stats")).json()
        assert stats["connections"] == 1 and stats["rooms_loaded"] == 1
        room = stats["rooms"][0]
        assert room["name"] == "ops-room" and room["connections"] == 1 and room["loaded"]
        assert room["last_activity"] is not None

        page = await http.get("/admin")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "script-src 'nonce-" in page.headers["content-security-policy"]
        html = page.text
        assert '<a href="/r/ops-room#history">ops-room</a>' in html
        assert '<b id="connections">1</b>' in html
        assert "Dana &lt;script&gt;" in html and "Dana <script>" not in html
        assert "/api/admin/stats" in html


async def test_admin_needs_an_admin_token_when_auth_is_on(tmp_path: Path) -> None:
    secret = "an-admin-secret-that-is-long-enough-for-hs256"
    with ServerProcess(tmp_path / "db.sqlite", extra_args=["--secret", secret]) as proc:
        async with httpx.AsyncClient(base_url=proc.http) as http:
            assert (await http.get("/admin")).status_code == 401
            user = issue_token(secret, "*", user="eve")
            assert (await http.get(f"/admin?token={user}")).status_code == 403
            headers = {"Authorization": f"Bearer {user}"}
            assert (await http.get("/api/admin/stats", headers=headers)).status_code == 403
            admin = issue_token(secret, "*", user="root", admin=True)
            assert (await http.get(f"/admin?token={admin}")).status_code == 200
            headers = {"Authorization": f"Bearer {admin}"}
            assert (await http.get("/api/admin/stats", headers=headers)).status_code == 200
