"""A room's epoch (docs/rooms.md): reset and delete start a new document, and nothing of
the old one may come back. The epoch is part of the handshake: a client that says which
epoch its document belongs to (`?epoch=N`) and is wrong is closed `ROOM_RESET` (4410)
before it can send anything; one that says nothing (a plain y-websocket client) is
checked by what it holds — a state vector or an update with a client id of an earlier
epoch's document is the old document, closed 4410 instead of merged."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from storage.ysplit import struct_state
from storage.yupdate import UpdateFormatError
from sync.errors import CloseCode, SyncError
from sync.protocol import decode_state_vector

EPOCH_PARAM = "epoch"
NO_CLAIM = -1  # `?epoch=` empty: the client has no copy yet (it wants the epoch message)


class StaleDocument(SyncError):
    """The client holds a document of an earlier epoch of the room."""

    code = CloseCode.ROOM_RESET


@dataclass(frozen=True, slots=True)
class RoomEpoch:
    """Which life of the room a loaded Room serves."""

    epoch: int = 0
    base: int = 0  # its rows have seq > base
    deleted: bool = False  # began with a delete (nothing written since)
    retired: frozenset[int] = field(default_factory=frozenset)  # earlier documents' clients

    @classmethod
    def of(cls, epoch: int, base: int, deleted: bool, retired: tuple[bytes, ...]) -> RoomEpoch:
        """From what the store loaded (`retired`: encoded state vectors)."""
        clients = {client for sv in retired for client in decode_state_vector(sv)}
        return cls(epoch, base, deleted, frozenset(clients))

    def reason(self) -> str:
        """The close reason sent with 4410: the client learns the epoch from it."""
        return f"room reset: epoch {self.epoch}"

    def check_claim(self, claim: int | None) -> None:
        """Refuse a client that says its document is of another epoch."""
        if claim is not None and claim != NO_CLAIM and claim != self.epoch:
            raise StaleDocument(self.reason())

    def check_state_vector(self, state_vector: bytes) -> None:
        """Refuse a client whose document has structs of an earlier epoch's clients."""
        if self.retired:
            self.check_clients(decode_state_vector(state_vector))

    def check_update(self, update: bytes) -> None:
        """The same for an update (only rooms that were reset pay for decoding it, in
        Python: a big one is checked in the worker thread that applies it)."""
        if not self.retired:
            return
        try:
            clients = struct_state(update)  # pycrdt's get_state leaves out most clients
        except (UpdateFormatError, RecursionError):  # applying it fails clearly later
            return
        self.check_clients(clients)

    def check_clients(self, clients: Iterable[int]) -> None:
        """Refuse content written by an earlier epoch's clients."""
        if self.retired and not self.retired.isdisjoint(clients):
            raise StaleDocument(self.reason())


def epoch_claim(raw: str | None) -> int | None:
    """The `?epoch=` query parameter: None when absent (an old client), NO_CLAIM when
    empty or not a number, else the epoch the client's document belongs to."""
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if raw.isdigit() and len(raw) < 10 else NO_CLAIM
