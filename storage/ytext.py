"""Server-side text, by code points: the one place that converts between our API's unit
(Unicode code points: Python `str` indices, also the SSE patches' and diffs' unit) and
pycrdt's (a `Text`'s indexes, `len()` and event deltas count UTF-8 bytes — Yrs' byte
offsets). Yjs in the browser counts UTF-16 units; Yrs converts those when it integrates
an update, so the server never sees them. Restore, import, diff and the event feed edit
or measure text only through these functions.

Editing at a byte offset inside a character silently corrupts a pycrdt `Text` (the
insert lands elsewhere and the encoded state loses it), hence `byte_offsets`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pycrdt import Text, XmlText

from storage.ysplit import apply_in_pieces

TextLike = Text | XmlText  # both count UTF-8 bytes and edit alike

TEXT_ROOT = "content"  # the `Y.Text` the editor edits
_CONTINUATION = bytes(range(0x80, 0xC0))
EMBED = 0xFF  # stands for an embed in `Utf8Text` (never valid UTF-8; pycrdt counts it 1)
_NOT_COUNTED = _CONTINUATION + bytes([EMBED])
CHAR_DIFF_CELLS = 2_000_000  # len(a) * len(b) up to which the middle is diffed by character
LINE_DIFF_LINES = 200_000  # lines up to which a larger middle is diffed by line


def code_points(utf8: bytes | bytearray | memoryview) -> int:
    """How many code points a run of whole UTF-8 characters holds (in C, no decoding)."""
    return len(bytes(utf8).translate(None, _NOT_COUNTED))


def byte_offsets(text: str, indexes: list[int]) -> list[int]:
    """UTF-8 byte offsets of ascending code-point `indexes` into `text`, in one pass."""
    if text.isascii():
        return list(indexes)
    out, at, byte = [], 0, 0
    for index in indexes:
        byte += len(text[at:index].encode())
        at = index
        out.append(byte)
    return out


def byte_offset(text: str, index: int) -> int:
    """The UTF-8 byte offset of code point `index` in `text`."""
    return byte_offsets(text, [index])[0]


# -- diffs between two strings, bounded ----------------------------------------------


Seq = TypeVar("Seq", str, bytes)


@dataclass(frozen=True, slots=True)
class Op:
    """Replace `a[a1:a2]` by `b[b1:b2]` (an insert has a1 == a2, a delete b1 == b2)."""

    a1: int
    a2: int
    b1: int
    b2: int


def _common_prefix(a: Seq, b: Seq) -> int:
    """Length of the common prefix, by bisection over slice comparisons (in C)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def _common_suffix(a: Seq, b: Seq) -> int:
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[len(a) - mid : len(a) - low] == b[len(b) - mid : len(b) - low]:
            low = mid
        else:
            high = mid - 1
    return low


def _char_ops(a: str, b: str, a0: int, b0: int) -> Iterator[Op]:
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            yield Op(a0 + i1, a0 + i2, b0 + j1, b0 + j2)


def _middle_ops(a: str, b: str, a0: int, b0: int) -> Iterator[Op]:
    if not a or not b or len(a) * len(b) <= CHAR_DIFF_CELLS:
        if a or b:
            yield from (
                _char_ops(a, b, a0, b0) if a and b else iter([Op(a0, a0 + len(a), b0, b0 + len(b))])
            )
        return
    lines_a, lines_b = a.splitlines(keepends=True), b.splitlines(keepends=True)
    if len(lines_a) + len(lines_b) > LINE_DIFF_LINES or len(lines_a) * len(lines_b) == 1:
        yield Op(a0, a0 + len(a), b0, b0 + len(b))  # too big to be worth it: one replace
        return
    starts_a = [0]
    for line in lines_a:
        starts_a.append(starts_a[-1] + len(line))
    starts_b = [0]
    for line in lines_b:
        starts_b.append(starts_b[-1] + len(line))
    # autojunk: popular lines (blank ones, braces) would make it quadratic
    matcher = difflib.SequenceMatcher(a=lines_a, b=lines_b, autojunk=True)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        ca1, ca2, cb1, cb2 = starts_a[i1], starts_a[i2], starts_b[j1], starts_b[j2]
        sub_a, sub_b = a[ca1:ca2], b[cb1:cb2]
        if sub_a and sub_b and len(sub_a) * len(sub_b) <= CHAR_DIFF_CELLS:
            yield from _char_ops(sub_a, sub_b, a0 + ca1, b0 + cb1)
        else:
            yield Op(a0 + ca1, a0 + ca2, b0 + cb1, b0 + cb2)


