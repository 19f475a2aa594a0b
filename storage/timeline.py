"""History as people read it: edit sessions, and what changed between two versions."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Text, TextEvent

from storage.history import doc_at
from storage.timelines import TEXT_ROOT
from storage.types import Store, UpdateRecord

SESSION_GAP_US = 30_000_000  # an idle gap of 30 s starts a new session
PAGE = 1000


@dataclass
class Session:
    """A burst of edits by one author (consecutive updates, gaps under the limit)."""

    author: str
    first_seq: int
    last_seq: int
    start_us: int
    end_us: int
    updates: int = 0
    bytes: int = 0


async def sessions(
    store: Store,
    room: str,
    limit: int = 50,
    before: int | None = None,
    gap_us: int = SESSION_GAP_US,
) -> list[Session]:
    """Edit sessions newest first, folding runs of one author's updates."""
    found: list[Session] = []
    cursor = before
    while True:
        rows = await store.history(room, limit=PAGE, before=cursor)
        for row in rows:  # newest first
            current = found[-1] if found else None
            if (
                current is not None
                and current.author == row.author
                and current.start_us - row.time_us <= gap_us
            ):
                current.first_seq, current.start_us = row.seq, row.time_us
                current.updates += 1
                current.bytes += len(row.update)
                continue
            if len(found) == limit:
                return found
            found.append(
                Session(row.author, row.seq, row.seq, row.time_us, row.time_us, 1, len(row.update))
            )
        if len(rows) < PAGE:
            return found
        cursor = rows[-1].seq


@dataclass
class Change:
    """One insertion or deletion in the text, at a position of the text at that moment."""

    seq: int
    author: str
    time_us: int
    kind: str  # "insert" | "delete"
    index: int
    text: str = ""
    length: int = 0


@dataclass
class Diff:
    """Between two versions: every change with its author, and the net difference."""

    from_seq: int
    to_seq: int
    from_text: str
    to_text: str
    changes: list[Change] = field(default_factory=list)
    net: list[dict[str, Any]] = field(default_factory=list)


def delta_changes(
    delta: list[dict[str, Any]], record: UpdateRecord, text: bytes
) -> tuple[list[Change], bytes]:
    """Turn a Y.Text delta into changes positioned in characters, given the text (UTF-8)
    before it; returns them and the text after. pycrdt's delta offsets are UTF-8 bytes."""
    changes, at = [], 0  # `at`: a byte offset into `text`

    def change(kind: str, content: str, length: int) -> Change:
        index = len(text[:at].decode())
        return Change(record.seq, record.author, record.time_us, kind, index, content, length)

    for op in delta:
        if "retain" in op:
            at += int(op["retain"])
        elif "insert" in op:
            if isinstance(op["insert"], str):
                inserted = op["insert"].encode()
                changes.append(change("insert", op["insert"], len(op["insert"])))
                text = text[:at] + inserted + text[at:]
                at += len(inserted)
            else:  # an embed: shown as one object character, not part of the text
                changes.append(change("insert", "\ufffc", 1))
        elif "delete" in op:
            gone = text[at : at + int(op["delete"])].decode(errors="replace")
            changes.append(change("delete", "", len(gone)))
            text = text[:at] + text[at + int(op["delete"]) :]
    return changes, text


def net_difference(old: str, new: str) -> list[dict[str, Any]]:
    """The net change old → new as positioned operations (for highlighting)."""
    ops = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        ops.append(
            {
                "op": tag,
                "from": [i1, i2],
                "to": [j1, j2],
                "removed": old[i1:i2],
                "added": new[j1:j2],
            }
        )
    return ops


async def diff(store: Store, room: str, from_seq: int, to_seq: int) -> Diff:
    """Replay the updates from_seq < seq <= to_seq on the version at from_seq,
    recording each text change with its author."""
    doc = await doc_at(store, room, from_seq)
    text = doc.get(TEXT_ROOT, type=Text)
    result = Diff(from_seq, to_seq, str(text), "")
    pending: list[list[dict[str, Any]]] = []

    def on_change(event: TextEvent) -> None:
        pending.append(list(getattr(event, "delta", [])))

    subscription = text.observe(on_change)
    current = result.from_text.encode()
    for record in await store.updates_range(room, from_seq, to_seq):
        pending.clear()
        doc.apply_update(record.update)
        for delta in pending:
            changes, current = delta_changes(delta, record, current)
            result.changes.extend(changes)
    text.unobserve(subscription)
    result.to_text = str(text)
    result.net = net_difference(result.from_text, result.to_text)
    return result
