"""Text tracks: the text of any version without decoding a checkpoint must be exactly
what replaying the CRDT gives, for concurrent edits, non-ASCII text, checkpoints at any
points and after compaction."""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import pytest
from hypothesis import given, note, seed, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from storage.history import build_checkpoint, doc_at, text_at
from storage.memory import MemoryStore
from storage.text_track import TextTrack

SEED = int(os.environ.get("SAMEPAGE_TEST_SEED", random.randrange(2**32)))
ALPHABET = "ab é😀\n"

edit = st.tuples(
    st.integers(0, 2),  # which client
    st.booleans(),  # insert (else delete)
    st.integers(0, 10_000),
    st.text(ALPHABET, min_size=1, max_size=3),
    st.booleans(),  # deliver the other clients' pending updates first
)


def text_of(doc: Doc[Any]) -> str:
    return str(doc.get("content", type=Text))


def play(edits: list[tuple[int, bool, int, str, bool]]) -> tuple[list[bytes], list[str]]:
    """Three clients edit concurrently; the server log is the order updates arrive in.
    Returns the log and the text a server doc holds after each logged update."""
    clients: list[Doc[Any]] = [Doc() for _ in range(3)]
    outbox: list[list[bytes]] = [[] for _ in range(3)]
    for i, client in enumerate(clients):
        client.observe(lambda event, i=i: outbox[i].append(event.update))
    server: Doc[Any] = Doc()
    log: list[bytes] = []
    texts: list[str] = []

    def deliver(i: int) -> None:
        for update in outbox[i]:
            server.apply_update(update)
            log.append(update)
            texts.append(text_of(server))
            for j, other in enumerate(clients):
                if j != i:
                    other.apply_update(update)
        outbox[i].clear()

    for who, insert, pos, chars, sync_first in edits:
        if sync_first:
            for i in range(3):
                deliver(i)
        text = clients[who].get("content", type=Text)
        content = str(text)  # pycrdt's offsets are UTF-8 bytes
        if insert or not content:
            at = len(content[: pos % (len(content) + 1)].encode())
            text.insert(at, chars)
        else:
            start = pos % len(content)
            end = min(len(content), start + len(chars))
            del text[len(content[:start].encode()) : len(content[:end].encode())]
    for i in range(3):
        deliver(i)
    return log, texts


async def check(edits: list[Any], cuts: list[int], compact_at: int | None) -> None:
    log, texts = play(edits)
    store = MemoryStore()
    await store.start()
    await asyncio.gather(*(store.append("r", update, "a") for update in log))
    head = len(log)
    checkpoints = sorted({c % head + 1 for c in cuts})
    for c in checkpoints:
        await build_checkpoint(store, "r", c)
    if compact_at is not None and checkpoints:
        await store.delete_updates_covered("r", checkpoints[compact_at % len(checkpoints)], set())
    last = checkpoints[-1] if checkpoints else 0
    for k in range(0, head + 1):
        from_track = await text_at(store, "r", k)
        replayed = text_of(await doc_at(store, "r", k))
        if from_track is not None:
            assert from_track == replayed, f"seq {k}"
        elif compact_at is None and checkpoints and k <= last:
            pytest.fail(f"seq {k} is before the last checkpoint {last} but has no track")
        if compact_at is None:
            assert replayed == (texts[k - 1] if k else ""), f"seq {k}"
    await store.aclose()


@settings(max_examples=int(os.environ.get("SAMEPAGE_PROPERTY_EXAMPLES", "60")), deadline=None)
@seed(SEED)
@given(
    edits=st.lists(edit, min_size=1, max_size=40),
    cuts=st.lists(st.integers(0, 1000), max_size=5),
    compact_at=st.none() | st.integers(0, 10),
)
def test_track_text_equals_the_crdt_at_every_version(
    edits: list[Any], cuts: list[int], compact_at: int | None
) -> None:
    note(f"seed {SEED} (SAMEPAGE_TEST_SEED={SEED})")
    asyncio.run(check(edits, cuts, compact_at))


def test_encode_decode_and_bounds() -> None:
    # offsets are UTF-8 bytes: "é" is 2
    track = TextTrack(4, "héllo", [["X"], [], [2, -2, "e"], [-1]])
    again = TextTrack.decode(track.encode())
    assert again == track and again.upto_seq == 8
    assert [again.text_at(s) for s in range(4, 9)] == [
        "héllo",
        "Xhéllo",
        "Xhéllo",
        "Xhello",
        "hello",
    ]
    with pytest.raises(ValueError):
        again.text_at(3)
    with pytest.raises(ValueError):
        again.text_at(9)


async def test_auto_checkpoints_reuse_their_cursor_and_track_every_version() -> None:
    from storage.history import AutoCheckpointer

    log, texts = play([(i % 3, True, i * 7, "xé😀"[i % 3], i % 4 == 0) for i in range(40)])
    store = MemoryStore()
    await store.start()
    checkpointer = AutoCheckpointer(store, every=5)
    half = len(log) // 2
    for update in log[:half]:
        result = await store.append("r", update, "a")
        checkpointer.committed("r", result.seq)
        await asyncio.sleep(0)  # let a due build run before the next commit
    await checkpointer.aclose()
    cursor = checkpointer._cursors["r"]
    built = cursor.seq
    assert built >= half - 5 and text_of(cursor.doc) == texts[built - 1]
    for k in range(1, built + 1):
        assert await text_at(store, "r", k) == texts[k - 1], f"seq {k}"
    checkpoint = await store.checkpoint_before("r", built)
    assert checkpoint is not None and checkpoint[0] == built
    rebuilt: Doc[Any] = Doc()
    rebuilt.apply_update(checkpoint[1])
    assert text_of(rebuilt) == texts[built - 1]

    # past the last checkpoint no track is stored: the cursor answers, in any order
    for update in log[half:]:
        await store.append("r", update, "a")
    head = len(log)
    for k in [head, built + 1, head - 1, *range(built, head + 1)]:
        assert await store.text_track_covering("r", k) is None or k <= built
        assert await checkpointer.text_at("r", k) == texts[k - 1], f"seq {k}"
    assert checkpointer._cursors["r"].seq == head
    # the next build stores the track the cursor recorded: every version is covered
    checkpointer.seen_load("r", built)
    checkpointer.committed("r", head)
    await checkpointer.aclose()
    for k in range(1, head + 1):
        assert await text_at(store, "r", k) == texts[k - 1], f"seq {k}"
    checkpointer.forget("r")
    assert "r" not in checkpointer._cursors
    # a fresh checkpointer opens a cursor from the latest checkpoint
    assert await AutoCheckpointer(store, every=5).text_at("r", head) == texts[-1]
    await store.aclose()
