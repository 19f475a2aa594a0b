"""The text of every version without replaying the log: our own integration of the
stored updates into one sequence of every character the `content` text ever held,
each with the seq that inserted it and the seq that deleted it.

A CRDT never reorders what it integrated, so the text at version k is the characters
with inserted <= k < deleted, in the final order: one vectorized filter (~0.3 ms for
100,000 characters, storage/texthistory/units.py) instead of decoding a checkpoint in Yrs
(~70 ms); each run's order key (storage/texthistory/order_keys.py) makes the final order an
argsort. Blocks are columns of typed arrays, not objects: a timeline of 100,000 runs
gives the garbage collector nothing to scan (a full collection over 100,000 run objects
took ~40 ms, which showed up as latency spikes in every room on the server). The integration
is YATA as Yjs and Yrs do it (`Item.integrate`, `getMissing`, `integrateStructs`): the
same origins, the same conflict rule, pending structs and deletes kept until their
dependencies arrive. What it cannot follow (an update it cannot decode, an item whose
origins sit in two different parents) stops the timeline: versions from there on are
rebuilt in Yrs as before.
"""

from __future__ import annotations

import bisect
from array import array
from collections import deque

from storage.texthistory.order_keys import NONE, key_between, relabel
from storage.texthistory.units import TextUnits
from storage.yupdate import GC, ID, SKIP, STRING, Struct, decode_update


class TimelineUnsupported(Exception):
    """An update the timeline cannot follow; versions from it on need Yrs."""


TEXT, OTHER, GONE = 0, 1, 2  # a block in the text's sequence; of another type; collected
NO_CLIENT = (1 << 64) - 1  # an origin column's "no origin"


class _Client:
    """One client's blocks in clock order (bisect by start clock)."""

    __slots__ = ("blocks", "starts")

    def __init__(self) -> None:
        self.starts = array("q")
        self.blocks = array("q")

    def find(self, clock: int, lengths: array[int]) -> int:
        index = bisect.bisect_right(self.starts, clock) - 1
        if index < 0 or clock >= self.starts[index] + lengths[self.blocks[index]]:
            raise TimelineUnsupported(f"no block at clock {clock}")
        return index


