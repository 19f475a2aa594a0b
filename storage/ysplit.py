"""A big Yjs update as small ones that Yrs applies one after another to the same
document. pycrdt holds the GIL while it decodes an update and while it encodes the
commit event, in proportion to the update's structs: a megabyte of tiny items applied
at once stalls the event loop even from a worker thread. Applied in pieces, the loop
gets the GIL back between two pieces.

A piece is a v1 update made of byte slices of the original's structs (v1 structs are
self-contained: origins and parents are full IDs), cut at struct boundaries, in an order
that brings every struct's dependencies on other clients (origin, right origin, parent)
before it, as Yjs's own integration does, so that none waits in Yrs's pending store.
The delete set comes last, split by ranges when it is big."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Doc

from storage.yupdate import GC, ID, SKIP, Reader, Struct, UpdateFormatError, read_content

PIECE_BYTES = 64 * 1024  # a piece's structs: ~6,000 tiny items, a few ms of Yrs's decoding
WHOLE_BELOW = 256 * 1024  # smaller updates are applied whole: the split costs more
NO_DELETES = b"\x00"
_pieces_help = True  # see use_pieces


def use_pieces(enabled: bool) -> None:
    """Whether `apply_in_pieces` splits big updates in this process. Only where an event
    loop shares the GIL (the server): elsewhere (its worker processes, the CLI) the
    split only costs (~4 us a struct in Python; Yrs applies a million tiny items whole
    in 0.4 s, in pieces after a 4.4 s split)."""
    global _pieces_help
    _pieces_help = enabled


@dataclass(slots=True)
class _Client:
    """One client's structs in the update: where each starts and at which clock."""

    client: int
    offsets: list[int] = field(default_factory=list)  # plus the end, after the last
    clocks: list[int] = field(default_factory=list)  # plus the clock after the last
    deps: dict[int, list[ID]] = field(default_factory=dict)  # index → other clients' IDs

    @property
    def count(self) -> int:
        return len(self.offsets) - 1


@dataclass(slots=True)
class Split:
    """An update's pieces (applied in order, they make the same document) and the clock
    each client reaches with its structs and its deletes (to tell what stayed pending)."""

    pieces: list[bytes]
    state: dict[int, int]
    deletes_reach: dict[int, int]

    def held_by(self, have: dict[int, int]) -> bool:
        """Does a document whose state vector is `have` hold all of the update (nothing
        of it pending, for structs or deletes)?"""
        return not any(
            clock > have.get(client, 0)
            for reach in (self.state, self.deletes_reach)
            for client, clock in reach.items()
        )


def _uint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _scan_structs(reader: Reader, size: int) -> list[_Client]:
    """Each client's struct offsets, clocks and cross-client dependencies (~2 µs a
    struct: a megabyte of tiny items takes ~0.2 s, in the worker thread)."""
    clients: list[_Client] = []
    scratch = Struct(0, 0, 0, 0)
    uint = reader.uint
    count_clients = uint()
    if count_clients > size:
        raise UpdateFormatError("client count larger than the update")
    for _ in range(count_clients):
        count, client, clock = uint(), uint(), uint()
        if count > size:
            raise UpdateFormatError("struct count larger than the update")
        entry = _Client(client)
        offsets, clocks, all_deps = entry.offsets, entry.clocks, entry.deps
        for index in range(count):
            offsets.append(reader.pos)
            clocks.append(clock)
            info = reader.raw(1)[0]
            ref = info & 0x1F
            if ref == GC or ref == SKIP:
                clock += uint()
                continue
            deps: list[ID] = []
            if info & 0x80:
                deps.append((uint(), uint()))  # origin
            if info & 0x40:
                deps.append((uint(), uint()))  # right origin
            if not info & 0xC0:
                if uint() == 1:
                    reader.raw(uint())  # a root's name
                else:
                    deps.append((uint(), uint()))  # parent item
                if info & 0x20:
                    reader.raw(uint())  # parent sub (a map key)
            clock += read_content(reader, ref, scratch)
            others = [dep for dep in deps if dep[0] != client]
            if others:
                all_deps[index] = others
        offsets.append(reader.pos)
        clocks.append(clock)
        clients.append(entry)
    return clients


def _order(clients: list[_Client], emit: Callable[[int, int], None]) -> None:
    """Call `emit(client index, struct index)` for every struct, each after the structs
    of other clients it depends on (Yjs's integration order; a dependency loop, which
    only a forged update has, is broken arbitrarily: Yrs keeps that struct pending)."""
    where = {entry.client: n for n, entry in enumerate(clients)}
    pos = [0] * len(clients)
    for first in range(len(clients)):
        stack: list[tuple[int, int]] = [(first, -1)]  # (client index, clock needed; -1: all)
        on_stack = {first}
        while stack:
            at, needed = stack[-1]
            entry, index = clients[at], pos[at]
            if index == entry.count or (needed >= 0 and entry.clocks[index] > needed):
                stack.pop()
                on_stack.discard(at)
                continue
            blocker = None
            for client, clock in entry.deps.get(index, ()):
                other = where.get(client)
                if other is None or other in on_stack:
                    continue
                dep = clients[other]
                if pos[other] < dep.count and dep.clocks[pos[other]] <= clock < dep.clocks[-1]:
                    blocker = (other, clock)
                    break
            if blocker is not None:
                stack.append(blocker)
                on_stack.add(blocker[0])
                continue
            emit(at, index)
            pos[at] = index + 1


