"""End-to-end smoke: two pycrdt clients co-edit through a real server."""

from __future__ import annotations

import httpx
from pycrdt import Text

from tests.helpers.clients import eventually, yclient
from tests.helpers.server import ServerProcess


async def test_two_clients_converge_and_content_is_stored(server: ServerProcess) -> None:
    async with yclient(server.ws, "smoke") as a, yclient(server.ws, "smoke") as b:
        a.get("content", type=Text).insert(0, "hello ")
        b.get("content", type=Text).insert(0, "world ")
        ta, tb = a.get("content", type=Text), b.get("content", type=Text)
        await eventually(lambda: str(ta) == str(tb) and len(str(ta)) == 12, what="convergence")
    async with httpx.AsyncClient(base_url=server.http) as http:
        text = (await http.get("/api/rooms/smoke/content")).text
        assert text == str(ta)
        rooms = (await http.get("/api/rooms")).json()
        assert rooms[0]["name"] == "smoke" and rooms[0]["seq"] >= 2