class TextTimeline:
    """Every character a root text ever held, with when it came and went.

    Apply the stored rows in seq order (`apply`); `text_at(k)` is then the text after
    update k for every `base <= k <= seq`."""

    def __init__(self, root: str, base: int = 0) -> None:
        self.root = root
        self.base = base
        self.seq = base
        self._state: dict[int, int] = {}
        self._clients_seen: dict[int, int] = {}  # one int object per client id
        self._clients: dict[int, _Client] = {}
        # Blocks (runs of consecutive clock units of one client), one column each.
        self._kind = array("b")
        self._client = array("Q")
        self._clock = array("q")
        self._length = array("q")
        self._origin_client = array("Q")  # NO_CLIENT: none
        self._origin_clock = array("q")
        self._right_client = array("Q")
        self._right_clock = array("q")
        self._left = array("q")  # neighbours in the sequence (TEXT blocks)
        self._right = array("q")
        self._key = array("q")  # document order: key[left] < key < key[right]
        self._slot = array("q")  # its run in `_text` when it holds text
        self._start = NONE
        self._queues: dict[int, deque[Struct]] = {}
        self._pending_deletes: list[tuple[int, int, int]] = []
        self._text = TextUnits()

    # -- applying rows -------------------------------------------------------------

    def apply(self, seq: int, update: bytes) -> None:
        """Integrate the update stored at `seq` (raises TimelineUnsupported, and
        nothing else, for anything it cannot follow)."""
        try:
            self._apply(seq, update)
        except TimelineUnsupported:
            raise
        except (ValueError, LookupError, OverflowError) as exc:  # malformed, or inconsistent
            raise TimelineUnsupported(f"seq {seq}: {exc!r}") from exc

    def _apply(self, seq: int, update: bytes) -> None:
        decoded = decode_update(update)
        structs = decoded.structs
        done = 0
        if not self._queues:  # the usual case: each struct integrates in turn
            for struct in structs:
                struct.client = self._clients_seen.setdefault(struct.client, struct.client)
                have = self._state.get(struct.client, 0)
                if struct.ref == SKIP or struct.clock > have or self._missing(struct) is not None:
                    break
                if struct.clock + struct.length > have:
                    self._integrate(struct, have - struct.clock, seq)
                done += 1
        if done < len(structs):
            for struct in structs[done:]:
                struct.client = self._clients_seen.setdefault(struct.client, struct.client)
                if struct.ref != SKIP:
                    self._queues.setdefault(struct.client, deque()).append(struct)
            self._integrate_queues(seq)
        deletes = decoded.deletes
        if self._pending_deletes:
            deletes = self._pending_deletes + deletes
            self._pending_deletes = []
        for client, clock, length in deletes:
            self._delete(client, clock, length, seq)
        self.seq = seq

    def _integrate_queues(self, seq: int) -> None:
        """Integrate every struct whose dependencies are there (as Yjs' and Yrs'
        `integrateStructs` with their retries end up doing): follow a missing
        dependency to its client's queue with a stack, and go round again while that
        makes progress; what still misses one waits for a later update."""
        progress = True
        while progress and self._queues:
            progress = False
            blocked: set[int] = set()
            for first in list(self._queues):
                stack = [first]
                while stack:
                    client = stack[-1]
                    queue = self._queues.get(client)
                    if not queue or client in blocked:
                        stack.pop()
                        continue
                    struct = queue[0]
                    have = self._state.get(client, 0)
                    if struct.clock > have:  # this client's earlier structs are missing
                        blocked.add(client)
                    elif struct.clock + struct.length <= have:  # already integrated
                        queue.popleft()
                    elif (missing := self._missing(struct)) is None:
                        queue.popleft()
                        self._integrate(struct, have - struct.clock, seq)
                        progress = True
                    elif missing in blocked or missing in stack or not self._queues.get(missing):
                        blocked.add(client)  # retried in the next round if any progress
                    else:
                        stack.append(missing)
            for client in [c for c, q in self._queues.items() if not q]:
                del self._queues[client]

    def _missing(self, struct: Struct) -> int | None:
        for dep in (struct.origin, struct.right_origin, struct.parent):
            if (
                isinstance(dep, tuple)
                and dep[0] != struct.client
                and dep[1] >= self._state.get(dep[0], 0)
            ):
                return dep[0]
        return None

    def _new_block(self, kind: int, client: int, clock: int, length: int) -> int:
        block = len(self._kind)
        self._kind.append(kind)
        self._client.append(client)
        self._clock.append(clock)
        self._length.append(length)
        self._origin_client.append(NO_CLIENT)
        self._origin_clock.append(0)
        self._right_client.append(NO_CLIENT)
        self._right_clock.append(0)
        self._left.append(NONE)
        self._right.append(NONE)
        self._key.append(0)
        self._slot.append(NONE)
        return block

    def _register(self, kind: int, s: Struct) -> int:
        """A new block for struct `s`, the next of its client."""
        block = self._new_block(kind, s.client, s.clock, s.length)
        owner = self._clients.get(s.client)
        if owner is None:
            owner = self._clients[s.client] = _Client()
        owner.starts.append(s.clock)
        owner.blocks.append(block)
        self._state[s.client] = s.clock + s.length
        return block

    def _integrate(self, s: Struct, offset: int, seq: int) -> None:
        if offset:
            s.clock += offset
            s.length -= offset
            s.origin = (s.client, s.clock - 1)
            if s.text is not None:
                s.text = s.text[2 * offset :]
        if s.ref == GC:
            self._register(GONE, s)
            return
        left = self._clean_end(s.origin) if s.origin else NONE
        right = self._clean_start(s.right_origin) if s.right_origin else NONE
        kinds = self._kind
        if (left != NONE and kinds[left] == GONE) or (right != NONE and kinds[right] == GONE):
            self._register(GONE, s)
            return
        if s.origin is None and s.right_origin is None:
            if isinstance(s.parent, tuple):  # inside a nested type
                parent = self._block(s.parent)
                self._register(GONE if kinds[parent] == GONE else OTHER, s)
                return
            in_text = s.parent == self.root and s.parent_sub is None
        else:
            sides = [kinds[b] for b in (left, right) if b != NONE]
            if len(sides) == 2 and sides[0] != sides[1]:
                raise TimelineUnsupported(f"item {s.client}:{s.clock} spans two parents")
            in_text = sides[0] == TEXT
        if not in_text:
            self._register(OTHER, s)
            return
        run = self._register(TEXT, s)
        if s.origin is not None:
            self._origin_client[run], self._origin_clock[run] = s.origin
        if s.right_origin is not None:
            self._right_client[run], self._right_clock[run] = s.right_origin
        # Only strings show in the text; deleted content, formats and embeds take
        # their place in the sequence without a character (as Yrs' get_string).
        if s.ref == STRING and s.text is not None:
            self._slot[run] = self._text.add_run(s.text, seq)
        self._link(run, left, right)

    def _link(self, run: int, left: int, right: int) -> None:
        """YATA: place `run` between its origins, ordering it among concurrent inserts."""
        lefts, rights = self._left, self._right
        if (left == NONE and (right == NONE or lefts[right] != NONE)) or (
            left != NONE and rights[left] != right
        ):
            oc, ok, rc, rk = (
                self._origin_client,
                self._origin_clock,
                self._right_client,
                self._right_clock,
            )
            origin, right_origin = (oc[run], ok[run]), (rc[run], rk[run])
            client = self._client[run]
            o = rights[left] if left != NONE else self._start
            conflicting: set[int] = set()
            before_origin: set[int] = set()
            while o != NONE and o != right:
                before_origin.add(o)
                conflicting.add(o)
                o_origin = (oc[o], ok[o])
                if origin == o_origin:
                    if self._client[o] < client:
                        left = o
                        conflicting.clear()
                    elif right_origin == (rc[o], rk[o]):
                        break
                elif o_origin[0] != NO_CLIENT and self._block(o_origin) in before_origin:
                    if self._block(o_origin) not in conflicting:
                        left = o
                        conflicting.clear()
                else:
                    break
                o = rights[o]
        lefts[run] = left
        if left != NONE:
            rights[run] = rights[left]
            rights[left] = run
        else:
            rights[run] = self._start
            self._start = run
        if rights[run] != NONE:
            lefts[rights[run]] = run
        self._place(run)

    def _set_key(self, block: int, key: int) -> None:
        self._key[block] = key
        if self._slot[block] != NONE:
            self._text.set_key(self._slot[block], key)

    def _place(self, run: int) -> None:
        """Give `run` an order key between its neighbours' (storage/texthistory/order_keys.py)."""
        key = key_between(self._left[run], self._right[run], self._key)
        if key is not None:
            self._set_key(run, key)
            return
        for block, new in relabel(run, self._left, self._right, self._key):
            self._set_key(block, new)

    # -- blocks by ID --------------------------------------------------------------

    def _owner(self, client: int) -> _Client:
        owner = self._clients.get(client)
        if owner is None:
            raise TimelineUnsupported(f"unknown client {client}")
        return owner

    def _block(self, at: ID) -> int:
        owner = self._owner(at[0])
        return owner.blocks[owner.find(at[1], self._length)]

    def _clean_end(self, at: ID) -> int:
        """The block ending at `at` (split when `at` is inside a run)."""
        owner = self._owner(at[0])
        index = owner.find(at[1], self._length)
        block = owner.blocks[index]
        start = self._clock[block]
        if self._kind[block] == TEXT and at[1] < start + self._length[block] - 1:
            self._split(owner, index, at[1] - start + 1)
        return block

    def _clean_start(self, at: ID) -> int:
        """The block starting at `at` (split when `at` is inside a run)."""
        owner = self._owner(at[0])
        index = owner.find(at[1], self._length)
        block = owner.blocks[index]
        if self._kind[block] == TEXT and at[1] > self._clock[block]:
            return self._split(owner, index, at[1] - self._clock[block])
        return block

    def _split(self, owner: _Client, index: int, offset: int) -> int:
        """Yjs' `splitItem`: the right part gets the left part's last unit as origin."""
        run = owner.blocks[index]
        client, clock = self._client[run], self._clock[run]
        tail = self._new_block(TEXT, client, clock + offset, self._length[run] - offset)
        self._length[run] = offset
        if self._slot[run] != NONE:
            self._slot[tail] = self._text.split(self._slot[run], offset)
        self._origin_client[tail], self._origin_clock[tail] = client, clock + offset - 1
        self._right_client[tail] = self._right_client[run]
        self._right_clock[tail] = self._right_clock[run]
        after = self._right[run]
        self._left[tail], self._right[tail] = run, after
        if after != NONE:
            self._left[after] = tail
        self._right[run] = tail
        self._place(tail)
        owner.starts.insert(index + 1, clock + offset)
        owner.blocks.insert(index + 1, tail)
        return tail

    def _delete(self, client: int, clock: int, length: int, seq: int) -> None:
        """Mark the units [clock, clock+length) deleted at `seq`; the part not yet
        integrated waits (Yjs' pending delete set)."""
        known = self._state.get(client, 0)
        if clock + length > known:
            start = max(clock, known)
            self._pending_deletes.append((client, start, clock + length - start))
            length = known - clock
        if length <= 0:
            return
        owner = self._clients[client]
        index = owner.find(clock, self._length)
        end = clock + length
        while index < len(owner.blocks) and owner.starts[index] < end:
            block = owner.blocks[index]
            index += 1
            slot = self._slot[block]
            if slot == NONE:
                continue
            first = self._clock[block]
            lo = max(clock, first) - first
            self._text.delete(slot, lo, min(end, first + self._length[block]) - first, seq)

    # -- reading versions ----------------------------------------------------------

    def text_at(self, seq: int) -> str:
        """The text after update `seq` (base <= seq <= self.seq)."""
        if not self.base <= seq <= self.seq:
            raise ValueError(f"seq {seq} outside {self.base}..{self.seq}")
        return self._text.text_at(seq, self.seq)

    def snapshot(self) -> bytes:
        """Its versions base..seq, for `storage.texthistory.units.FrozenText` (after a restart)."""
        return self._text.snapshot(self.seq)
