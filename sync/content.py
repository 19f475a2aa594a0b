"""Read a document's content for the API: the `content` text, every root as JSON."""

from __future__ import annotations

from typing import Any

from pycrdt import Array, Doc, Map, Text

TEXT_ROOT = "content"


def text_of(doc: Doc[Any]) -> str:
    """The `Y.Text` named `content` (empty when absent)."""
    return str(doc.get(TEXT_ROOT, type=Text))


def json_of(doc: Doc[Any]) -> dict[str, Any]:
    """Every root type as JSON. Root types arrive untyped from updates, so each is read
    in a scratch copy and its shape decides: map entries → object, a string of
    characters → text, otherwise → array."""
    snapshot = doc.get_update()
    result: dict[str, Any] = {}
    for name in list(doc.keys()):
        result[name] = _root_as_json(snapshot, name)
    return result


def _view(snapshot: bytes, name: str, kind: type[Any]) -> Any:
    scratch: Doc[Any] = Doc()
    scratch.apply_update(snapshot)
    return scratch.get(name, type=kind)


def _root_as_json(snapshot: bytes, name: str) -> Any:
    as_map = _view(snapshot, name, Map).to_py()
    if as_map:
        return as_map
    as_array = _view(snapshot, name, Array).to_py() or []
    text = str(_view(snapshot, name, Text))
    if text and all(isinstance(x, str) for x in as_array) and "".join(as_array) == text:
        return text
    if not as_array:
        return text
    return as_array