def diff_ops(a: str, b: str) -> list[Op]:
    """The changes turning `a` into `b`, ascending, in code points. Exact and minimal
    for small changes; bounded for large ones (common prefix and suffix in C, then by
    character while len(a)·len(b) stays under CHAR_DIFF_CELLS, else by line, then a
    coarser replace), so no input makes it quadratic in the document's size."""
    if a == b:
        return []
    start = _common_prefix(a, b)
    end = _common_suffix(a[start:], b[start:])
    return list(_middle_ops(a[start : len(a) - end], b[start : len(b) - end], start, start))


# -- editing a pycrdt Text -------------------------------------------------------------


def read(text: Text) -> str:
    """The text as a string."""
    return str(text)


def apply_ops(text: TextLike, current: str, target: str, ops: list[Op]) -> None:
    """Edit `text` (reading `current`) by `ops` (from `diff_ops(current, target)`),
    converting each position to pycrdt's byte offsets; the caller holds a transaction."""
    offsets = byte_offsets(current, sorted({p for op in ops for p in (op.a1, op.a2)}))
    byte_at = dict(zip(sorted({p for op in ops for p in (op.a1, op.a2)}), offsets, strict=True))
    for op in reversed(ops):  # from the end: earlier offsets stay valid
        start, stop = byte_at[op.a1], byte_at[op.a2]
        if stop > start:
            del text[start:stop]
        if op.b2 > op.b1:
            text.insert(start, target[op.b1 : op.b2])


def set_text(text: TextLike, target: str) -> None:
    """Make `text` read `target` with small insertions and deletions (cursors in
    unchanged parts stay put). Formatting of unchanged parts is kept."""
    current = str(text)
    if current != target:
        apply_ops(text, current, target, diff_ops(current, target))


def splice(text: TextLike, current: str, index: int, delete: int, insert: str) -> str:
    """Delete `delete` code points at `index`, insert `insert` there; returns the new
    string (given `current`, the text before)."""
    start, stop = byte_offsets(current, [index, index + delete])
    if stop > start:
        del text[start:stop]
    if insert:
        text.insert(start, insert)
    return current[:index] + insert + current[index + delete :]


# -- reading pycrdt's deltas -------------------------------------------------------------


@dataclass(slots=True)
class Splice:
    """One change of a text delta in code points: at `index`, `delete` code points
    removed (`deleted` is what they read), `insert` inserted. Embeds are not part of
    the plain text (as in `str(text)`) and make no splice."""

    index: int
    delete: int = 0
    insert: str = ""
    deleted: str = ""


class Utf8Text:
    """A text's UTF-8 bytes, kept in step with pycrdt deltas (whose offsets are bytes),
    turning each delta into code-point splices. ASCII text costs O(1) per operation;
    other text O(the offset) — in C."""

    __slots__ = ("data",)

    def __init__(self, text: str = "") -> None:
        self.data = bytearray(text.encode())

    @classmethod
    def of(cls, text: Text) -> Utf8Text:
        """In step with a pycrdt `Text` (embeds included, as pycrdt counts them)."""
        plain = str(text)
        tracked = cls(plain)
        if len(tracked.data) != len(text):  # embeds: rebuild with their markers
            tracked.data = bytearray(
                b"".join(
                    i.encode() if isinstance(i, str) else bytes([EMBED]) for i, _ in text.diff()
                )
            )
        return tracked

    def __str__(self) -> str:
        return _plain(self.data)

    def apply_delta(self, delta: list[dict[str, Any]]) -> list[Splice]:
        """Apply one delta (retain/insert/delete in bytes); return its splices."""
        out: list[Splice] = []
        at = 0  # byte offset into self.data
        index = 0  # code points before `at`
        counted = 0  # byte offset up to which `index` is counted
        for op in delta:
            if "retain" in op:
                at += int(op["retain"])
                continue
            if counted != at:
                index += code_points(memoryview(self.data)[counted:at])
                counted = at
            if "insert" in op:
                value = op["insert"]
                if isinstance(value, str):
                    raw = value.encode()
                    out.append(Splice(index, 0, value))
                else:  # an embed: one unit for pycrdt, nothing in the plain text
                    raw, value = bytes([EMBED]), ""
                self.data[at:at] = raw
                at += len(raw)
                counted = at
                index += len(value)
            elif "delete" in op:
                length = int(op["delete"])
                gone = _plain(self.data[at : at + length])
                del self.data[at : at + length]
                if gone:
                    out.append(Splice(index, len(gone), "", gone))
        return out


