"""The checkpoint builder's cursor: builds apply only new rows, and versions after the
last checkpoint are read from it — each exactly the document `doc_at` rebuilds."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from pycrdt import Doc, Text

from storage.checkpoints import AutoCheckpointer
from storage.history import doc_at
from storage.memory import MemoryStore


def text_of(doc: Doc[Any]) -> str:
    return str(doc.get("content", type=Text))


def random_edits(n: int, seed: int) -> tuple[list[bytes], list[str]]:
    """n updates (inserts and deletes at random places) and the text after each."""
    rnd = random.Random(seed)
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    texts = []
    for _ in range(n):
        length = len(str(text))
        if length and rnd.random() < 0.3:
            start = rnd.randrange(length)
            del text[start : min(length, start + rnd.randint(1, 3))]
        else:
            text.insert(rnd.randint(0, length), rnd.choice(["a", "bc", " ", "xyz"]))
        texts.append(str(text))
    return updates, texts


async def test_builds_reuse_the_cursor_and_later_versions_are_read_from_it() -> None:
    updates, texts = random_edits(60, seed=7)
    store = MemoryStore()
    await store.start()
    checkpointer = AutoCheckpointer(store, every=10)
    for update in updates[:35]:
        result = await store.append("r", update, "a")
        checkpointer.committed("r", result.seq)
        await asyncio.sleep(0)
    await checkpointer.aclose()
    built = checkpointer._cursors["r"].seq
    # builds run while appends go on (encoding in a worker thread): how far the last
    # one got depends on timing
    assert 10 <= built <= 35
    checkpoint = await store.checkpoint_before("r", 35)
    assert checkpoint is not None and checkpoint[0] == built
    stored: Doc[Any] = Doc()
    stored.apply_update(checkpoint[1])
    assert text_of(stored) == texts[built - 1]

    for update in updates[35:]:
        await store.append("r", update, "a")
    for k in [built, built + 3, built + 3, 50, 60]:  # forward: the cursor answers
        assert await checkpointer.read_at("r", k, text_of) == texts[k - 1], k
    assert await checkpointer.read_at("r", 55, text_of) is None  # behind it: rebuild
    assert text_of(await doc_at(store, "r", 55)) == texts[54]

    checkpointer.seen_load("r", built)
    checkpointer.committed("r", 60)  # the next build starts from the cursor at 60
    await checkpointer.aclose()
    checkpoint = await store.checkpoint_before("r", 60)
    assert checkpoint is not None and checkpoint[0] == 60
    stored = Doc()
    stored.apply_update(checkpoint[1])
    assert text_of(stored) == texts[-1]
    checkpointer.forget("r")
    assert await checkpointer.read_at("r", 60, text_of) is None
    await store.aclose()
