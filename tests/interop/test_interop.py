"""Real npm `yjs` + `y-websocket` clients (Node) and pycrdt `Provider` clients editing one
room through a real `samepage serve`: they converge to the same text and state vector,
presence set by a Node client reaches the others, and after a restart a fresh client
gets the whole document from SQLite."""

from __future__ import annotations

import asyncio
import json
import os
import random
from typing import Any

import httpx
from pycrdt import Text

from sync import protocol
from sync.awareness import decode_awareness
from tests.helpers.clients import eventually, raw_client
from tests.helpers.server import ServerProcess
from tests.interop.node import NodeClient, node_driver
from tests.interop.peers import PyPeer, live_doc, state_vector, stored_doc, text_of


def seeded_rng(test: str) -> random.Random:
    """A random.Random whose seed is printed (replay: SAMEPAGE_TEST_SEED=<seed>)."""
    seed = int(os.environ.get("SAMEPAGE_TEST_SEED", random.randrange(2**32)))
    print(f"{test}: random seed {seed} (replay with SAMEPAGE_TEST_SEED={seed})")
    return random.Random(seed)


async def views(nodes: list[NodeClient], pys: list[PyPeer]) -> list[tuple[str, dict[int, int]]]:
    """(text, state vector) of every client."""
    out = [(await n.text(), await n.state_vector()) for n in nodes]
    return out + [(text_of(p.doc), state_vector(p.doc)) for p in pys]


async def test_node_and_pycrdt_clients_converge(server: ServerProcess) -> None:
    room, rng = "interop-converge", seeded_rng("converge")
    async with node_driver() as driver:
        nodes = [await driver.client(server.ws, room) for _ in range(3)]
        pys = [PyPeer(server.ws, room, f"py{i}") for i in range(2)]
        for peer in pys:
            await peer.connect()
        try:

            async def node_writer(client: NodeClient, index: int) -> None:
                for n in range(25):
                    if rng.random() < 0.25:
                        await client.delete_at(rng.random(), rng.randint(1, 4))
                    else:
                        await client.insert_at(rng.random(), f"<n{index}.{n}>")
                    await asyncio.sleep(rng.random() * 0.01)

            async def py_writer(peer: PyPeer, index: int) -> None:
                for n in range(25):
                    if rng.random() < 0.25:
                        peer.delete_at(rng.random(), rng.randint(1, 4))
                    else:
                        peer.insert_at(rng.random(), f"<p{index}.{n}>")
                    await asyncio.sleep(rng.random() * 0.01)

            await asyncio.gather(
                *(node_writer(c, i) for i, c in enumerate(nodes)),
                *(py_writer(p, i) for i, p in enumerate(pys)),
            )
            # Non-ASCII from both sides (Yjs counts UTF-16 units, Yrs here UTF-8 bytes):
            # appended, so the index is each side's own length.
            await nodes[0].insert(10**9, " héllo 中文 😀")
            pys[0].text.insert(len(pys[0].text), " ümlaut ✓")

            async def converged() -> bool:
                seen = await views(nodes, pys)
                return all(v == seen[0] for v in seen)

            await eventually(converged, 15, "Node and pycrdt clients converge")
            text, vector = (await views(nodes, pys))[0]
            assert "😀" in text and "✓" in text
            # every writer's edits are in (deletes may have removed some of the text)
            assert {n.client_id for n in nodes} | {p.doc.client_id for p in pys} <= set(vector)
            room_doc = await live_doc(server.http, room)
            assert text_of(room_doc) == text
            assert state_vector(room_doc) == vector
        finally:
            for peer in pys:
                await peer.disconnect()


def awareness_states(messages: list[Any]) -> dict[int, Any]:
    """Fold awareness messages into {client id: state} (removals drop the entry)."""
    states: dict[int, Any] = {}
    for message in messages:
        for entry in decode_awareness(message.payload):
            if entry.removed:
                states.pop(entry.client_id, None)
            else:
                states[entry.client_id] = json.loads(entry.state)
    return states


async def test_presence_from_node_reaches_node_and_raw_clients(server: ServerProcess) -> None:
    room = "interop-presence"
    user = {"user": {"name": "Ada", "color": "#ff8800"}}
    async with node_driver() as driver:
        ada = await driver.client(server.ws, room)
        bob = await driver.client(server.ws, room)
        async with raw_client(server.ws, room) as raw:
            await ada.set_awareness(user)

            async def bob_sees_ada() -> bool:
                return (await bob.awareness()).get(ada.client_id) == user

            await eventually(bob_sees_ada, 10, "second Node client sees Ada's presence")
            msgs = lambda: raw.of_type(protocol.AwarenessMessage)  # noqa: E731
            await eventually(
                lambda: awareness_states(msgs()).get(ada.client_id) == user,
                10,
                "raw client sees Ada's presence",
            )
            # a client joining later gets the presence at once
            async with raw_client(server.ws, room) as late:
                await eventually(
                    lambda: (
                        awareness_states(late.of_type(protocol.AwarenessMessage)).get(ada.client_id)
                        == user
                    ),
                    10,
                    "late joiner sees Ada",
                )
            # Ada leaves: her state is removed for everyone (no ghost cursor)
            await ada.close()

            async def ada_gone() -> bool:
                return ada.client_id not in await bob.awareness()

            await eventually(ada_gone, 10, "Ada's presence removed at Bob")
            await eventually(
                lambda: ada.client_id not in awareness_states(msgs()), 10, "removed at raw"
            )


