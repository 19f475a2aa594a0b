"""Tokens as y-websocket sends them (`params: {token}` → `?token=`): a writer and a
read-only viewer in Node; the viewer follows live and shows presence, its edit closes it
with 4403 (y-websocket then stops reconnecting), and a bad token gets 4401."""

from __future__ import annotations

import httpx

from tests.helpers.clients import eventually
from tests.helpers.server import TEST_SECRET, ServerProcess
from tests.interop.node import node_driver
from web.auth import issue_token


def token(room: str, user: str, read_only: bool = False) -> str:
    """A token as `samepage token` issues it (the CLI's own function, without a process)."""
    return issue_token(TEST_SECRET, room, user=user, read_only=read_only)


async def test_read_only_viewer_and_bad_token_with_y_websocket(
    secure_server: ServerProcess,
) -> None:
    room = "interop-tokens"
    async with node_driver() as driver:
        writer = await driver.client(
            secure_server.ws, room, name="writer", params={"token": token(room, "ada")}
        )
        viewer = await driver.client(
            secure_server.ws,
            room,
            name="viewer",
            params={"token": token(room, "bob", read_only=True)},
        )
        await writer.insert(0, "written by ada")

        async def viewer_follows() -> bool:
            return await viewer.text() == "written by ada"

        await eventually(viewer_follows, 10, "the read-only viewer sees edits live")
        await viewer.set_awareness({"user": {"name": "bob", "color": "#00aa00"}})

        async def writer_sees_viewer() -> bool:
            return viewer.client_id in await writer.awareness()

        await eventually(writer_sees_viewer, 10, "a read-only viewer's presence is allowed")

        await viewer.insert(0, "bob was here ")

        async def viewer_refused() -> bool:
            return (await viewer.status())["closes"] == [4403]

        await eventually(viewer_refused, 10, "a read-only edit closes with 4403")
        # another round trip through the server; by then a reconnect would have happened
        await writer.insert(10**9, "!")
        reader = {"Authorization": f"Bearer {token(room, 'carol', read_only=True)}"}
        async with httpx.AsyncClient(base_url=secure_server.http, headers=reader) as http:

            async def stored() -> bool:
                response = await http.get(f"/api/rooms/{room}/content")
                return response.status_code == 200 and response.text == "written by ada!"

            await eventually(stored, 10, "the writer's next edit is in the room")
        status = await viewer.status()
        assert status["closes"] == [4403] and not status["connected"], status

        stranger = await driver.client(
            secure_server.ws, room, name="stranger", synced=False, params={"token": "not-a-token"}
        )

        async def stranger_refused() -> bool:
            return 4401 in (await stranger.status())["closes"]

        await eventually(stranger_refused, 10, "a bad token closes with 4401")
        assert (await stranger.status())["closes"] == [4401]  # and no reconnect storm
