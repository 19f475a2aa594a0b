"""storage.ytext: text by code points over pycrdt's UTF-8 byte offsets, bounded diffs,
delta tracking and the event feed's patches — with the text people really write."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from storage.ytext import (
    TEXT_ROOT,
    TextReplay,
    Utf8Text,
    byte_offsets,
    diff_ops,
    replay_patches,
    set_text,
    splice,
)

PIECES = [
    "a", "Z", " ", "\n", "é", "e\u0301", "ö", "ñ", "ß", "😀", "👍🏽", "👨‍👩‍👧", "🇫🇷",
    "中", "文字", "日本語", "한", "שלום", "مرحبا", "\u200f", "x😀y😀z", "héllo wörld",
]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)


def apply(a: str, b: str) -> str:
    out, at = [], 0
    for op in diff_ops(a, b):
        out.append(a[at : op.a1])
        out.append(b[op.b1 : op.b2])
        at = op.a2
    out.append(a[at:])
    return "".join(out)


@given(texts, texts)
def test_diff_ops_turn_one_text_into_the_other(a: str, b: str) -> None:
    assert apply(a, b) == b


def test_diff_ops_stay_bounded_on_large_texts() -> None:
    rng = random.Random(7)
    a = "".join(rng.choice(PIECES) for _ in range(40_000))
    b = "".join(rng.choice(PIECES) for _ in range(40_000))
    assert apply(a, b) == b  # takes ~1 s by line and coarse replace; difflib alone: minutes
    one_line = "x" * 100_000
    assert apply(one_line, one_line[:50_000] + "é" + one_line[50_000:]).count("é") == 1


def test_byte_offsets() -> None:
    text = "aé😀中b"
    assert byte_offsets(text, [0, 1, 2, 3, 4, 5]) == [0, 1, 3, 7, 10, 11]
    assert byte_offsets("abc", [1, 3]) == [1, 3]


def _doc_with(text: str) -> tuple[Doc, Text]:
    doc: Doc = Doc()
    ytext = doc.get(TEXT_ROOT, type=Text)
    ytext.insert(0, text)
    return doc, ytext


@settings(max_examples=60, deadline=None)
@given(texts, texts)
def test_set_text_makes_the_text_read_the_target_and_survives_encoding(a: str, b: str) -> None:
    doc, ytext = _doc_with(a)
    set_text(ytext, b)
    assert str(ytext) == b
    copy: Doc = Doc()
    copy.apply_update(doc.get_update())
    assert str(copy.get(TEXT_ROOT, type=Text)) == b


def test_splice_counts_code_points() -> None:
    _doc, ytext = _doc_with("x😀y😀z")
    current = splice(ytext, "x😀y😀z", 2, 1, "é")
    assert current == str(ytext) == "x😀é😀z"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_replayed_patches_reproduce_every_version(seed: int) -> None:
    """Random code-point edits (some with embeds and formatting) made as separate
    updates; the patches, applied in order to the first text, give every version."""
    rng = random.Random(seed)
    print(f"seed={seed}")
    writer: Doc = Doc()
    ytext = writer.get(TEXT_ROOT, type=Text)
    current, updates, texts_seen = "", [], []
    for seq in range(1, 40):
        before = writer.get_state()
        index = rng.randint(0, len(current))
        if current and rng.random() < 0.35:
            stop = min(len(current), index + rng.randint(1, 3))
            current = splice(ytext, current, index, stop - index, "")
        elif rng.random() < 0.05:
            ytext.insert_embed(len(ytext), {"img": seq})  # at the end: offsets unaffected
        else:
            current = splice(ytext, current, index, 0, rng.choice(PIECES))
            if rng.random() < 0.1:
                ytext.format(0, len(ytext), {"bold": True})
        updates.append((seq, writer.get_update(before), "w"))
        texts_seen.append(str(ytext))
    text = ""
    for patch, want in zip(replay_patches([], updates), texts_seen, strict=True):
        text = text[: patch["index"]] + patch["insert"] + text[patch["index"] + patch["delete"] :]
        assert text == want


def test_utf8_text_tracks_deltas_in_code_points() -> None:
    _doc, ytext = _doc_with("héllo")
    tracked = Utf8Text.of(ytext)
    deltas: list = []
    ytext.observe(lambda event: deltas.append(event.delta))
    ytext.insert(len("hé".encode()), "😀")
    (change,) = tracked.apply_delta(deltas[-1])
    assert (change.index, change.insert) == (2, "😀")
    assert str(tracked) == str(ytext) == "hé😀llo"


def test_replay_starts_from_a_version() -> None:
    doc, ytext = _doc_with("שלום")
    replay = TextReplay([doc.get_update()])
    before = doc.get_state()
    ytext.insert(len(ytext), " 世界")
    patch = replay.apply(2, doc.get_update(before), "a")
    assert (patch["index"], patch["delete"], patch["insert"]) == (4, 0, " 世界")


async def test_a_long_range_is_diffed_by_its_ends() -> None:
    """Over MAX_REPLAY updates a diff gives the net difference of the two versions
    (exact) and no per-update changes, flagged truncated."""
    from storage import changes as timeline
    from storage.memory import MemoryStore

    store = MemoryStore()
    await store.start()
    writer: Doc = Doc()
    ytext = writer.get(TEXT_ROOT, type=Text)
    current = ""
    old_replay = timeline.MAX_REPLAY
    timeline.MAX_REPLAY = 10
    try:
        for i in range(30):
            before = writer.get_state()
            current = splice(ytext, current, len(current), 0, PIECES[i % len(PIECES)])
            await store.append("r", writer.get_update(before), "w")
        await store.flush()
        short = await timeline.diff(store, "r", 20, 30)
        long = await timeline.diff(store, "r", 5, 30)
    finally:
        timeline.MAX_REPLAY = old_replay
        await store.aclose()
    assert short.changes and not short.truncated and short.to_text == current
    assert long.changes == [] and long.truncated and long.to_text == current
    assert apply(long.from_text, long.to_text) == current
