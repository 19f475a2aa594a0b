"""Presence after a reconnect, with real y-websocket clients: a client whose connection
dropped, or everyone after a server restart, must be visible to the others again within
a few seconds of reconnecting — not only after y-protocols' 15 s renewal."""

from __future__ import annotations

from tests.helpers.clients import eventually
from tests.helpers.server import ServerProcess
from tests.interop.node import NodeClient, node_driver

# reconnect + sync take well under a second here; 15 s is y-protocols' renewal period
VISIBLE_WITHIN_S = 5.0


async def sees(observer: NodeClient, other: NodeClient, state: object) -> bool:
    return (await observer.awareness()).get(other.client_id) == state


async def test_a_client_that_dropped_is_visible_again_soon(server: ServerProcess) -> None:
    room = "interop-presence-drop"
    ada_state = {"user": {"name": "Ada", "color": "#ff0000"}}
    async with node_driver() as driver:
        ada = await driver.client(server.ws, room)
        bob = await driver.client(server.ws, room)
        bob_state = {"user": {"name": "Bob", "color": "#0000ff"}}
        await ada.set_awareness(ada_state)
        await bob.set_awareness(bob_state)
        await eventually(lambda: sees(bob, ada, ada_state), 10, "Bob sees Ada")
        await eventually(lambda: sees(ada, bob, bob_state), 10, "Ada sees Bob")
        await ada.disconnect()  # her network drops; the server removes her presence

        async def bob_lost_ada() -> bool:
            return ada.client_id not in await bob.awareness()

        await eventually(bob_lost_ada, 10, "Bob no longer sees Ada")
        await ada.connect()
        await ada.wait_synced()
        await eventually(lambda: sees(bob, ada, ada_state), VISIBLE_WITHIN_S, "Bob sees Ada again")
        # Ada dropped Bob's state on disconnect but kept his clock: Bob, unchanged since,
        # must re-announce past it or she would see him only at his 15 s renewal
        await eventually(lambda: sees(ada, bob, bob_state), VISIBLE_WITHIN_S, "Ada sees Bob again")


async def test_everyone_is_visible_again_soon_after_a_server_restart(
    server: ServerProcess,
) -> None:
    room = "interop-presence-restart"
    async with node_driver() as driver:
        ada = await driver.client(server.ws, room)
        bob = await driver.client(server.ws, room)
        ada_state, bob_state = {"user": {"name": "Ada"}}, {"user": {"name": "Bob"}}
        await ada.set_awareness(ada_state)
        await bob.set_awareness(bob_state)
        await eventually(lambda: sees(bob, ada, ada_state), 10, "Bob sees Ada")
        await eventually(lambda: sees(ada, bob, bob_state), 10, "Ada sees Bob")
        server.restart()
        await ada.wait_synced(15)
        await bob.wait_synced(15)

        async def both_see_each_other() -> bool:
            return await sees(bob, ada, ada_state) and await sees(ada, bob, bob_state)

        await eventually(both_see_each_other, VISIBLE_WITHIN_S, "presence back after restart")
