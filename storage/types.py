"""Types that cross the storage boundary: records and the `Store` protocol."""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol


class StoreError(Exception):
    """The store could not do what was asked (database down, constraint broken...)."""


class EpochChanged(StoreError):
    """An append for an epoch the room has left (it was reset or deleted meanwhile,
    on this node or another): refused, nothing stored."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Where an appended update was stored."""

    room: str
    seq: int
    time_us: int


@dataclass(frozen=True, slots=True)
class UpdateRecord:
    """One row of the update log."""

    room: str
    seq: int
    time_us: int
    author: str
    update: bytes


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One row of the update log as a history lists it: its size, not its bytes (a
    listing of 100,000 rows reads no update)."""

    room: str
    seq: int
    time_us: int
    author: str
    size: int


@dataclass(frozen=True, slots=True)
class LoadedRoom:
    """What loading a room returns: latest checkpoint plus the tail after it."""

    seq: int
    checkpoint: bytes | None
    checkpoint_seq: int
    tail: list[bytes]
    epoch: int = 0  # the document's life (docs/rooms.md)
    base: int = 0  # this epoch's rows have seq > base
    deleted: bool = False  # the last epoch ended with a delete (nothing written since)
    retired: tuple[bytes, ...] = ()  # state vectors of earlier epochs' last documents


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """Summary of a stored room."""

    name: str
    seq: int
    bytes: int
    created_us: int
    updated_us: int
    epoch: int = 0  # the document's life (docs/rooms.md): reset and delete start the next
    base: int = 0  # this epoch's rows have seq > base
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class Version:
    """A named point in a room's history."""

    room: str
    seq: int
    label: str
    author: str
    time_us: int


@dataclass(frozen=True, slots=True)
class Epoch:
    """One life of a room's document: where a fork started it, and for an ended epoch
    how it ended and whether its history is kept (readable with `?epoch=`)."""

    room: str
    epoch: int
    started_us: int
    origin_room: str | None = None  # a fork: the room and version it was copied from
    origin_epoch: int | None = None
    origin_seq: int | None = None
    ended_us: int | None = None
    ended_by: str | None = None  # "reset" or "delete"
    last_seq: int | None = None
    kept: bool = False
    archive: str | None = None  # the storage key of its kept history


@dataclass(frozen=True, slots=True)
class EpochEnd:
    """What `Store.end_epoch` did: the room is in `epoch` now, its rows start after
    `base`; the epoch before ended at `last_seq`, its history kept under `archive`."""

    room: str
    epoch: int
    base: int
    last_seq: int
    archive: str | None


RoomKey = tuple[int, str]
"""A room's place in the room list: (updated_us, name); a page cursor."""


class Store(Protocol):
    """Durable update log with checkpoints, history and named versions.

    `append` is the write path: it returns a future resolved after the update is
    committed (group commit: several appends may share one transaction). Futures of
    one store resolve in the order `append` was called.
    """

    async def start(self) -> None:
        """Open connections, run migrations, start the writer."""

    async def aclose(self) -> None:
        """Flush pending appends and release resources (idempotent)."""

    def append(
        self, room: str, update: bytes, author: str, epoch: int = 0
    ) -> asyncio.Future[AppendResult]:
        """Queue `update` for `room`'s `epoch`; the future resolves once it is committed
        (with `EpochChanged` when the room is in another epoch by then)."""

    async def flush(self) -> None:
        """Wait until every append queued so far is committed."""

    async def load(self, room: str) -> LoadedRoom:
        """Latest checkpoint + every update after it (empty room if unknown)."""

    async def room_info(self, room: str) -> RoomInfo | None:
        """Summary of one room, or None when it has never been stored."""

    async def room_seqs(self, rooms: list[str]) -> dict[str, int]:
        """The last committed seq of each of `rooms` that is stored (one round trip)."""

    async def list_rooms(
        self, *, prefix: str = "", after: RoomKey | None = None, limit: int | None = None
    ) -> list[RoomInfo]:
        """Stored rooms, most recently updated first (ties by name): those whose name
        starts with `prefix`, after `after` in that order, at most `limit`."""

    async def history(
        self, room: str, limit: int = 100, before: int | None = None
    ) -> list[HistoryEntry]:
        """Update rows newest first (without their bytes), seq < before when given."""

    async def updates_range(self, room: str, after: int, upto: int) -> list[UpdateRecord]:
        """Update rows with after < seq <= upto, oldest first."""

    async def checkpoint_before(self, room: str, seq: int) -> tuple[int, bytes] | None:
        """The latest checkpoint at or before seq: (seq, state)."""

    async def add_checkpoint(self, room: str, seq: int, state: bytes) -> None:
        """Store a checkpoint covering exactly the updates <= seq."""

    async def seq_at_time(self, room: str, time_us: int) -> int:
        """The last seq committed at or before time_us (0 when none)."""

    async def add_version(self, room: str, seq: int, label: str, author: str) -> Version:
        """Name a point in history."""

    async def list_versions(self, room: str) -> list[Version]:
        """Named versions, newest first."""

    async def delete_updates_covered(self, room: str, upto: int, keep: set[int]) -> int:
        """Delete update rows <= upto that a checkpoint covers, except those in keep."""

    async def list_epochs(self, room: str) -> list[Epoch]:
        """The room's recorded epochs, oldest first (none for a room never forked,
        reset or deleted)."""

    async def record_origin(self, room: str, origin: str, epoch: int, seq: int) -> None:
        """Note that `room`'s current epoch began as a copy of `origin` at `seq`."""

    async def end_epoch(self, room: str, how: str, keep: bool) -> EpochEnd:
        """End the room's epoch (`how`: "reset" or "delete") and start the next, empty,
        after a gap of one seq (readers of the old epoch cannot run into the new one).
        `keep`: its history stays readable under `EpochEnd.archive` (a delete keeps
        nothing, and drops the kept history of every earlier epoch too). In one
        transaction, under the room's maintenance lock; appends for the old epoch are
        refused from then on."""

    async def save_text_timeline(self, room: str, base: int, seq: int, data: bytes) -> None:
        """Keep a snapshot of the room's text timeline (replacing the one before)."""

    async def load_text_timeline(self, room: str) -> tuple[int, int, bytes] | None:
        """The room's saved text timeline snapshot: (base, seq, data)."""

    @property
    def failed_commits(self) -> tuple[int, str]:
        """Consecutive failed commits (0 since one succeeded) and the last one's cause."""

    async def ping(self, write: bool = False) -> None:
        """Raise StoreError when the database is not reachable (with `write`: when it
        cannot commit a write; one that works resets `failed_commits`)."""

    def maintenance_lock(
        self, room: str, *, wait: bool = False
    ) -> AbstractAsyncContextManager[bool]:
        """`async with store.maintenance_lock(room) as mine:` — True when this process
        may rewrite `room`'s history now (a checkpoint build, a compaction), False when
        another node is doing it; with `wait=True`, wait for it instead. Always granted
        by the memory and SQLite stores (one owner per database); a PostgreSQL advisory
        lock shared by every node."""