async def test_restart_fresh_clients_get_the_whole_document(server: ServerProcess) -> None:
    room, rng = "interop-restart", seeded_rng("restart")
    async with node_driver() as driver:
        writers = [await driver.client(server.ws, room) for _ in range(2)]
        for n in range(40):
            writer = writers[n % 2]
            await writer.insert_at(rng.random(), f"[{n}]")
        await eventually(lambda: _same_texts(writers), 10, "writers converge before the restart")
        before = await writers[0].text()
        vector = await writers[0].state_vector()
        server.restart()
        # the stored file alone holds everything
        assert text_of(await stored_doc(server.db, room)) == before
        fresh_node = await driver.client(server.ws, room)
        assert await fresh_node.text() == before
        assert await fresh_node.state_vector() == vector
        fresh_py = PyPeer(server.ws, room, "fresh-py")
        await fresh_py.connect()
        try:
            assert text_of(fresh_py.doc) == before
            assert state_vector(fresh_py.doc) == vector
            # the old Node clients reconnect by themselves and keep editing with the new ones
            await writers[0].wait_synced(15)
            await writers[0].insert(0, "after-restart:")
            fresh_py.text.insert(len(fresh_py.text), ":py-after")

            async def all_have_both() -> bool:
                texts = [await c.text() for c in (*writers, fresh_node)] + [text_of(fresh_py.doc)]
                return all(t == texts[0] for t in texts) and (
                    texts[0].startswith("after-restart:") and texts[0].endswith(":py-after")
                )

            await eventually(all_have_both, 15, "old and fresh clients converge after restart")
        finally:
            await fresh_py.disconnect()


async def _same_texts(clients: list[NodeClient]) -> bool:
    texts = [await c.text() for c in clients]
    return all(t == texts[0] for t in texts)


async def test_a_node_client_leaving_keeps_the_presence_it_relayed(server: ServerProcess) -> None:
    """y-websocket clients re-send every awareness state they learn; when such a relaying
    client leaves, the peers it relayed stay visible, and nobody is disconnected for
    relaying (the ids stay bound to the connections that introduced them)."""
    room = "interop-relay"
    async with node_driver() as driver:
        ada, bob, cleo = [await driver.client(server.ws, room) for _ in range(3)]
        for client, name in ((ada, "Ada"), (bob, "Bob"), (cleo, "Cleo")):
            await client.set_awareness({"user": {"name": name, "color": "#336699"}})

        async def everyone_sees(ids: set[int], among: list[NodeClient]) -> bool:
            seen = [set(await c.awareness()) for c in among]
            return all(ids <= s for s in seen)

        all_ids = {ada.client_id, bob.client_id, cleo.client_id}
        await eventually(lambda: everyone_sees(all_ids, [ada, bob, cleo]), 10, "all see all")
        # Ada changes her state: everyone (including relays of the old one) converges on it
        new_state = {"user": {"name": "Ada L.", "color": "#ff0000"}, "typing": True}
        await ada.set_awareness(new_state)

        async def cleo_sees_new() -> bool:
            return (await cleo.awareness()).get(ada.client_id) == new_state

        await eventually(cleo_sees_new, 10, "Cleo sees Ada's new state")
        await bob.close()

        async def bob_gone_ada_kept() -> bool:
            states = await cleo.awareness()
            return bob.client_id not in states and states.get(ada.client_id) == new_state

        await eventually(bob_gone_ada_kept, 10, "Bob's leaving removes only Bob")
        async with raw_client(server.ws, room) as late:
            await eventually(
                lambda: (
                    set(awareness_states(late.of_type(protocol.AwarenessMessage)))
                    == {ada.client_id, cleo.client_id}
                ),
                10,
                "a late joiner sees exactly Ada and Cleo",
            )
        for client in (ada, cleo):
            status = await client.status()
            assert status["connected"] and status["closes"] == [], status


