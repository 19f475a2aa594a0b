"""RoomManager: single-flight loads, failed loads, idle unloading."""

from __future__ import annotations

import asyncio

import pytest

from sync import protocol
from sync.errors import InvalidRoomName, RoomUnavailable
from sync.handler import handle_frame
from sync.manager import RoomManager
from sync.types import SyncSettings
from tests.helpers.clients import eventually
from tests.helpers.fakes import GatedStore
from tests.sync.test_room import client_update, connect


async def test_concurrent_joins_of_a_cold_room_cause_one_load() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    store.load_gate.clear()
    joins = [asyncio.ensure_future(manager.acquire("cold")) for _ in range(50)]
    await eventually(lambda: store.loads >= 1)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not any(j.done() for j in joins)  # nobody is served before the load finished
    store.load_gate.set()
    rooms = await asyncio.gather(*joins)
    assert store.loads == 1
    assert len({id(r) for r in rooms}) == 1 and rooms[0].holders == 50
    await manager.aclose()


async def test_failed_load_is_refused_and_never_cached_as_empty() -> None:
    store = GatedStore()
    conn_manager = RoomManager(store)
    # Seed the room with content through a first manager, then fail the next load.
    conn, _ = await connect(conn_manager, "doc")
    await handle_frame(conn, protocol.encode_update(client_update("precious")))
    await conn_manager.aclose()
    manager = RoomManager(store)
    store.fail_loads, store.loads = 1, 0
    store.load_gate.clear()
    joins = [asyncio.ensure_future(manager.acquire("doc")) for _ in range(5)]
    await eventually(lambda: store.loads == 1)
    store.load_gate.set()
    results = await asyncio.gather(*joins, return_exceptions=True)
    assert all(isinstance(r, RoomUnavailable) for r in results), results
    assert manager.get("doc") is None
    assert manager.load_failures == 1  # one load failed (five joins shared it): /metrics
    room = await manager.acquire("doc")  # the next join loads for real
    from pycrdt import Text

    assert str(room.doc.get("content", type=Text)) == "precious"
    await manager.aclose()


async def test_invalid_room_name_is_refused_before_any_load() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    for name in ["", "../etc", "a/b", "x" * 200, "-lead", "spa ce"]:
        with pytest.raises(InvalidRoomName):
            await manager.acquire(name)
    assert store.loads == 0


async def test_idle_room_unloads_and_reloads_with_same_state_vector() -> None:
    store = GatedStore()
    manager = RoomManager(store, SyncSettings(unload_grace_s=0.05))
    conn, _ = await connect(manager, "idle")
    for i in range(5):
        await handle_frame(conn, protocol.encode_update(client_update(f"part{i}")))
    room = manager.get("idle")
    assert room is not None
    await room.flush()
    before = room.doc.get_state()
    await conn.aclose()
    manager.release(room)
    await eventually(lambda: manager.get("idle") is None, what="unload after grace")
    assert manager.unloads == 1
    again = await manager.acquire("idle")
    assert again is not room and again.doc.get_state() == before
    await manager.aclose()


async def test_a_held_room_is_not_unloaded() -> None:
    manager = RoomManager(GatedStore(), SyncSettings(unload_grace_s=0.01))
    room = await manager.acquire("held")
    other = await manager.acquire("held")
    manager.release(other)
    await asyncio.sleep(0.05)
    assert manager.get("held") is room
    await manager.aclose()