def _plain(data: bytes | bytearray) -> str:
    return bytes(data).replace(bytes([EMBED]), b"").decode("utf-8", errors="replace")


def merged_splice(splices: list[Splice]) -> tuple[int, int, str] | None:
    """Consecutive splices of one delta as one (index, delete, insert) when they touch
    one region (a replace), else None."""
    if not splices:
        return (0, 0, "")
    if len(splices) == 1:
        s = splices[0]
        return s.index, s.delete, s.insert
    if len(splices) == 2:
        first, second = splices
        # Yrs orders a replace as insert-then-delete or delete-then-insert at one index
        if first.delete and not first.insert and second.insert and second.index == first.index:
            return first.index, first.delete, second.insert
        if first.insert and second.delete and second.index == first.index + len(first.insert):
            return first.index, second.delete, first.insert
    return None


def _covering(old: bytes, new: bytes) -> tuple[int, int, int]:
    """Byte span (start, end in old, end in new) outside which `old` and `new` agree,
    on character boundaries."""
    start = _common_prefix(old, new)
    while 0 < start < len(old) and 0x80 <= old[start] < 0xC0:
        start -= 1  # the prefix ended inside a character: start at its first byte
    tail = _common_suffix(old[start:], new[start:])
    while tail > 0 and 0x80 <= old[len(old) - tail] < 0xC0:
        tail -= 1
    return start, len(old) - tail, len(new) - tail


class TextReplay:
    """A private Doc that stored updates are replayed into, one seq at a time, each
    giving the single splice (in code points) that turns the text before into the text
    after: the event feed's `text` patches."""

    def __init__(self, parts: list[bytes] | None = None) -> None:
        from storage.history import doc_of

        self.doc: Any = doc_of(parts or [])
        self._text = self.doc.get(TEXT_ROOT, type=Text)
        self._tracked = Utf8Text.of(self._text)
        self._deltas: list[list[dict[str, Any]]] = []
        self._text.observe(lambda event: self._deltas.append(list(event.delta)))

    @property
    def text(self) -> str:
        """The text as of the last update applied."""
        return str(self._tracked)

    def apply(self, seq: int, update: bytes, author: str) -> dict[str, Any]:
        """Apply one stored update; return its `text` patch event data."""
        self._deltas.clear()
        before = bytes(self._tracked.data)
        apply_in_pieces(self.doc, update)  # a big one in pieces (in a worker thread)
        for delta in self._deltas:
            self._tracked.apply_delta(delta)
        after = self._tracked.data
        if before == after:
            index, delete, insert = 0, 0, ""
        else:
            start, end_old, end_new = _covering(before, bytes(after))
            index = code_points(before[:start])
            delete = code_points(before[start:end_old])
            insert = _plain(after[start:end_new])
        return {"seq": seq, "author": author, "index": index, "delete": delete, "insert": insert}


def replay_patches(parts: list[bytes], rows: list[tuple[int, bytes, str]]) -> list[dict[str, Any]]:
    """The `text` patches of `rows` (seq, update, author) replayed on the version made
    of `parts` (pure: a worker process runs it for a resumed event stream)."""
    replay = TextReplay(parts)
    return [replay.apply(seq, update, author) for seq, update, author in rows]
