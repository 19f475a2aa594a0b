"""The text timeline against Yrs: after every stored update, the text it gives equals
the text of a Yrs doc that applied the same rows — for several clients editing
concurrently, syncing peer to peer, sending merged or out-of-order updates (pending
structs and deletes), non-ASCII text, other root types, formats and embeds, and for a
timeline started from a checkpoint."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Array, Doc, Map, Text

from storage.texthistory.timeline import TextTimeline, TimelineUnsupported

# (client, kind, where in [0, 1], what)
OP = st.tuples(
    st.integers(0, 3),
    st.sampled_from(["insert", "insert", "delete", "p2p", "send", "send_merged", "other"]),
    st.floats(0, 1),
    st.text(alphabet="ab \néü日😀", min_size=1, max_size=4),
)
RICH = st.sampled_from(["map", "array", "format", "embed"])
IDS = st.lists(st.integers(1, 2**53 - 1), min_size=4, max_size=4, unique=True)


def byte_offset(text: str, index: int) -> int:
    """pycrdt indexes text in UTF-8 bytes: the offset of character `index`."""
    return len(text[:index].encode())


class Session:
    """Clients editing one doc and a server applying, in order, what they send."""

    def __init__(self, clients: int, ids: list[int] | None = None) -> None:
        # Client ids decide YATA's tie-breaks: drawn, so a failing example replays.
        self.docs: list[Doc[Any]] = [
            Doc(client_id=ids[i]) if ids else Doc() for i in range(clients)
        ]
        self.outbox: list[list[bytes]] = [[] for _ in range(clients)]
        for index, doc in enumerate(self.docs):
            doc.observe(lambda event, i=index: self.outbox[i].append(event.update))
        self.server: Doc[Any] = Doc()
        self.rows: list[bytes] = []

    def text(self, client: int) -> Text:
        return self.docs[client].get("content", type=Text)

    def store(self, update: bytes) -> None:
        self.server.apply_update(update)
        self.rows.append(update)

    def run(self, op: tuple[int, str, float, str], rich: str | None = None) -> None:
        client, kind, where, what = op
        client %= len(self.docs)
        text, doc = self.text(client), self.docs[client]
        current = str(text)
        at = int(where * len(current))
        if kind == "insert":
            text.insert(byte_offset(current, at), what)
        elif kind == "delete" and current:
            end = min(len(current), at + len(what))
            if end > at:
                del text[byte_offset(current, at) : byte_offset(current, end)]
        elif kind == "p2p":  # a peer learns it without the server
            peer = self.docs[(client + 1) % len(self.docs)]
            peer.apply_update(doc.get_update(peer.get_state()))
        elif kind == "send" and self.outbox[client]:
            self.store(self.outbox[client].pop(0))  # may depend on what it got p2p
        elif kind == "send_merged":
            self.outbox[client].clear()
            self.store(doc.get_update(self.server.get_state()))
        elif kind == "other" and rich is not None:
            if rich == "map":
                doc.get("meta", type=Map)[what] = at
            elif rich == "array":
                doc.get("list", type=Array).append({"v": what})
            elif rich == "format" and current:
                text.format(0, byte_offset(current, max(1, at)), {"bold": True})
            elif rich == "embed":
                text.insert_embed(byte_offset(current, at), {"image": what})

    def finish(self) -> None:
        for doc in self.docs:
            self.store(doc.get_update(self.server.get_state()))


def yrs_texts(rows: list[bytes], start: bytes | None = None) -> list[str]:
    """The text after each row in Yrs (from `start`, a checkpoint, when given)."""
    doc: Doc[Any] = Doc()
    if start is not None:
        doc.apply_update(start)
    text = doc.get("content", type=Text)
    texts = []
    for row in rows:
        doc.apply_update(row)
        texts.append(str(text))
    return texts


def check_timeline(rows: list[bytes], cut: int) -> None:
    """From the first row, and from a checkpoint after row `cut`."""
    timeline = TextTimeline("content")
    for seq, row in enumerate(rows, 1):
        timeline.apply(seq, row)
    for seq, expected in enumerate(yrs_texts(rows), 1):
        assert timeline.text_at(seq) == expected, seq
    assert timeline.text_at(0) == ""

    checkpoint_doc: Doc[Any] = Doc()
    for row in rows[:cut]:
        checkpoint_doc.apply_update(row)
    checkpoint = checkpoint_doc.get_update()
    later = TextTimeline("content", base=cut)
    later.apply(cut, checkpoint)
    for seq, row in enumerate(rows[cut:], cut + 1):
        later.apply(seq, row)
    assert later.text_at(cut) == str(checkpoint_doc.get("content", type=Text))
    for seq, expected in enumerate(yrs_texts(rows[cut:], checkpoint), cut + 1):
        assert later.text_at(seq) == expected, seq


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    clients=st.integers(1, 4),
    ids=IDS,
    ops=st.lists(OP, min_size=10, max_size=120),
    cut=st.floats(0, 1),
)
def test_text_at_every_seq_equals_yrs(
    clients: int, ids: list[int], ops: list[Any], cut: float
) -> None:
    session = Session(clients, ids)
    for op in ops:
        session.run(op)
    session.finish()
    check_timeline(session.rows, int(cut * len(session.rows)))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 2), st.sampled_from(["insert", "delete", "send", "other"])
        ).flatmap(
            lambda t: st.tuples(st.just(t[0]), st.just(t[1]), st.floats(0, 1), st.just("xy"))
        ),
        min_size=1,
        max_size=50,
    ),
    rich=st.lists(RICH, min_size=50, max_size=50),
    ids=IDS,
    cut=st.floats(0, 1),
)
def test_other_types_formats_and_embeds_take_no_characters(
    ops: list[Any], rich: list[str], ids: list[int], cut: float
) -> None:
    session = Session(3, ids)
    for op, kind in zip(ops, rich, strict=False):
        session.run(op, kind)
    session.finish()
    check_timeline(session.rows, int(cut * len(session.rows)))


def test_a_burst_of_concurrent_typing_at_one_place_keeps_order_keys_apart() -> None:
    """Thousands of inserts at one spot exhaust the order keys' gaps: relabelling."""
    session = Session(2)
    for i in range(3000):
        client = i % 2
        text = session.text(client)
        text.insert(len(str(text)) // 2, "ab"[client])
        if i % 7 == 0:
            session.run((client, "send_merged", 0, ""))
        if i % 11 == 0:
            session.run((client, "p2p", 0, ""))
    session.finish()
    check_timeline(session.rows, len(session.rows) // 3)


@pytest.mark.parametrize(
    "update",
    [b"\x05", b"\x01\x01\xff\xff", b"\x01\x01\x01\x00\x1f", b"\x01\x01\x01\x00\x04\x01\x07con"],
)
def test_an_update_it_cannot_decode_stops_it_with_a_clear_error(update: bytes) -> None:
    timeline = TextTimeline("content")
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, "kept")
    timeline.apply(1, doc.get_update())
    with pytest.raises(TimelineUnsupported):
        timeline.apply(2, update)
    assert timeline.seq == 1 and timeline.text_at(1) == "kept"


def test_versions_outside_the_timeline_are_refused() -> None:
    timeline = TextTimeline("content", base=5)
    with pytest.raises(ValueError):
        timeline.text_at(4)
    with pytest.raises(ValueError):
        timeline.text_at(6)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_hostile_updates_only_ever_stop_it(data: st.DataObject) -> None:
    """Random bytes, and valid updates cut short or with bytes flipped: the timeline
    either follows them or raises TimelineUnsupported — never anything else — and the
    versions before stay exact."""
    session = Session(2, data.draw(IDS))
    for op in data.draw(st.lists(OP, min_size=1, max_size=12)):
        session.run(op)
    session.finish()
    timeline = TextTimeline("content")
    texts = yrs_texts(session.rows)
    for seq, row in enumerate(session.rows, 1):
        timeline.apply(seq, row)
    # Drawn independently of the rows (their client ids are random), then applied.
    kind = data.draw(st.sampled_from(["random", "flip", "cut"]))
    row = session.rows[data.draw(st.integers(0, 10_000)) % len(session.rows)]
    at = int(data.draw(st.floats(0, 1)) * len(row))
    if kind == "random":
        hostile = data.draw(st.binary(max_size=64))
    elif kind == "flip":
        hostile = row[:at] + bytes([data.draw(st.integers(0, 255))]) + row[at + 1 :]
    else:
        hostile = row[:at]
    head = len(session.rows)
    try:
        timeline.apply(head + 1, hostile)
    except TimelineUnsupported:
        pass
    for seq in range(1, head + 1):
        assert timeline.text_at(seq) == texts[seq - 1], seq
