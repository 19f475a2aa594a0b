"""`MemoryStore`: the Store protocol in memory (tests, benchmarks, `--db memory://`)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace

from pycrdt import Doc

from storage.types import (
    AppendResult,
    Epoch,
    EpochChanged,
    EpochEnd,
    HistoryEntry,
    LoadedRoom,
    RoomInfo,
    RoomKey,
    StoreError,
    UpdateRecord,
    Version,
)
from storage.ysplit import state_of_parts


@dataclass
class _Room:
    info: RoomInfo
    updates: dict[int, UpdateRecord] = field(default_factory=dict)
    checkpoints: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # seq -> (t, s)
    versions: list[Version] = field(default_factory=list)
    epochs: dict[int, Epoch] = field(default_factory=dict)
    retired: list[bytes] = field(default_factory=list)  # earlier epochs' state vectors


class MemoryStore:
    """Keeps everything in dicts; appends resolve on the next loop turn, in order."""

    def __init__(self) -> None:
        self._rooms: dict[str, _Room] = {}
        self._timelines: dict[str, tuple[int, int, bytes]] = {}
        self._closed = False
        self._last: asyncio.Future[AppendResult] | None = None

    async def start(self) -> None:
        """Nothing to open."""

    async def aclose(self) -> None:
        """Mark closed (idempotent)."""
        self._closed = True

    def append(
        self, room: str, update: bytes, author: str, epoch: int = 0
    ) -> asyncio.Future[AppendResult]:
        """Store now; resolve the future on the next loop turn (like a commit would)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        if self._closed:
            future.set_exception(StoreError("store is closed"))
            return future
        now = time.time_ns() // 1000
        entry = self._rooms.get(room)
        if entry is None:
            entry = self._rooms[room] = _Room(RoomInfo(room, 0, 0, now, now, epoch))
        info = entry.info
        if info.epoch != epoch:
            future.set_exception(EpochChanged(f"room {room} left epoch {epoch}: not stored"))
            return future
        seq = info.seq + 1
        entry.info = replace(
            info, seq=seq, bytes=info.bytes + len(update), updated_us=now, deleted=False
        )
        entry.updates[seq] = UpdateRecord(room, seq, now, author, update)
        loop.call_soon(future.set_result, AppendResult(room, seq, now))
        self._last = future
        return future

    async def flush(self) -> None:
        """Wait for the last append's future."""
        if self._last is not None and not self._last.done():
            await asyncio.shield(self._last)

    async def load(self, room: str) -> LoadedRoom:
        """Latest checkpoint + tail."""
        entry = self._rooms.get(room)
        if entry is None:
            return LoadedRoom(0, None, 0, [])
        cp_seq = max(entry.checkpoints, default=0)
        cp_state = entry.checkpoints[cp_seq][1] if cp_seq else None
        tail = [entry.updates[s].update for s in sorted(entry.updates) if s > cp_seq]
        info = entry.info
        retired = tuple(entry.retired)
        return LoadedRoom(
            info.seq, cp_state, cp_seq, tail, info.epoch, info.base, info.deleted, retired
        )

    async def room_info(self, room: str) -> RoomInfo | None:
        """Summary of one room."""
        entry = self._rooms.get(room)
        return entry.info if entry else None

    async def room_seqs(self, rooms: list[str]) -> dict[str, int]:
        """Last seqs of the stored ones of `rooms`."""
        return {r: self._rooms[r].info.seq for r in rooms if r in self._rooms}

    async def list_rooms(
        self, *, prefix: str = "", after: RoomKey | None = None, limit: int | None = None
    ) -> list[RoomInfo]:
        """Rooms, most recently updated first, ties by name (a page: `after`, `limit`)."""
        infos = [
            r.info
            for r in self._rooms.values()
            if not r.info.deleted and not r.info.name.startswith("~")
        ]
        ordered = sorted(
            (i for i in infos if i.name.startswith(prefix)), key=lambda i: (-i.updated_us, i.name)
        )
        if after is not None:
            ordered = [i for i in ordered if (-i.updated_us, i.name) > (-after[0], after[1])]
        return ordered[:limit]

    async def history(
        self, room: str, limit: int = 100, before: int | None = None
    ) -> list[HistoryEntry]:
        """Rows newest first."""
        entry = self._rooms.get(room)
        if entry is None:
            return []
        seqs = sorted((s for s in entry.updates if before is None or s < before), reverse=True)
        rows = [entry.updates[s] for s in seqs[:limit]]
        return [HistoryEntry(r.room, r.seq, r.time_us, r.author, len(r.update)) for r in rows]

    async def updates_range(self, room: str, after: int, upto: int) -> list[UpdateRecord]:
        """Rows with after < seq <= upto."""
        entry = self._rooms.get(room)
        if entry is None:
            return []
        return [entry.updates[s] for s in sorted(entry.updates) if after < s <= upto]

    async def checkpoint_before(self, room: str, seq: int) -> tuple[int, bytes] | None:
        """Latest checkpoint at or before seq."""
        entry = self._rooms.get(room)
        if entry is None:
            return None
        found = max((s for s in entry.checkpoints if s <= seq), default=0)
        return (found, entry.checkpoints[found][1]) if found else None

    async def add_checkpoint(self, room: str, seq: int, state: bytes) -> None:
        """Store a checkpoint."""
        entry = self._rooms.get(room)
        if entry is not None:
            entry.checkpoints.setdefault(seq, (time.time_ns() // 1000, state))

    async def seq_at_time(self, room: str, time_us: int) -> int:
        """Last seq at or before time_us."""
        entry = self._rooms.get(room)
        if entry is None:
            return 0
        seqs = [s for s, r in entry.updates.items() if r.time_us <= time_us]
        seqs += [s for s, (t, _) in entry.checkpoints.items() if t <= time_us]
        return max(seqs, default=0)

    async def add_version(self, room: str, seq: int, label: str, author: str) -> Version:
        """Name a point in history."""
        version = Version(room, seq, label, author, time.time_ns() // 1000)
        entry = self._rooms.get(room)
        if entry is not None:
            entry.versions.append(version)
        return version

    async def list_versions(self, room: str) -> list[Version]:
        """Named versions newest first."""
        entry = self._rooms.get(room)
        if entry is None:
            return []
        return sorted(entry.versions, key=lambda v: (-v.seq, -v.time_us))

    async def delete_updates_covered(self, room: str, upto: int, keep: set[int]) -> int:
        """Delete covered rows except `keep`."""
        entry = self._rooms.get(room)
        if entry is None:
            return 0
        covered = max((s for s in entry.checkpoints if s <= upto), default=0)
        doomed = [s for s in entry.updates if s <= covered and s not in keep]
        for s in doomed:
            del entry.updates[s]
        return len(doomed)

    async def list_epochs(self, room: str) -> list[Epoch]:
        """The room's recorded epochs, oldest first."""
        entry = self._rooms.get(room)
        return [entry.epochs[e] for e in sorted(entry.epochs)] if entry else []

    async def record_origin(self, room: str, origin: str, epoch: int, seq: int) -> None:
        """Note where `room`'s current epoch was copied from."""
        entry = self._rooms.get(room)
        if entry is None:
            return
        current = entry.info.epoch
        old = entry.epochs.get(current) or Epoch(room, current, time.time_ns() // 1000)
        entry.epochs[current] = replace(old, origin_room=origin, origin_epoch=epoch, origin_seq=seq)

    async def end_epoch(self, room: str, how: str, keep: bool) -> EpochEnd:
        """End the room's epoch (see `Store.end_epoch`)."""
        now = time.time_ns() // 1000
        entry = self._rooms.get(room)
        if entry is None:
            entry = self._rooms[room] = _Room(RoomInfo(room, 0, 0, now, now))
        info = entry.info
        archive = None
        if info.seq > info.base:
            cp_seq = max(entry.checkpoints, default=0)
            parts = [entry.checkpoints[cp_seq][1]] if cp_seq else []
            parts += [entry.updates[s].update for s in sorted(entry.updates) if s > cp_seq]
            entry.retired.append(state_of_parts(parts))
            if keep and how == "reset":
                archive = f"~{uuid.uuid4().hex}"
                self._rooms[archive] = _Room(
                    replace(info, name=archive),
                    {s: replace(r, room=archive) for s, r in entry.updates.items()},
                    dict(entry.checkpoints),
                    [replace(v, room=archive) for v in entry.versions],
                )
        if how == "delete":
            for number, epoch in entry.epochs.items():
                if epoch.archive is not None:
                    self._rooms.pop(epoch.archive, None)
                entry.epochs[number] = replace(
                    epoch,
                    archive=None,
                    kept=False,
                    origin_room=None,
                    origin_epoch=None,
                    origin_seq=None,
                )
        old = entry.epochs.get(info.epoch) or Epoch(room, info.epoch, info.created_us)
        entry.epochs[info.epoch] = replace(
            old,
            ended_us=now,
            ended_by=how,
            last_seq=info.seq,
            kept=archive is not None,
            archive=archive,
        )
        base = info.seq + 1
        entry.epochs[info.epoch + 1] = Epoch(room, info.epoch + 1, now)
        entry.updates, entry.versions = {}, []
        entry.checkpoints = {base: (now, Doc().get_update())}
        entry.info = replace(
            info,
            seq=base,
            bytes=0,
            updated_us=now,
            epoch=info.epoch + 1,
            base=base,
            deleted=how == "delete",
        )
        self._timelines.pop(room, None)
        return EpochEnd(room, info.epoch + 1, base, info.seq, archive)

    async def save_text_timeline(self, room: str, base: int, seq: int, data: bytes) -> None:
        """Replace the room's saved text timeline snapshot."""
        self._timelines[room] = (base, seq, data)

    async def load_text_timeline(self, room: str) -> tuple[int, int, bytes] | None:
        """The room's saved text timeline snapshot: (base, seq, data)."""
        return self._timelines.get(room)

    @property
    def failed_commits(self) -> tuple[int, str]:
        """Memory never fails to commit."""
        return 0, ""

    @asynccontextmanager
    async def maintenance_lock(self, room: str, *, wait: bool = False) -> AsyncIterator[bool]:
        """One process holds a memory store: always granted."""
        yield True

    async def ping(self, write: bool = False) -> None:
        """Always reachable while open."""
        if self._closed:
            raise StoreError("store is closed")
