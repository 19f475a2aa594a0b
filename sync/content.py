"""A document's content for the API: the `content` text, and every root as JSON by its
real type (told from the document's structs, `storage.roots`; never by trying views).

JSON shapes (docs/api.md, "Content formats"): a `Y.Text` is a string, or `{"delta": [...]}`
(Quill ops, as Yjs's `toDelta()`) when it has formatting or embeds; a `Y.Map` an object;
a `Y.Array` a list; a `Y.XmlFragment` `{"xmlFragment": [nodes]}` with elements as
`{"nodeName", "attributes", "children"}` and text nodes as `{"text"}` (+ `"delta"`); a
root holding only deleted content `null` (`content`: `""`)."""

from __future__ import annotations

import json
import sys
from typing import Any

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from storage.roots import RootKind, root_shapes
from storage.ytext import TEXT_ROOT

__all__ = ["TEXT_ROOT", "json_of", "json_of_state", "root_view", "text_of"]

MAX_DEPTH = 2000  # nested shared types deeper than this are cut (hostile documents)
_VIEWS: dict[RootKind, type[Any]] = {
    RootKind.TEXT: Text,
    RootKind.MAP: Map,
    RootKind.ARRAY: Array,
    RootKind.XML: XmlFragment,
}


class TooDeep(ValueError):
    """The document nests shared types deeper than MAX_DEPTH."""


def text_of(doc: Doc[Any]) -> str:
    """The `Y.Text` named `content` (empty when absent)."""
    return str(doc.get(TEXT_ROOT, type=Text))


def root_view(doc: Doc[Any], name: str, kind: RootKind) -> Any:
    """The root `name` through the view of its kind (None when unknown)."""
    view = _VIEWS.get(kind)
    return doc.get(name, type=view) if view is not None else None


def json_of_state(state: bytes, doc: Doc[Any] | None = None) -> dict[str, Any]:
    """Every root of the document `state` (a full-state update) as JSON; `doc`: that
    document already applied, when the caller has it."""
    if doc is None:
        doc = Doc()
        doc.apply_update(state)
    shapes = root_shapes(state, value_depth())
    result: dict[str, Any] = {}
    for name in sorted(set(doc.keys()) | set(shapes)):
        kind, nested = shapes.get(name, (RootKind.UNKNOWN, False))
        if kind is RootKind.UNKNOWN:
            result[name] = "" if name == TEXT_ROOT else None
        elif kind is RootKind.ARRAY and not nested:
            result[name] = plain_array(doc.get(name, type=Array))
        else:
            result[name] = render(root_view(doc, name, kind))
    return result


def plain_array(array: Array[Any]) -> list[Any]:
    """An array of plain values, in one pass (pycrdt's iteration fetches item i by
    walking from the start: quadratic for an array built of many small inserts)."""
    with array.doc.transaction() as txn:
        values: list[Any] = _plain(json.loads(array.integrated.to_json(txn._txn)))
    return values


def json_of(doc: Doc[Any]) -> dict[str, Any]:
    """Every root of `doc` as JSON (read from an encoded copy: `doc` is not touched)."""
    return json_of_state(doc.get_update())


def render(value: Any, depth: int = 0) -> Any:
    """A shared type (or plain value) as JSON."""
    if depth > MAX_DEPTH:
        raise TooDeep(f"shared types nested deeper than {MAX_DEPTH}")
    if isinstance(value, XmlText):
        return _xml_text(value, depth)
    if isinstance(value, Text):
        return _text(value, depth)
    if isinstance(value, Map):
        return {key: render(item, depth + 1) for key, item in value.items()}
    if isinstance(value, Array):
        return [render(item, depth + 1) for item in value]
    if isinstance(value, XmlFragment):
        return {"xmlFragment": [render(child, depth + 1) for child in value.children]}
    if isinstance(value, XmlElement):
        return {
            "nodeName": value.tag,
            "attributes": {k: _plain(v) for k, v in xml_attributes(value)},
            "children": [render(child, depth + 1) for child in value.children],
        }
    return _plain(value)


def xml_attributes(element: XmlElement) -> list[tuple[str, Any]]:
    """An XML element's attributes (pycrdt's view types its iterator loosely)."""
    view: Any = element.attributes
    return list(view)


def _plain(value: Any) -> Any:
    """Plain values: whole floats back to integers (Yjs numbers are JavaScript's)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):  # a Uint8Array: its bytes, as Yrs' own JSON gives them
        return list(value)
    return value


def _delta(chunks: list[tuple[Any, dict[str, Any] | None]], depth: int) -> list[dict[str, Any]]:
    ops = []
    for insert, attrs in chunks:
        op: dict[str, Any] = {
            "insert": insert if isinstance(insert, str) else render(insert, depth)
        }
        if attrs:
            op["attributes"] = _plain(attrs)
        ops.append(op)
    return ops


def is_rich(chunks: list[tuple[Any, dict[str, Any] | None]]) -> bool:
    """Do text chunks (`Text.diff()`) hold formatting or embeds?"""
    return any(attrs or not isinstance(insert, str) for insert, attrs in chunks)


def _text(text: Text, depth: int) -> Any:
    chunks = text.diff()
    if not is_rich(chunks):
        return "".join(insert for insert, _ in chunks)
    return {"delta": _delta(chunks, depth + 1)}


def _xml_text(text: XmlText, depth: int) -> dict[str, Any]:
    chunks = text.diff()
    body: dict[str, Any] = {"text": "".join(i for i, _ in chunks if isinstance(i, str))}
    if is_rich(chunks):
        body["delta"] = _delta(chunks, depth + 1)
    return body


def value_depth() -> int:
    """How deep a value may nest: as deep as the recursion limit safely allows."""
    return max(64, min(MAX_DEPTH, sys.getrecursionlimit() // 4 - 100))


def deep_limit() -> None:
    """Let `render` (recursive) reach MAX_DEPTH (called in the worker process)."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), MAX_DEPTH * 4 + 1000))
