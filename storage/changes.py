"""History as people read it: edit sessions, and what changed between two versions."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from pycrdt import Text

from storage.history import doc_of, version_parts
from storage.types import Store
from storage.ytext import TEXT_ROOT, Utf8Text, diff_ops

SESSION_GAP_US = 30_000_000  # an idle gap of 30 s starts a new session
PAGE = 5000  # history entries read at a time (seq, time, author, size: no bytes)
MAX_CHANGES = 10_000  # changes listed by one diff (the net difference is always whole)
MAX_REPLAY = 5_000  # a longer range is diffed by its two ends only (net, no `changes`)
READ_PAGE = 500  # rows read from the store at a time


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
                current.bytes += row.size
                continue
            if len(found) == limit:
                return found
            found.append(
                Session(row.author, row.seq, row.seq, row.time_us, row.time_us, 1, row.size)
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
    truncated: bool = False  # more changes than were listed


def net_difference(old: str, new: str) -> list[dict[str, Any]]:
    """The net change old → new as positioned operations in code points (for
    highlighting), by the bounded diff of `storage.ytext`."""
    ops = []
    for op in diff_ops(old, new):
        tag = (
            "replace"
            if op.a2 > op.a1 and op.b2 > op.b1
            else "delete"
            if op.a2 > op.a1
            else "insert"
        )
        ops.append(
            {
                "op": tag,
                "from": [op.a1, op.a2],
                "to": [op.b1, op.b2],
                "removed": old[op.a1 : op.a2],
                "added": new[op.b1 : op.b2],
            }
        )
    return ops


Row = tuple[int, bytes, str, int]  # (seq, update, author, time_us)


def diff_rows(
    base: list[bytes],
    rows: list[Row],
    from_seq: int,
    to_seq: int,
    max_changes: int = MAX_CHANGES,
    target: list[bytes] | None = None,
) -> Diff:
    """Replay `rows` on the version made of `base` (a checkpoint and rows), recording
    each text change with its author (at most `max_changes`; `truncated` says so).
    With `target` (the version at to_seq) instead of rows — a range too long to replay —
    only the net difference is given, and `truncated` is set. Pure: a worker runs it."""
    doc = doc_of(base)
    text = doc.get(TEXT_ROOT, type=Text)
    result = Diff(from_seq, to_seq, str(text), "")
    if target is not None:
        result.to_text = str(doc_of(target).get(TEXT_ROOT, type=Text))
        result.truncated = to_seq > from_seq
        result.net = net_difference(result.from_text, result.to_text)
        return result
    tracked = Utf8Text.of(text)
    deltas: list[list[dict[str, Any]]] = []
    subscription = text.observe(lambda event: deltas.append(list(event.delta)))
    for seq, update, author, time_us in rows:
        deltas.clear()
        doc.apply_update(update)
        for delta in deltas:
            for change in tracked.apply_delta(delta):
                if len(result.changes) >= max_changes:
                    result.truncated = True
                    continue
                kind = "insert" if change.insert else "delete"
                length = len(change.insert) if change.insert else change.delete
                result.changes.append(
                    Change(seq, author, time_us, kind, change.index, change.insert, length)
                )
    text.unobserve(subscription)
    result.to_text = str(text)
    result.net = net_difference(result.from_text, result.to_text)
    return result


@dataclass
class DiffInputs:
    """What `diff_rows` needs, read from the store: the version at from_seq as updates,
    and the rows after it — or, for a range over MAX_REPLAY rows, the version at to_seq."""

    base: list[bytes]
    rows: list[Row]
    target: list[bytes] | None = None


async def diff_inputs(store: Store, room: str, from_seq: int, to_seq: int) -> DiffInputs:
    """Read the inputs of a diff (rows in pages of READ_PAGE: a few ms of the loop each)."""
    base = await version_parts(store, room, from_seq)
    if to_seq - from_seq > MAX_REPLAY:
        return DiffInputs(base, [], await version_parts(store, room, to_seq))
    rows: list[Row] = []
    at = from_seq
    while at < to_seq:
        upto = min(to_seq, at + READ_PAGE)
        rows += [
            (r.seq, r.update, r.author, r.time_us)
            for r in await store.updates_range(room, at, upto)
        ]
        at = upto
    return DiffInputs(base, rows)


def diff_body(inputs: DiffInputs, from_seq: int, to_seq: int) -> bytes:
    """The diff as the API's JSON (pure: the whole diff, JSON included, is a worker's)."""
    result = diff_rows(inputs.base, inputs.rows, from_seq, to_seq, target=inputs.target)
    body = asdict(result)
    for change in body["changes"]:
        change["time"] = iso_time(change.pop("time_us"))
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def iso_time(time_us: int) -> str:
    """Microseconds since the epoch as ISO 8601 UTC (as the API writes times)."""
    return dt.datetime.fromtimestamp(time_us / 1e6, tz=dt.UTC).isoformat(timespec="microseconds")


async def diff(store: Store, room: str, from_seq: int, to_seq: int) -> Diff:
    """`diff_rows` in this process (the server runs it in a worker)."""
    inputs = await diff_inputs(store, room, from_seq, to_seq)
    return diff_rows(inputs.base, inputs.rows, from_seq, to_seq, target=inputs.target)
