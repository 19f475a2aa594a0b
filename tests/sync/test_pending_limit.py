"""Updates waiting for a dependency are counted (close 4532 past the limit), including
incremental ones — whose structs start past clock 0, which pycrdt's `get_state(update)`
does not see — and they are stored, so nothing is lost when the dependency arrives."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text

from sync.errors import CloseCode, LimitExceeded
from sync.manager import RoomManager
from tests.helpers.fakes import GatedStore


def _typed(pieces: list[str]) -> list[bytes]:
    """One writer's incremental updates, one per piece (each starts past clock 0)."""
    writer: Doc[Any] = Doc(client_id=4711)
    text = writer.get("content", type=Text)
    updates = []
    for piece in pieces:
        before = writer.get_state()
        text += piece
        updates.append(writer.get_update(before))
    return updates


async def test_incremental_updates_missing_their_start_are_counted_and_kept() -> None:
    pieces = ["héllo ", "wörld 👍🏽 ", "中文 ", "שלום"]
    first, *rest = _typed(pieces)
    store = GatedStore()
    manager = RoomManager(store)
    room = await manager.acquire("r")
    for n, update in enumerate(rest, 1):
        future = room.apply_update(update, "relay")
        assert future is not None, "stored although it waits"
        await future
        assert room.pending_bytes == sum(len(u) for u in rest[:n])
    assert str(room.doc.get("content", type=Text)) == ""
    future = room.apply_update(first, "late")
    assert future is not None
    await future
    assert room.pending_bytes == 0
    assert str(room.doc.get("content", type=Text)) == "".join(pieces)
    manager.release(room)
    await manager.aclose()


async def test_too_many_pending_bytes_close_4532_and_reload_the_room() -> None:
    store = GatedStore()
    manager = RoomManager(store)
    room = await manager.acquire("r")
    kept = Doc(client_id=1)
    kept.get("content", type=Text).insert(0, "kept ✓")
    await room.apply_update(kept.get_update(), "x")  # type: ignore[misc]
    room.max_pending_bytes = 300
    _first, *gap = _typed([f"piece {i} é👍 " for i in range(40)])
    with pytest.raises(LimitExceeded) as refused:
        for update in gap:
            future = room.apply_update(update, "attacker")
            if future is not None:
                await future
    assert refused.value.code == CloseCode.PENDING_TOO_BIG
    assert room.failed, "Yrs keeps pending structs: only a reload drops them"
    again = await manager.acquire("r")
    assert str(again.doc.get("content", type=Text)) == "kept ✓"
    manager.release(again)
    await manager.aclose()
