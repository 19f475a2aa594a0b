"""Big updates are applied off the event loop (issue #13 item 3): in a worker thread,
in order, while nothing else touches the Doc; the room is `busy` meanwhile and every
other use of the Doc waits for it or is refused, never racing the thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from pycrdt import Array, Doc, Text

from storage.ysplit import _uint
from storage.yupdate import Reader
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


def _events(room: Any) -> list[int]:
    sizes: list[int] = []
    room.doc.observe(lambda event: sizes.append(len(event.update)))
    return sizes


async def test_a_big_update_goes_in_pieces_and_is_stored_whole() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    room = await manager.acquire("r")
    events = _events(room)
    big = big_update()
    future = await asyncio.wait_for(room.apply(big, "big"), 30)
    assert future is not None
    await future
    assert len(events) > 2, "applied as several pieces, each its own small commit"
    assert max(events) < len(big) // 2
    assert [row.update for row in await store.updates_range("r", 0, 10)] == [big]
    assert await asyncio.wait_for(room.apply(big, "again"), 30) is None, "nothing new"
    assert room.seq == 1
    manager.release(room)
    await manager.aclose()


async def test_a_big_update_missing_its_dependency_is_kept_until_it_arrives() -> None:
    writer: Doc[Any] = Doc(client_id=77)
    writer.get("content", type=Text).insert(0, "first: é 👍🏽")
    first = writer.get_update()
    before = writer.get_state()
    items = writer.get("items", type=Array)
    with writer.transaction():
        for i in range(60_000):
            items.insert(0, i % 7)
    second = writer.get_update(before)  # needs `first`: starts past its clocks
    assert len(second) > OFF_LOOP_BYTES
    store = GatedStore()
    manager = RoomManager(store)
    room = await manager.acquire("r")
    future = await asyncio.wait_for(room.apply(second, "early"), 30)
    assert future is not None, "stored although Yrs keeps it pending"
    await future
    assert room.pending_bytes == len(second)
    assert protocol.decode_state_vector(room.doc.get_state()).get(77, 0) == 0, "pending"
    future = room.apply_update(first, "late")
    assert future is not None
    await future
    assert room.pending_bytes == 0
    assert len(room.doc.get("items", type=Array)) == 60_000
    assert protocol.decode_state_vector(room.doc.get_state())[77] == 60_000 + 13  # UTF-16
    manager.release(room)
    await manager.aclose()
    reloaded = RoomManager(store)  # a restart: both rows make the document again
    again = await reloaded.acquire("r")
    assert len(again.doc.get("items", type=Array)) == 60_000
    assert str(again.doc.get("content", type=Text)) == "first: é 👍🏽"
    reloaded.release(again)
    await reloaded.aclose()


def _forged_after_valid_pieces() -> bytes:
    """A big valid update with one last struct that Yrs refuses but our decoder reads:
    its first pieces apply, the last fails."""
    update = big_update(30_000)
    reader = Reader(update)
    assert reader.uint() == 1
    count, client, clock = reader.uint(), reader.uint(), reader.uint()
    body = update[reader.pos : -1]  # the structs (the delete set is the last byte, 0)
    json = b"\x82" + _uint(client) + _uint(29_999) + _uint(1) + _uint(3) + b"{{{"
    return _uint(1) + _uint(count + 1) + _uint(client) + _uint(clock) + body + json + b"\x00"


async def test_a_big_update_refused_after_some_pieces_reloads_the_room() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    room = await manager.acquire("r")
    await room.apply_update(client_update("kept ✓ 中文"), "x")  # type: ignore[misc]
    with pytest.raises(InvalidUpdate):
        await asyncio.wait_for(room.apply(_forged_after_valid_pieces(), "forger"), 30)
    assert room.failed, "the Doc held part of a refused update: it is reloaded"
    again = await manager.acquire("r")
    assert again is not room
    assert len(again.doc.get("items", type=Array)) == 0, "nothing of the refused update"
    assert str(again.doc.get("content", type=Text)) == "kept ✓ 中文"
    assert again.seq == 1
    manager.release(again)
    await manager.aclose()


async def test_a_big_remote_update_goes_in_a_thread_in_order_with_the_next() -> None:
    manager = RoomManager(GatedStore())
    _peer, peer_t = await connect(manager, "r")
    room = await manager.acquire("r")
    appliers: list[str] = []
    room.doc.observe(lambda _event: appliers.append(threading.current_thread().name))
    big = big_update()
    assert room.apply_remote_update(big, 5) is True
    assert room.busy, "another node's big update is applied off the loop too"
    assert room.apply_remote_update(client_update("after it: שלום"), 6) is True
    await asyncio.wait_for(room.idle(), 30)
    assert appliers[0] != threading.current_thread().name
    assert appliers[-1] == threading.current_thread().name, "the small one on the loop"
    assert len(room.doc.get("items", type=Array)) == 60_000
    assert str(room.doc.get("content", type=Text)) == "after it: שלום"
    assert room.seq == 6
    await eventually(lambda: len(updates_received(peer_t)) >= 2, what="both broadcasts")
    assert updates_received(peer_t)[0] == big, "broadcast whole, first"
    assert room.apply_remote_update(big, 7) is True  # queued; changes nothing this time
    await asyncio.wait_for(room.idle(), 30)
    assert len(updates_received(peer_t)) == 2, "nothing new: no broadcast"
    manager.release(room)
    await manager.aclose()


async def test_big_updates_of_every_room_share_one_thread() -> None:
    manager = RoomManager(GatedStore())
    rooms = [await manager.acquire(f"r{n}") for n in range(3)]
    threads: set[str] = set()
    for room in rooms:
        room.doc.observe(lambda _event: threads.add(threading.current_thread().name))
    applying = [
        room.apply_update_soon(big_update(client_id=100 + n), "big") for n, room in enumerate(rooms)
    ]
    assert all(room.busy for room in rooms)
    for future in await asyncio.wait_for(asyncio.gather(*applying), 60):
        assert future is not None
        await future
    assert len(threads) == 1 and threads.pop().startswith("samepage-apply"), (
        "one thread for every room: several would each take the GIL from the loop"
    )
    for room in rooms:
        assert len(room.doc.get("items", type=Array)) == 60_000
        manager.release(room)
    await manager.aclose()
