"""Work that grows with a document, as pure functions of bytes: the server runs them in
its worker processes (`web.offload`), the CLI in its own process. Each takes a version
as `parts` (a checkpoint and the rows after it, or one full state)."""

from __future__ import annotations

import json
from typing import Any

from storage.history import doc_of, merged
from sync.content import json_of_state, text_of

FORMATS = ("text", "json", "yjs")
MEDIA_TYPES = {
    "text": "text/plain; charset=utf-8",
    "json": "application/json",
    "yjs": "application/octet-stream",
}


def render_parts(parts: list[bytes], fmt: str, pretty: bool = False) -> bytes:
    """The version in a content format: text, json or yjs (a full-state update)."""
    if fmt == "yjs":
        return merged(parts)
    if fmt == "text":
        return text_of(doc_of(parts)).encode()
    doc = doc_of(parts)
    return json_text(json_of_state(doc.get_update(), doc), pretty).encode()


def json_text(value: Any, pretty: bool = False) -> str:
    """JSON as the API writes it (UTF-8, not ASCII-escaped)."""
    if pretty:
        return json.dumps(value, ensure_ascii=False, indent=2) + "\n"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
