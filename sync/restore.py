"""Restoring a version as a new edit: make a Doc's roots equal a target Doc's with the
smallest edits the types allow (text by a bounded diff in code points, so cursors in
unchanged parts stay put); history is not rewritten. Root types come from each
document's structs (`storage.roots`), never from guessed views."""

from __future__ import annotations

import random
from typing import Any

from pycrdt import (
    Array,
    Doc,
    Map,
    Text,
    XmlElement,
    XmlFragment,
    XmlText,
    get_state,
)

from storage.history import doc_of
from storage.roots import RootKind, root_shapes
from storage.ytext import set_text
from sync.content import (
    TEXT_ROOT,
    is_rich,
    plain_array,
    render,
    root_view,
    value_depth,
    xml_attributes,
)
from sync.protocol import decode_state_vector


def fresh_doc(state: bytes) -> Doc[Any]:
    """A copy of `state` under a client id no struct in it uses (edits made here become
    an update of their own, applied to the live room through its normal write path)."""
    doc: Doc[Any] = Doc(client_id=_new_client_id(state))
    doc.apply_update(state)
    return doc


def _new_client_id(state: bytes) -> int:
    used = set(decode_state_vector(get_state(state)))
    while True:
        candidate = random.randrange(1, 2**31)
        if candidate not in used:
            return candidate


def copy_value(value: Any) -> Any:
    """A shared type (or plain value) as a fresh, unintegrated value to insert."""
    if isinstance(value, (XmlText, Text)):  # formatting follows: see `_refine`
        plain = "".join(i for i, _ in value.diff() if isinstance(i, str))
        return XmlText(plain) if isinstance(value, XmlText) else Text(plain)
    if isinstance(value, Map):
        return Map({key: copy_value(item) for key, item in value.items()})
    if isinstance(value, Array):
        return Array([copy_value(item) for item in value])
    if isinstance(value, XmlElement):
        return XmlElement(
            value.tag, dict(xml_attributes(value)), [copy_value(c) for c in value.children]
        )
    if isinstance(value, XmlFragment):
        return XmlFragment([copy_value(c) for c in value.children])
    return value


def _refine(have: Any, want: Any) -> None:
    """After copies were inserted (unformatted: pycrdt's unintegrated texts take a
    plain string), give every nested text its formatting and embeds back."""
    if isinstance(have, (Text, XmlText)) and isinstance(want, (Text, XmlText)):
        if render(have) != render(want):
            _restore_text(have, want)
    elif isinstance(have, (XmlElement, XmlFragment)) and isinstance(want, type(have)):
        for child, wanted in zip(list(have.children), list(want.children), strict=False):
            _refine(child, wanted)
    elif isinstance(have, Map) and isinstance(want, Map):
        for key, wanted in want.items():
            if key in have:
                _refine(have[key], wanted)
    elif isinstance(have, Array) and isinstance(want, Array):
        for item, wanted in zip(list(have), list(want), strict=False):
            _refine(item, wanted)


def _restore_text(live: Text | XmlText, target: Text | XmlText) -> None:
    chunks = target.diff()
    if not is_rich(chunks) and not is_rich(live.diff()):
        set_text(live, "".join(insert for insert, _ in chunks))
        return
    if render(live) == render(target):
        return
    del live[0 : len(live)]  # formatting or embeds: write it again, run by run
    at = 0
    for insert, attrs in chunks:
        # explicit (even empty) attributes: Yrs would otherwise extend the formatting
        # of the run before
        if isinstance(insert, str):
            live.insert(at, insert, attrs or {})
            at += len(insert.encode())
        else:
            live.insert_embed(at, copy_value(insert), attrs or {})
            at += 1


def _restore_plain_array(live: Doc[Any], target: Doc[Any], name: str) -> None:
    """An array of plain values on both sides: compared and copied in one pass each
    (pycrdt's item-by-item access is quadratic on an array of many small inserts)."""
    want = plain_array(target.get(name, type=Array))
    have = live.get(name, type=Array)
    if plain_array(have) != want:
        # new items first, each at the front (pycrdt's extend inserts one by one at the
        # end, walking every item and tombstone before it: quadratic), then the old
        # ones removed in one range
        with live.transaction() as txn:
            for value in reversed(want):
                have.integrated.insert(txn._txn, 0, value)
        del have[len(want) :]


def _restore_root(
    live: Doc[Any], target: Doc[Any], name: str, kind: RootKind, plain: bool = False
) -> None:
    if kind is RootKind.ARRAY and plain:
        _restore_plain_array(live, target, name)
        return
    have = live.get(name, type=type(root_view(target, name, kind)))
    want = root_view(target, name, kind)
    if kind is RootKind.TEXT:
        _restore_text(have, want)
    elif kind is RootKind.MAP:
        for key in [k for k in have.keys() if k not in want]:
            del have[key]
        for key, value in want.items():
            if key not in have or render(have[key]) != render(value):
                have[key] = copy_value(value)
                _refine(have[key], value)
    elif render(have) != render(want):  # arrays and XML: written again when they differ
        if kind is RootKind.ARRAY:
            have.clear()
            have.extend([copy_value(item) for item in want])
        else:
            del have.children[0 : len(have.children)]
            for child in want.children:
                have.children.append(copy_value(child))
        _refine(have, want)


def _clear_root(live: Doc[Any], name: str, kind: RootKind) -> None:
    have = root_view(live, name, kind)
    if kind is RootKind.TEXT and len(have):
        del have[0 : len(have)]
    elif kind is RootKind.MAP:
        for key in list(have.keys()):
            del have[key]
    elif kind is RootKind.ARRAY and len(have):
        have.clear()
    elif kind is RootKind.XML and len(have.children):
        del have.children[0 : len(have.children)]


def restore_into(live: Doc[Any], target: Doc[Any]) -> None:
    """Change `live` (inside the caller's transaction) so its roots equal `target`'s."""
    target_shapes = root_shapes(target.get_update(), value_depth())
    live_shapes = root_shapes(live.get_update(), value_depth())
    for name in sorted(set(target_shapes) | set(live_shapes)):
        kind, nested = target_shapes.get(name, (RootKind.UNKNOWN, False))
        if kind is RootKind.UNKNOWN:
            old = live_shapes.get(name, (RootKind.UNKNOWN, False))[0]
            if old is not RootKind.UNKNOWN:
                _clear_root(live, name, old)
        else:
            live_nested = live_shapes.get(name, (kind, False))[1]
            _restore_root(live, target, name, kind, plain=not nested and not live_nested)


def restore_update(live_state: bytes, target_parts: list[bytes]) -> bytes:
    """The update that makes a document in `live_state` equal the target version (made
    of a checkpoint and rows); empty (`\\x00\\x00`) when they are equal already."""
    live = fresh_doc(live_state)
    before = live.get_state()
    with live.transaction():
        restore_into(live, doc_of(target_parts))
    return live.get_update(before)


def import_text_update(live_state: bytes, text: str) -> bytes:
    """The update that makes the `content` text of a document in `live_state` read
    `text` (small edits, by code points); empty when it does already."""
    live = fresh_doc(live_state)
    before = live.get_state()
    with live.transaction():
        set_text(live.get(TEXT_ROOT, type=Text), text)
    return live.get_update(before)