async def test_http_api_and_y_websocket_clients_share_one_document(server: ServerProcess) -> None:
    """An update POSTed over HTTP reaches connected Node clients live; a Yjs-encoded
    state (`Y.encodeStateAsUpdate`) POSTed into another room is what a joiner gets."""
    room, copy_room = "interop-http", "interop-http-copy"
    async with node_driver() as driver, httpx.AsyncClient(base_url=server.http) as http:
        ada = await driver.client(server.ws, room)
        await ada.insert(0, "hello")
        await eventually(lambda: _content_is(http, room, "hello"), 10, "Ada's edit is in the room")
        doc = await live_doc(server.http, room)
        before = doc.get_state()
        doc.get("content", type=Text).insert(5, " from http")
        response = await http.post(f"/api/rooms/{room}/updates", content=doc.get_update(before))
        assert response.status_code == 200 and response.json()["changed"], response.text

        async def ada_sees_http() -> bool:
            return await ada.text() == "hello from http"

        await eventually(ada_sees_http, 10, "a POSTed update reaches a y-websocket client")
        response = await http.post(f"/api/rooms/{copy_room}/updates", content=await ada.update())
        assert response.status_code == 200, response.text
        joiner = await driver.client(server.ws, copy_room)
        assert await joiner.text() == "hello from http"
        assert await joiner.state_vector() == await ada.state_vector()
        as_json = (await http.get(f"/api/rooms/{copy_room}/content?format=json")).json()
        assert as_json == {"content": "hello from http"}


async def _content_is(http: httpx.AsyncClient, room: str, want: str) -> bool:
    return (await http.get(f"/api/rooms/{room}/content")).text == want


async def test_many_y_websocket_clients_join_a_cold_room_at_once(server: ServerProcess) -> None:
    """40 real y-websocket clients open a stored, unloaded room at the same moment (after
    a restart): every one syncs and gets the whole document (single-flight load)."""
    room = "interop-stampede"
    async with node_driver() as driver:
        author = await driver.client(server.ws, room)
        for n in range(30):
            await author.insert(10**9, f"line {n}\n")
        want = await author.text()
        await eventually(lambda: _stored_text_is(server, room, want), 10, "stored")
        await author.close()
        server.restart()  # the room is cold: it must be loaded from SQLite
        clients = await asyncio.gather(
            *(driver.client(server.ws, room, synced=False) for _ in range(40))
        )
        await asyncio.gather(*(c.wait_synced(20) for c in clients))
        texts = await asyncio.gather(*(c.text() for c in clients))
        assert all(t == want for t in texts), [len(t) for t in texts]


async def _stored_text_is(server: ServerProcess, room: str, want: str) -> bool:
    return text_of(await stored_doc(server.db, room)) == want


async def test_a_crashed_node_client_leaves_no_ghost(server: ServerProcess) -> None:
    """kill -9 of a Node process holding a client: its presence disappears for the
    others (no close frame was sent), and its last edit, once echoed, is kept."""
    room = "interop-crash"
    async with node_driver() as observer_driver, node_driver() as victim_driver:
        observer = await observer_driver.client(server.ws, room)
        victim = await victim_driver.client(server.ws, room)
        await victim.set_awareness({"user": {"name": "Crash", "color": "#123456"}})
        await victim.insert(0, "before the crash")

        async def observer_sees_victim() -> bool:
            states = await observer.awareness()
            return victim.client_id in states and await observer.text() == "before the crash"

        await eventually(observer_sees_victim, 10, "the observer sees the victim")
        await victim_driver.kill()

        async def ghost_gone() -> bool:
            return victim.client_id not in await observer.awareness()

        await eventually(ghost_gone, 10, "the crashed client's presence is removed")
        assert text_of(await stored_doc(server.db, room)) == "before the crash"


async def test_maps_and_arrays_from_yjs_round_trip(server: ServerProcess) -> None:
    """Rooms carry any Yjs content: a Y.Map and a Y.Array written by one Node client reach
    another, survive a restart, and `format=json` renders them as Yjs's own `toJSON()`."""
    room = "interop-types"
    types = {"meta": "map", "items": "array", "content": "text"}
    async with node_driver() as driver:
        ada = await driver.client(server.ws, room)
        bob = await driver.client(server.ws, room)
        await ada.map_set("meta", "title", "Plan ✓")
        await ada.map_set("meta", "tags", ["a", "b"])
        await ada.map_set("meta", "nested", {"n": 1, "ok": True, "none": None})
        await ada.array_push("items", [1, "two", {"three": 3}])
        await bob.insert(0, "text too")
        await bob.array_push("items", [4.5])

        async def same() -> bool:
            return await ada.json(types) == await bob.json(types)

        await eventually(same, 10, "both Node clients have the same map, array and text")
        want = await ada.json(types)
        assert 4.5 in want["items"] and want["meta"]["title"] == "Plan ✓"
        server.restart()
        fresh = await driver.client(server.ws, room)
        assert await fresh.json(types) == want
        async with httpx.AsyncClient(base_url=server.http) as http:
            rendered = (await http.get(f"/api/rooms/{room}/content?format=json")).json()
        assert rendered == want
