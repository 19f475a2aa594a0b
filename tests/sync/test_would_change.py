"""`would_change` (what a read-only connection may send): decided from the update's
structs and the document's delete set, and always what applying it would do."""

from __future__ import annotations

from typing import Any

from hypothesis import given, note, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from storage.ytext import byte_offset
from sync.updates import DeleteRanges, update_facts
from sync.updates import would_change as would_change_facts
from tests.properties.ydocs import PycrdtWriter


def _changes(doc: Doc[Any], update: bytes) -> bool:
    """The truth: apply it to a copy and watch."""
    scratch: Doc[Any] = Doc()
    scratch.apply_update(doc.get_update())
    changed: list[bool] = []
    scratch.observe(lambda _event: changed.append(True))
    scratch.apply_update(update)
    return bool(changed)


def would_change(doc: Doc[Any], update: bytes) -> bool:
    return would_change_facts(doc, update_facts(update))


def _synced_pair(text: str) -> tuple[Doc[Any], Doc[Any]]:
    server: Doc[Any] = Doc(client_id=1)
    server.get("content", type=Text).insert(0, text)
    viewer: Doc[Any] = Doc(client_id=2)
    viewer.apply_update(server.get_update())
    return server, viewer


def test_a_synced_viewers_sync_step_2_changes_nothing() -> None:
    text = "héllo 👍🏽 wörld 中文 שלום " * 50
    server, viewer = _synced_pair(text)
    content = server.get("content", type=Text)
    del content[byte_offset(text, 200) : byte_offset(text, 260)]  # pycrdt counts bytes
    del content[0 : byte_offset(text, 6)]
    viewer.apply_update(server.get_update(viewer.get_state()))
    for update in (viewer.get_update(), viewer.get_update(server.get_state())):
        assert not _changes(server, update)
        assert not would_change(server, update)


def test_a_viewers_own_delete_or_insert_is_a_change() -> None:
    server, viewer = _synced_pair("abc 👍🏽 def")
    before = viewer.get_state()
    del viewer.get("content", type=Text)[0:2]  # "ab": ASCII, bytes are characters
    deleted = viewer.get_update(before)
    assert would_change(server, deleted) and _changes(server, deleted)
    inserted: Doc[Any] = Doc(client_id=3)
    inserted.get("content", type=Text).insert(0, "x")
    assert would_change(server, inserted.get_update())


def test_delete_ranges_merge_and_cover() -> None:
    held = DeleteRanges([(5, 10, 5), (5, 15, 5), (5, 30, 2), (6, 0, 1)])
    assert held.covers(5, 10, 10) and held.covers(5, 12, 3) and held.covers(5, 30, 2)
    assert not held.covers(5, 9, 2) and not held.covers(5, 19, 2) and not held.covers(5, 25, 1)
    assert held.covers(6, 0, 1) and not held.covers(7, 0, 1) and held.covers(7, 0, 0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(5, 60))
def test_would_change_is_what_applying_does(seed: int, steps: int) -> None:
    print(f"seed={seed} steps={steps}")
    note(f"seed={seed}")
    writer = PycrdtWriter(seed, 2)
    writer.run(steps)
    server, other = writer.docs
    for update in (
        other.get_update(),
        other.get_update(server.get_state()),
        server.get_update(),
        server.get_update(server.get_state()),
    ):
        assert would_change(server, update) == _changes(server, update)
