"""Text tracks: the `content` text of every version between two checkpoints, without
a CRDT. Decoding a checkpoint of a large document costs ~1 µs per item (a 100,000-item
document: 50-100 ms here), so reading an old version's text from a track instead — the
base text plus one small text delta per update — costs a few milliseconds.

A track is recorded while the checkpoint builder replays the stored rows onto the
previous checkpoint, so it is derived from the rows, like the checkpoint itself. Deltas
are in UTF-8 bytes (pycrdt's text offsets); each is a list of ops: a positive int
retains that many bytes, a negative int deletes, a string inserts.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc, Subscription, Text, TextEvent

TEXT_ROOT = "content"  # the Y.Text the page edits, and the text of `format=text`
Op = int | str


@dataclass(slots=True)
class TextTrack:
    """The text after `from_seq` and the delta of each following seq (empty when a seq
    changed no text, or its row is gone)."""

    from_seq: int
    base: str
    deltas: list[list[Op]] = field(default_factory=list)

    @property
    def upto_seq(self) -> int:
        """The last seq this track covers."""
        return self.from_seq + len(self.deltas)

    def text_at(self, seq: int) -> str:
        """The text right after update `seq` (from_seq <= seq <= upto_seq)."""
        if not self.from_seq <= seq <= self.upto_seq:
            raise ValueError(f"seq {seq} is outside {self.from_seq}..{self.upto_seq}")
        text = self.base.encode()
        for delta in self.deltas[: seq - self.from_seq]:
            if delta:
                text = _apply(text, delta)
        return text.decode()

    def encode(self) -> bytes:
        """Compressed JSON: [from_seq, base, deltas]."""
        raw = json.dumps([self.from_seq, self.base, self.deltas], separators=(",", ":"))
        return zlib.compress(raw.encode(), 6)

    @classmethod
    def decode(cls, data: bytes) -> TextTrack:
        """Inverse of `encode`."""
        from_seq, base, deltas = json.loads(zlib.decompress(data))
        return cls(int(from_seq), str(base), deltas)


def _apply(text: bytes, delta: list[Op]) -> bytes:
    parts = []
    pos = 0
    for op in delta:
        if isinstance(op, str):
            parts.append(op.encode())
        elif op > 0:
            parts.append(text[pos : pos + op])
            pos += op
        else:
            pos -= op
    parts.append(text[pos:])
    return b"".join(parts)


class TrackRecorder:
    """Records a track while rows are applied to `doc` (at `from_seq`) in seq order.

    `usable` turns False when the text holds something a plain-text delta cannot
    replay (an embed): such a segment gets no track and is read through the CRDT.
    """

    def __init__(self, doc: Doc[Any], from_seq: int) -> None:
        self._text = doc.get(TEXT_ROOT, type=Text)
        self.track = TextTrack(from_seq, str(self._text))
        self.usable = True
        self._pending: list[Op] = []
        self._subscription: Subscription | None = self._text.observe(self._on_change)

    def _on_change(self, event: TextEvent) -> None:
        for op in getattr(event, "delta", []):
            if "insert" in op:
                if not isinstance(op["insert"], str):
                    self.usable = False
                    return
                self._pending.append(op["insert"])
            elif "delete" in op:
                self._pending.append(-int(op["delete"]))
            elif "retain" in op:
                self._pending.append(int(op["retain"]))

    def applied(self, seq: int) -> None:
        """Close the delta of update `seq` (seqs with no row get an empty delta)."""
        while self.track.upto_seq < seq - 1:
            self.track.deltas.append([])
        while self._pending and not isinstance(self._pending[-1], str) and self._pending[-1] > 0:
            self._pending.pop()  # a trailing retain changes nothing
        self.track.deltas.append(self._pending)
        self._pending = []

    def close(self) -> TextTrack | None:
        """Stop recording; the track, or None when it cannot replay this segment."""
        if self._subscription is not None:
            self._text.unobserve(self._subscription)
            self._subscription = None
        return self.track if self.usable else None
