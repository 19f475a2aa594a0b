"""Room epochs in the sync layer: a reset under way refuses updates and holds joins;
a failed reset changes nothing (clients 1013, back to the same document); a stale
document is refused by its state vector or its updates."""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Doc, Text

from storage.memory import MemoryStore
from storage.types import EpochEnd, StoreError
from sync import protocol
from sync.epochs import NO_CLAIM, RoomEpoch, StaleDocument, epoch_claim
from sync.errors import CloseCode, RoomUnavailable
from sync.handler import handle_frame
from sync.manager import RoomManager
from tests.helpers.clients import eventually
from tests.sync.test_room import client_update, connect


class FailingReset(MemoryStore):
    """A store whose reset fails once it has been asked (the database went away)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = asyncio.Event()
        self.go = asyncio.Event()

    async def end_epoch(self, room: str, how: str, keep: bool) -> EpochEnd:
        self.asked.set()
        await self.go.wait()
        raise StoreError("database unreachable")


async def test_a_failed_reset_changes_nothing() -> None:
    store = FailingReset()
    manager = RoomManager(store)
    conn, transport = await connect(manager, "r")
    await handle_frame(conn, protocol.encode_update(client_update("kept")))
    await eventually(lambda: manager.rooms["r"].seq == 1)
    reset = asyncio.create_task(manager.end_epoch("r", "reset", True))
    await store.asked.wait()
    room = manager.rooms["r"]
    with pytest.raises(RoomUnavailable):  # frozen: an update now waits for the outcome
        room.apply_update(client_update("during"), "x")
    joining = asyncio.create_task(manager.acquire("r"))
    await asyncio.sleep(0.01)
    assert not joining.done()  # joins wait for the reset
    store.go.set()
    with pytest.raises(StoreError):
        await reset
    await eventually(lambda: transport.close_code == CloseCode.TRY_AGAIN_LATER)
    again = await joining
    assert again is not room and again.life.epoch == 0
    assert str(again.doc.get("content", type=Text)) == "kept"


async def test_a_reset_closes_4410_with_the_new_epoch_and_refuses_the_old_doc() -> None:
    manager = RoomManager(MemoryStore())
    conn, transport = await connect(manager, "r")
    old = Doc()
    old.get("content", type=Text).insert(0, "old")
    await handle_frame(conn, protocol.encode_update(old.get_update()))
    await eventually(lambda: manager.rooms["r"].seq == 1)
    end = await manager.end_epoch("r", "reset", True)
    assert end.epoch == 1
    await eventually(lambda: transport.close_code == CloseCode.ROOM_RESET)
    stale, _ = await connect(manager, "r")
    room = manager.rooms["r"]
    assert room.life.epoch == 1 and room.life.retired
    with pytest.raises(StaleDocument):
        await handle_frame(stale, protocol.encode_sync_step1(old.get_state()))
    with pytest.raises(StaleDocument):
        await handle_frame(stale, protocol.encode_sync_step2(old.get_update()))
    assert str(room.doc.get("content", type=Text)) == ""
    fresh, _ = await connect(manager, "r")
    await handle_frame(fresh, protocol.encode_update(client_update("new")))
    assert str(room.doc.get("content", type=Text)) == "new"


def test_claims_and_checks() -> None:
    assert epoch_claim(None) is None
    assert epoch_claim("") == NO_CLAIM and epoch_claim("x") == NO_CLAIM
    assert epoch_claim(" 3 ") == 3
    life = RoomEpoch(2)
    life.check_claim(None)
    life.check_claim(NO_CLAIM)
    life.check_claim(2)
    for wrong in (0, 1, 3):
        with pytest.raises(StaleDocument, match="room reset: epoch 2"):
            life.check_claim(wrong)
    life.check_update(b"\xff\xff")  # undecodable: left to the apply to refuse
