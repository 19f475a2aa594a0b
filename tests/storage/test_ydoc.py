"""`storage.ydoc`: the hot path's shortcut around pycrdt's transaction wrapper does what
`Doc.apply_update` / `Doc.get_state` do, in every case the wrapper handles."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Doc, Text, TransactionEvent

from storage import ydoc

SCRIPTS = "café e\u0301 👩🏽‍💻 日本語 עברית العربية"


def _updates() -> list[bytes]:
    source: Doc[Any] = Doc()
    text = source.get("content", type=Text)
    out: list[bytes] = []
    source.observe(lambda event: out.append(event.update))
    for i, char in enumerate(SCRIPTS * 3):
        text.insert(len(text) if i % 7 else 0, char)
    del text[2:5]
    return out


def test_same_document_same_events_same_state_vector() -> None:
    updates = _updates()
    docs: list[Doc[Any]] = [Doc(), Doc()]
    seen: list[list[bytes]] = [[], []]
    for doc, events in zip(docs, seen, strict=True):
        doc.observe(lambda event, events=events: events.append(event.update))
    for update in updates:
        docs[0].apply_update(update)
        ydoc.apply_update(docs[1], update)
        assert ydoc.state_vector(docs[1]) == docs[0].get_state() == docs[1].get_state()
    assert seen[0] == seen[1] and len(seen[1]) == len(updates)
    assert str(docs[1].get("content", type=Text)) == str(docs[0].get("content", type=Text))


def test_observer_errors_and_bad_updates_raise_as_pycrdt_does() -> None:
    doc: Doc[Any] = Doc()

    def broken(_event: TransactionEvent) -> None:
        raise ZeroDivisionError

    doc.observe(broken)
    with pytest.raises(ExceptionGroup) as raised:
        ydoc.apply_update(doc, _updates()[0])
    assert isinstance(raised.value.exceptions[0], ZeroDivisionError)
    with pytest.raises(ValueError):
        ydoc.apply_update(Doc(), b"\x05\x05\x05")
    assert ydoc.state_vector(doc) == doc.get_state()  # no transaction left open


def test_inside_an_open_transaction_it_uses_that_transaction() -> None:
    doc: Doc[Any] = Doc()
    updates = _updates()
    with doc.transaction():
        for update in updates:
            ydoc.apply_update(doc, update)
        inside = ydoc.state_vector(doc)
    plain: Doc[Any] = Doc()
    for update in updates:
        plain.apply_update(update)
    assert inside == doc.get_state() == plain.get_state()
    assert str(doc.get("content", type=Text)) == str(plain.get("content", type=Text))
