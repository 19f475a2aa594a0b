"""Big updates are applied off the event loop (issue #13 item 3): in a worker thread,
in order, while nothing else touches the Doc; the room is `busy` meanwhile and every
other use of the Doc waits for it or is refused, never racing the thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pycrdt import Array, Doc, Text

from sync import protocol
from sync.errors import InvalidUpdate, RoomUnavailable
from sync.handler import handle_frame
from sync.manager import RoomManager
from sync.room import OFF_LOOP_BYTES
from tests.helpers.clients import eventually
from tests.helpers.fakes import GatedStore
from tests.sync.test_room import client_update, connect, updates_received


def big_update(items: int = 60_000, client_id: int = 4242) -> bytes:
    """One update over OFF_LOOP_BYTES: `items` numbers, one array item each."""
    doc: Doc[Any] = Doc(client_id=client_id)
    array = doc.get("items", type=Array)
    with doc.transaction():
        for i in range(items):
            array.insert(0, i % 7)
    update = doc.get_update()
    assert len(update) > OFF_LOOP_BYTES
    return update


async def test_a_big_update_is_applied_in_a_thread_and_others_wait_in_order() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    sender, sender_t = await connect(manager, "r")
    typist, _ = await connect(manager, "r")
    _peer, peer_t = await connect(manager, "r")
    room = await manager.acquire("r")
    appliers: list[str] = []
    room.doc.observe(lambda _event: appliers.append(threading.current_thread().name))
    big = big_update()
    big_sent = asyncio.ensure_future(handle_frame(sender, protocol.encode_update(big)))
    await asyncio.sleep(0)
    assert room.busy, "the room is busy while the big update is applied"
    with pytest.raises(RoomUnavailable):
        room.apply_update(client_update("racing"), "x")  # never races the thread
    small = asyncio.ensure_future(handle_frame(typist, protocol.encode_update(client_update("é!"))))
    await asyncio.wait_for(asyncio.gather(big_sent, small), 30)
    await room.idle()
    assert appliers[0] != threading.current_thread().name, "applied off the loop"
    assert appliers[-1] == threading.current_thread().name, "the small one on the loop"
    await eventually(lambda: len(updates_received(peer_t)) >= 1, what="the broadcasts")
    await room.flush()
    assert len(room.doc.get("items", type=Array)) == 60_000
    assert str(room.doc.get("content", type=Text)) == "é!"
    assert len(store.committed) == 2
    del sender_t
    manager.release(room)
    await manager.aclose()


async def test_joins_remote_updates_and_closing_wait_for_the_thread() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    room = await manager.acquire("r")
    applying = room.apply_update_soon(big_update(), "big")
    assert room.busy
    remote = client_update("from another node")
    assert room.apply_remote_update(remote, 99) is True  # deferred, not raced
    room.close()  # deferred too: the thread still uses the Doc's observer
    future = await asyncio.wait_for(applying, 30)
    assert future is not None and not room.busy
    assert str(room.doc.get("content", type=Text)) == "from another node"
    assert room.seq >= 99
    await future
    manager.release(room)
    await manager.aclose()


async def test_a_broken_big_update_is_refused_and_the_room_carries_on() -> None:
    manager = RoomManager(GatedStore())
    room = await manager.acquire("r")
    broken = bytearray(big_update())
    broken[len(broken) // 2 :] = b"\xff" * (len(broken) - len(broken) // 2)
    with pytest.raises(InvalidUpdate):
        await asyncio.wait_for(room.apply(bytes(broken), "x"), 30)
    assert not room.busy
    future = await room.apply(client_update("still here ✓"), "y")
    assert future is not None
    await future
    assert "still here ✓" in str(room.doc.get("content", type=Text))
    manager.release(room)
    await manager.aclose()
