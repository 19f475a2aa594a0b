"""The characters of a text timeline: every UTF-16 unit any run of the text ever held,
in arrival order, with the seq that deleted it; and per run its order key, length,
first unit and the seq that inserted it. Reading a version orders the runs by key (an
argsort) and keeps the units inserted at or before it and not deleted by then."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

ALIVE = np.iinfo(np.int64).max
KEY, LENGTH, START, INS = range(4)  # the rows of `TextUnits._runs`


@dataclass(frozen=True, slots=True)
class _Flat:
    seq: int
    units: npt.NDArray[np.uint16]
    ins: npt.NDArray[np.int64]
    dels: npt.NDArray[np.int64]


class TextUnits:
    """Units and runs in growable arrays; a run is addressed by its slot."""

    def __init__(self) -> None:
        self._units = np.zeros(1024, dtype=np.uint16)  # UTF-16 code units, arrival order
        self._dels = np.zeros(1024, dtype=np.int64)  # per unit: seq that deleted it, or 0
        self._used = 0
        self._runs = np.zeros((4, 1024), dtype=np.int64)  # KEY, LENGTH, START, INS
        self._slots = 0
        self._flat: _Flat | None = None

    def add_run(self, text: bytes, ins: int) -> int:
        """A run of new units (UTF-16-LE `text`) inserted at `ins`; returns its slot."""
        units = np.frombuffer(text, dtype="<u2")
        start, end = self._used, self._used + len(units)
        if end > len(self._units):
            size = max(end, 2 * len(self._units))
            self._units = np.resize(self._units, size)
            grown = np.zeros(size, dtype=np.int64)
            grown[: self._used] = self._dels[: self._used]
            self._dels = grown
        self._units[start:end] = units
        self._used = end
        return self._add_slot(len(units), start, ins)

    def _add_slot(self, length: int, start: int, ins: int) -> int:
        if self._slots == self._runs.shape[1]:
            grown = np.zeros((4, 2 * self._slots), dtype=np.int64)
            grown[:, : self._slots] = self._runs
            self._runs = grown
        slot = self._slots
        self._slots += 1
        self._runs[LENGTH:, slot] = (length, start, ins)
        return slot

    def split(self, slot: int, offset: int) -> int:
        """Cut run `slot` after `offset` units; the tail's slot (its units stay put)."""
        length, start, ins = self._runs[LENGTH:, slot].tolist()
        self._runs[LENGTH, slot] = offset
        return self._add_slot(length - offset, start + offset, ins)

    def set_key(self, slot: int, key: int) -> None:
        """The run's place in document order."""
        self._runs[KEY, slot] = key

    def delete(self, slot: int, lo: int, hi: int, seq: int) -> None:
        """Units [lo, hi) of run `slot` deleted at `seq` (those not deleted before)."""
        start = int(self._runs[START, slot])
        units = self._dels[start + lo : start + hi]
        units[units == 0] = seq

    def _flatten(self, seq: int) -> _Flat:
        """Every unit in document order with its insert and delete seqs (redone only
        when the caller's timeline has moved past `seq` of the last one)."""
        if self._flat is not None and self._flat.seq == seq:
            return self._flat
        keys, lengths, starts, ins = self._runs[:, : self._slots]
        order = np.argsort(keys)
        lengths, starts, ins = lengths[order], starts[order], ins[order]
        placed = np.cumsum(lengths) - lengths  # where each run starts in the output
        index = np.repeat(starts - placed, lengths) + np.arange(int(lengths.sum()))
        deleted = self._dels[index]
        deleted[deleted == 0] = ALIVE
        self._flat = _Flat(seq, self._units[index], np.repeat(ins, lengths), deleted)
        return self._flat

    def text_at(self, seq: int, head: int) -> str:
        """The text after update `seq`, the units holding everything up to `head`."""
        return _text(self._flatten(head), seq)

    def snapshot(self, head: int) -> bytes:
        """Every version up to `head` in a few compressed bytes (`FrozenText` reads it)."""
        flat = self._flatten(head)
        count = np.array([len(flat.units)], dtype="<i8")
        arrays = (flat.units.astype("<u2"), flat.ins.astype("<i8"), flat.dels.astype("<i8"))
        raw = b"".join(a.tobytes() for a in arrays)
        return SNAPSHOT_MAGIC + zlib.compress(count.tobytes() + raw, 1)


SNAPSHOT_MAGIC = b"SPT1"


def _text(flat: _Flat, seq: int) -> str:
    shown = flat.units[(flat.ins <= seq) & (flat.dels > seq)]
    return shown.tobytes().decode("utf-16-le", errors="replace")


class FrozenText:
    """A saved snapshot of a text timeline: the text of every version up to its seq."""

    def __init__(self, base: int, seq: int, data: bytes) -> None:
        if not data.startswith(SNAPSHOT_MAGIC):
            raise ValueError("not a text timeline snapshot")
        raw = zlib.decompress(data[len(SNAPSHOT_MAGIC) :])
        count = int(np.frombuffer(raw[:8], dtype="<i8")[0])
        if len(raw) != 8 + 18 * count:
            raise ValueError("text timeline snapshot has the wrong size")
        units = np.frombuffer(raw, dtype="<u2", count=count, offset=8)
        ins = np.frombuffer(raw, dtype="<i8", count=count, offset=8 + 2 * count)
        dels = np.frombuffer(raw, dtype="<i8", count=count, offset=8 + 10 * count)
        self.base, self.seq = base, seq
        self._flat = _Flat(seq, units, ins, dels)

    def text_at(self, seq: int) -> str:
        """The text after update `seq` (base <= seq <= self.seq)."""
        if not self.base <= seq <= self.seq:
            raise ValueError(f"seq {seq} outside {self.base}..{self.seq}")
        return _text(self._flat, seq)
