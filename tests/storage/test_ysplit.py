"""storage/ysplit.py: a big update applied in pieces makes the same document as applied
whole, and each piece finds its dependencies already there (nothing waits as pending),
for documents that several clients wrote in every root kind and every script."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Text, get_state, merge_updates

from storage.pending import decode_state, unintegrated
from storage.ysplit import apply_in_pieces, split_update, state_of_parts, use_pieces
from storage.yupdate import TYPE, UpdateFormatError, decode_update
from sync.content import json_of_state
from tests.properties.ydocs import PycrdtWriter


def _whole(update: bytes) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return doc


def _same_document(a: Doc[Any], b: Doc[Any]) -> None:
    assert decode_state(a.get_state()) == decode_state(b.get_state())
    assert json_of_state(a.get_update()) == json_of_state(b.get_update())


def _apply_checking_order(update: bytes, piece_bytes: int) -> Doc[Any]:
    """Apply `update`'s pieces one by one: after each, the doc holds all of it."""
    doc: Doc[Any] = Doc()
    split = split_update(update, piece_bytes)
    for n, piece in enumerate(split.pieces):
        doc.apply_update(piece)
        assert unintegrated(piece, doc.get_state()) is None, f"piece {n} left pending"
    have = decode_state(doc.get_state())
    assert all(have.get(client, 0) >= clock for client, clock in split.state.items())
    return doc


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    clients=st.integers(2, 4),
    piece_bytes=st.sampled_from([1, 40, 300, 4096]),
)
def test_pieces_make_the_same_document(seed: int, clients: int, piece_bytes: int) -> None:
    print(f"seed={seed} clients={clients} piece_bytes={piece_bytes}")
    note(f"seed={seed}")
    _kinds, updates = PycrdtWriter(seed, clients).run(80)
    state = merge_updates(*updates)  # one update with every client's structs and deletes
    _same_document(_apply_checking_order(state, piece_bytes), _whole(state))


def test_a_single_clients_tiny_items_split_into_bounded_pieces() -> None:
    writer: Doc[Any] = Doc(client_id=7)
    items = writer.get("items", type=Array)
    with writer.transaction():
        writer.get("content", type=Text).insert(0, "héllo 👍🏽 中文 שלום")
        for i in range(20_000):
            items.insert(0, [i % 7])  # at the front: 20,000 structs that do not merge
    update = writer.get_update()
    split = split_update(update, 4096)
    assert len(split.pieces) >= len(update) // 4096
    assert max(len(piece) for piece in split.pieces) < 4096 + 64
    assert split.state == {7: 20_000 + len("héllo 👍🏽 中文 שלום".encode("utf-16-le")) // 2}
    _same_document(_apply_checking_order(update, 4096), _whole(update))


def test_a_big_delete_set_is_split_by_ranges() -> None:
    writers: list[Doc[Any]] = [Doc(client_id=c) for c in (11, 12)]
    for writer in writers:
        with writer.transaction():
            writer.get("content", type=Text).insert(0, "abcdef" * 3000)
    writers[0].apply_update(writers[1].get_update())
    text = writers[0].get("content", type=Text)
    with writers[0].transaction():
        for start in range(30_000, 0, -7):  # 3 of every 7 characters: separate ranges
            del text[start : start + 3]
    update = writers[0].get_update()
    split = split_update(update, 256)
    assert sum(1 for piece in split.pieces if piece[:1] == b"\x00") > 2, "delete pieces"
    assert set(split.deletes_reach) <= {11, 12} and split.deletes_reach
    _same_document(_apply_checking_order(update, 256), _whole(update))


def test_updates_it_cannot_read_are_applied_whole() -> None:
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, "x" * 100)
    update = doc.get_update()
    for broken in (update[:-3], update + b"\x05", b"\x05" + update[1:]):
        with pytest.raises(UpdateFormatError):
            split_update(broken, 1)
        target: Doc[Any] = Doc()
        try:
            target.apply_update(broken)
        except Exception as exc:  # pycrdt's own error, whole or in pieces
            with pytest.raises(type(exc)):
                apply_in_pieces(Doc(), broken, 0, 1)
        else:
            applied: Doc[Any] = Doc()
            apply_in_pieces(applied, broken, 0, 1)
            assert get_state(applied.get_update()) == get_state(target.get_update())