def _struct_pieces(update: bytes, clients: list[_Client], piece_bytes: int) -> list[bytes]:
    pieces: list[bytes] = []
    runs: dict[int, list[int]] = {}  # client index → [first, end) of this piece's run
    size = 0

    def flush() -> None:
        nonlocal size
        out = [_uint(len(runs))]
        for at, (first, end) in runs.items():
            entry = clients[at]
            out += [_uint(end - first), _uint(entry.client), _uint(entry.clocks[first])]
            out.append(update[entry.offsets[first] : entry.offsets[end]])
        out.append(NO_DELETES)
        pieces.append(b"".join(out))
        runs.clear()
        size = 0

    def emit(at: int, index: int) -> None:
        nonlocal size
        run = runs.get(at)
        if run is None:
            runs[at] = [index, index + 1]
        else:
            run[1] = index + 1
        offsets = clients[at].offsets
        size += offsets[index + 1] - offsets[index]
        if size >= piece_bytes:
            flush()

    _order(clients, emit)
    if runs:
        flush()
    return pieces


def _delete_pieces(
    update: bytes, reader: Reader, piece_bytes: int, reach: dict[int, int]
) -> list[bytes]:
    """The delete set, as updates without structs of about `piece_bytes` each."""
    start = reader.pos
    groups: list[tuple[int, list[int]]] = []  # client, offsets of its ranges (and the end)
    for _ in range(reader.uint()):
        client, count = reader.uint(), reader.uint()
        if count > len(update):
            raise UpdateFormatError("delete range count larger than the update")
        offsets = []
        for _ in range(count):
            offsets.append(reader.pos)
            clock, length = reader.uint(), reader.uint()
            reach[client] = max(reach.get(client, 0), clock + length)
        offsets.append(reader.pos)
        groups.append((client, offsets))
    if reader.pos != len(update):
        raise UpdateFormatError("bytes after the delete set")
    if reader.pos - start <= piece_bytes:
        return [b"\x00" + update[start:]] if groups else []
    pieces: list[bytes] = []
    chosen: list[bytes] = []  # (client, count) headers and their ranges, this piece's

    def segment(client: int, offsets: list[int], first: int, end: int) -> None:
        chosen.append(_uint(client) + _uint(end - first))
        chosen.append(update[offsets[first] : offsets[end]])

    def flush() -> None:
        pieces.append(b"\x00" + _uint(len(chosen) // 2) + b"".join(chosen))
        chosen.clear()

    size = 0
    for client, offsets in groups:
        first, last = 0, len(offsets) - 1
        for end in range(1, last + 1):
            size += offsets[end] - offsets[end - 1]
            if size >= piece_bytes:
                segment(client, offsets, first, end)
                flush()
                first, size = end, 0
        if first < last:
            segment(client, offsets, first, last)
    if chosen:
        flush()
    return pieces


def struct_state(update: bytes) -> dict[int, int]:
    """{client: the clock after its structs} of an update, wherever they start. (pycrdt's
    `get_state(update)` is the state an empty document would reach, and leaves out every
    client whose structs do not start at clock 0: every incremental update's.) Raises
    UpdateFormatError when this decoder cannot read it."""
    clients = _scan_structs(Reader(update), len(update))
    return {entry.client: entry.clocks[-1] for entry in clients if entry.count}


def state_of_parts(parts: list[bytes]) -> bytes:
    """The state vector (v1) of the document that `parts` (updates) make: each client's
    highest clock, from our decoder, so that in a thread it leaves the GIL to the loop
    (pycrdt's merge_updates and get_state held it 1.8 s for a million tiny items)."""
    clocks: dict[int, int] = {}
    for part in parts:
        for client, clock in struct_state(part).items():
            clocks[client] = max(clocks.get(client, 0), clock)
    return b"".join([_uint(len(clocks))] + [_uint(c) + _uint(k) for c, k in clocks.items()])


def split_update(update: bytes, piece_bytes: int = PIECE_BYTES) -> Split:
    """`update` as pieces of about `piece_bytes` (raises UpdateFormatError when it is not
    a v1 update this decoder reads, or names one client twice: apply such a one whole)."""
    reader = Reader(update)
    clients = _scan_structs(reader, len(update))
    if len({entry.client for entry in clients}) != len(clients):
        raise UpdateFormatError("a client's structs in two places")
    reach: dict[int, int] = {}
    pieces = _struct_pieces(update, clients, piece_bytes)
    pieces += _delete_pieces(update, reader, piece_bytes, reach)
    state = {entry.client: entry.clocks[-1] for entry in clients if entry.count}
    return Split(pieces or [update], state, reach)


class PartlyApplied(Exception):
    """Yrs refused a piece after the first: the document holds part of the update."""


def apply_in_pieces(
    doc: Doc[Any], update: bytes, whole_below: int = WHOLE_BELOW, piece_bytes: int = PIECE_BYTES
) -> Split | None:
    """Apply `update` to `doc`, in pieces when it is `whole_below` bytes or more; returns
    the split (None: applied whole, as it was small or this decoder cannot read it).
    Raises what `doc.apply_update` raises for the first piece, `PartlyApplied` after."""
    if len(update) < whole_below or not _pieces_help:
        doc.apply_update(update)
        return None
    try:
        split = split_update(update, piece_bytes)
    except UpdateFormatError:
        doc.apply_update(update)
        return None
    for n, piece in enumerate(split.pieces):
        try:
            doc.apply_update(piece)
        except Exception as exc:
            if n == 0:
                raise
            raise PartlyApplied(f"piece {n + 1} of {len(split.pieces)}: {exc}") from exc
    return split
