"""What changed between two versions, positioned in characters (pycrdt's own text
offsets are UTF-8 bytes)."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Text

from storage.changes import diff
from storage.memory import MemoryStore


async def test_diff_positions_are_characters_in_non_ascii_text() -> None:
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text.insert(0, "héllo😀")
    text.insert(len("héllo😀".encode()), "X")  # after the emoji: byte 10, character 6
    del text[1:3]  # "é": bytes 1-3, character 1
    assert str(text) == "hllo😀X"
    store = MemoryStore()
    await store.start()
    for update in updates:
        await store.append("r", update, "ann")
    result = await diff(store, "r", 0, 3)
    assert [(c.kind, c.index, c.text, c.length) for c in result.changes] == [
        ("insert", 0, "héllo😀", 6),
        ("insert", 6, "X", 1),
        ("delete", 1, "", 1),
    ]
    assert result.to_text == "hllo😀X"
    await store.aclose()