def test_small_updates_are_applied_whole() -> None:
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, "small")
    assert apply_in_pieces(Doc(), doc.get_update()) is None


@pytest.mark.parametrize("seed", [3, 17, 2024])
def test_state_of_parts_is_the_merged_documents_state(seed: int) -> None:
    _kinds, updates = PycrdtWriter(seed, 3).run(60)  # rows: incremental, several clients
    merged = merge_updates(*updates)
    expected = decode_state(get_state(merged))
    assert decode_state(state_of_parts(updates)) == expected
    assert decode_state(state_of_parts([merged])) == expected


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_damaged_updates_never_hang_and_pieces_agree_with_whole(
    seed: int, flips: list[tuple[int, int]]
) -> None:
    """Bytes flipped in a multi-client update: split or refused, never a hang or an
    unexpected error. When Yrs takes it whole: in pieces, the same document; or, when
    the flip made references that can never be met, at least as much of it, or refused."""
    print(f"seed={seed} flips={flips}")
    _kinds, updates = PycrdtWriter(seed, 3).run(30)
    damaged = bytearray(merge_updates(*updates))
    for at, value in flips:
        damaged[at % len(damaged)] = value
    update = bytes(damaged)
    outcomes = []
    for apply in (lambda d: d.apply_update(update), lambda d: apply_in_pieces(d, update, 0, 64)):
        doc: Doc[Any] = Doc()
        try:
            apply(doc)
        except BaseException as exc:  # ValueError, PartlyApplied or Yrs's PanicException
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            outcomes.append(None)
        else:
            outcomes.append(doc)
    whole, pieces = outcomes
    if whole is None:
        return
    broken = _inconsistent(update)
    note(f"inconsistent: {broken}")
    if pieces is None:
        # Refusing is right for an update that is not a document; Yrs, taking it whole,
        # left the broken part pending instead.
        assert broken, "Yrs took a consistent update whole, so in pieces too"
        return
    got, want = decode_state(pieces.get_state()), decode_state(whole.get_state())
    if broken:
        # References to nobody (a flip renamed a client): Yrs keeps what waits on them
        # pending, and in pieces (dependency order) less of it waits.
        assert all(got.get(client, 0) >= clock for client, clock in want.items())
    else:
        assert got == want


def _inconsistent(update: bytes) -> str | None:
    """Why `update` is not a document by itself: a struct's origins or parent can never be
    there (an ID the update does not hold, or a cycle), or a parent is not a shared type;
    None when neither. Integrates in any order that works, as a fixpoint."""
    try:
        decoded = decode_update(update)
    except UpdateFormatError as exc:
        return str(exc)
    kinds = {(s.client, s.clock): s.ref for s in decoded.structs if s.length == 1}
    queues: dict[int, list[Any]] = {}
    for struct in decoded.structs:
        if isinstance(struct.parent, tuple) and kinds.get(struct.parent, TYPE) != TYPE:
            return f"{struct.client}#{struct.clock} has a parent that is not a type"
        queues.setdefault(struct.client, []).append(struct)
    done = {client: structs[0].clock for client, structs in queues.items()}
    progress = True
    while progress:
        progress = False
        for client, structs in queues.items():
            while structs and all(
                ref[1] < done.get(ref[0], 0)
                for ref in (structs[0].origin, structs[0].right_origin, structs[0].parent)
                if isinstance(ref, tuple)
            ):
                done[client] = structs[0].clock + structs[0].length
                structs.pop(0)
                progress = True
    stuck = [structs[0] for structs in queues.values() if structs]
    return f"{stuck[0].client}#{stuck[0].clock} waits for nothing there" if stuck else None


def test_processes_without_an_event_loop_apply_whole() -> None:
    """The server's worker processes and the CLI turn pieces off (`use_pieces(False)`):
    there the split only costs. The document is the same."""
    _kinds, updates = PycrdtWriter(5, 3).run(40)
    update = merge_updates(*updates)
    use_pieces(False)
    try:
        whole: Doc[Any] = Doc()
        assert apply_in_pieces(whole, update, 0, 64) is None
    finally:
        use_pieces(True)
    pieces: Doc[Any] = Doc()
    assert apply_in_pieces(pieces, update, 0, 64) is not None
    _same_document(whole, pieces)
