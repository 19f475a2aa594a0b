"""Server-side presence: the awareness states of a room and who owns each client id.

The server never publishes a state of its own (no phantom peer). A client id belongs to
the connection that first announced it; other connections may not change it (y-websocket
clients relay states they learned, so "every id seen on a connection" would be wrong).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from sync.errors import ProtocolError
from sync.protocol import Reader, write_var_string, write_var_uint

NULL_STATE = "null"
# How long a departed client id is remembered: y-protocols peers renew their state (and
# clock) every 15 s, so after this a returning client can hold no stale clock.
REMEMBER_LEFT_S = 30.0
REMEMBER_LEFT_MAX = 10_000


@dataclass(frozen=True, slots=True)
class AwarenessEntry:
    """One (client id, clock, JSON state) triple of an awareness update."""

    client_id: int
    clock: int
    state: str  # JSON text; "null" means the client went away

    @property
    def removed(self) -> bool:
        """True for a removal entry."""
        return self.state == NULL_STATE


def decode_awareness(payload: bytes) -> list[AwarenessEntry]:
    """Decode an awareness update payload strictly; the JSON of each state must parse."""
    reader = Reader(payload)
    count = reader.var_uint()
    if count > len(payload):
        raise ProtocolError("awareness entry count larger than the payload")
    entries = []
    for _ in range(count):
        client_id = reader.var_uint()
        clock = reader.var_uint()
        state = reader.var_string()
        try:
            json.loads(state)
        except ValueError as exc:
            raise ProtocolError("awareness state is not JSON") from exc
        entries.append(AwarenessEntry(client_id, clock, state))
    reader.expect_end()
    return entries


def encode_awareness_entries(entries: list[AwarenessEntry]) -> bytes:
    """Encode entries as an awareness update payload."""
    parts = [write_var_uint(len(entries))]
    for entry in entries:
        parts.append(write_var_uint(entry.client_id))
        parts.append(write_var_uint(entry.clock))
        parts.append(write_var_string(entry.state))
    return b"".join(parts)


def removal_of(entries: list[AwarenessEntry]) -> list[AwarenessEntry]:
    """Removal entries one clock past `entries`: sent to the owner of an id, they make a
    y-protocols client bump its clock and re-broadcast its state (which every peer then
    accepts, whatever clock it last saw)."""
    return [AwarenessEntry(e.client_id, e.clock + 1, NULL_STATE) for e in entries]


@dataclass(slots=True)
class _Slot:
    clock: int
    state: str
    owner: object
    changed: float = field(default_factory=time.monotonic)


class Presence:
    """The awareness states of one room, each bound to the connection that owns it."""

    def __init__(self) -> None:
        self._slots: dict[int, _Slot] = {}
        self._left: OrderedDict[int, float] = OrderedDict()  # client id -> when it left

    def apply(self, owner: object, entries: list[AwarenessEntry]) -> list[AwarenessEntry]:
        """Apply entries sent by `owner` (a connection's `client_id` is its own id, when
        known); return those accepted (to relay to others).

        Entries for a client id owned by another connection are dropped — unless the id
        is the sender's own: a tab relays its sibling tabs' states (y-websocket shares
        them over a BroadcastChannel) and may announce one before its own tab does; the
        id then moves to the tab it belongs to, so that its state leaves with it. Stale
        clocks are dropped too (Yjs awareness semantics: a newer clock wins; an equal
        clock only for a removal).
        """
        accepted = []
        own_id = getattr(owner, "client_id", None)
        for entry in entries:
            slot = self._slots.get(entry.client_id)
            if slot is None:
                if entry.removed:
                    continue  # removing what we do not hold: nothing to relay
                self._slots[entry.client_id] = _Slot(entry.clock, entry.state, owner)
                accepted.append(entry)
                continue
            if slot.owner is not owner:
                holder_id = getattr(slot.owner, "client_id", None)
                if entry.client_id != own_id or holder_id == own_id:
                    continue  # not the sender's, or its holder's own: never taken over
                slot.owner = owner
            if entry.clock > slot.clock or (
                entry.clock == slot.clock and entry.removed and slot.state != NULL_STATE
            ):
                if entry.removed:
                    del self._slots[entry.client_id]
                    self._remember_left(entry.client_id)
                else:
                    slot.clock, slot.state = entry.clock, entry.state
                    slot.changed = time.monotonic()
                accepted.append(entry)
        return accepted

    def remove_owner(self, owner: object) -> list[AwarenessEntry]:
        """Drop every state owned by `owner`; return the removal entries to broadcast."""
        removed = []
        for client_id, slot in list(self._slots.items()):
            if slot.owner is owner:
                del self._slots[client_id]
                self._remember_left(client_id)
                removed.append(AwarenessEntry(client_id, slot.clock + 1, NULL_STATE))
        return removed

    def _remember_left(self, client_id: int) -> None:
        self._left[client_id] = time.monotonic()
        self._left.move_to_end(client_id)
        while len(self._left) > REMEMBER_LEFT_MAX:
            self._left.popitem(last=False)

    def stale_for_returning(self, client_id: int) -> list[tuple[object, AwarenessEntry]]:
        """(owner, entry) of the states a client coming back as `client_id` holds at a
        stale clock: y-websocket drops every peer's state on disconnect but keeps its
        clock, so a state unchanged since the client left would be ignored when resent."""
        left = self._left.pop(client_id, None)
        if left is None or time.monotonic() - left > REMEMBER_LEFT_S:
            return []
        return [
            (slot.owner, AwarenessEntry(cid, slot.clock, slot.state))
            for cid, slot in self._slots.items()
            if cid != client_id and slot.changed <= left
        ]

    def owner_of(self, client_id: int) -> object | None:
        """The connection (or remote node marker) that announced `client_id`."""
        slot = self._slots.get(client_id)
        return slot.owner if slot is not None else None

    def owned_by(self, owner: object) -> list[int]:
        """Client ids announced by `owner`."""
        return [cid for cid, slot in self._slots.items() if slot.owner is owner]

    def entries(self) -> list[AwarenessEntry]:
        """Every current state (for a joiner or a query-awareness)."""
        return [AwarenessEntry(cid, s.clock, s.state) for cid, s in self._slots.items()]

    def states(self) -> dict[int, Any]:
        """Every current state, decoded (for the API)."""
        return {cid: json.loads(s.state) for cid, s in self._slots.items()}

    def state_of(self, owner: object) -> Any:
        """The decoded state of one of `owner`'s client ids, or None."""
        for slot in self._slots.values():
            if slot.owner is owner:
                return json.loads(slot.state)
        return None

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._slots

    def __len__(self) -> int:
        return len(self._slots)
