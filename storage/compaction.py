"""Retention: fold old single updates into checkpoints, keeping named versions, a
configurable granularity of history, and the current state byte for byte.

Policy: nothing is deleted unless `samepage compact` is run. For updates older than
`older_than`, a checkpoint is kept at every `keep_every`-th seq, at every named
version and at the cutoff; the update rows those checkpoints cover are deleted except
rows of named versions. Any seq between two kept points then resolves to the kept point
before it; everything after the cutoff keeps full, per-update history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from storage.history import Cursor, cursor_at
from storage.types import Store


@dataclass
class CompactResult:
    """What one room's compaction did."""

    room: str
    cutoff: int
    checkpoints_added: int
    rows_deleted: int


Progress = Callable[[int, int], None]


def kept_points(cutoff: int, keep_every: int, named: set[int]) -> list[int]:
    """The seqs that stay reconstructable up to the cutoff."""
    points = {p for p in named if 0 < p <= cutoff}
    if keep_every > 0:
        points.update(range(keep_every, cutoff + 1, keep_every))
    if cutoff > 0:
        points.add(cutoff)
    return sorted(points)


async def compact_room(
    store: Store,
    room: str,
    *,
    keep_every: int = 100,
    older_than_us: int | None = None,
    now_us: int,
    progress: Progress | None = None,
) -> CompactResult:
    """Compact one room (see the module doc for the policy). Safe beside a running
    server: every reader checks that the rows it reads continue its checkpoint
    (storage/history.py), and on PostgreSQL it waits for a checkpoint build of the
    room on any node to end (the room's maintenance lock)."""
    async with store.maintenance_lock(room, wait=True):
        return await _compact(store, room, keep_every, older_than_us, now_us, progress)


async def _compact(
    store: Store,
    room: str,
    keep_every: int,
    older_than_us: int | None,
    now_us: int,
    progress: Progress | None,
) -> CompactResult:
    info = await store.room_info(room)
    if info is None:
        return CompactResult(room, 0, 0, 0)
    cutoff = info.seq
    if older_than_us is not None:
        cutoff = await store.seq_at_time(room, now_us - older_than_us)
    named = {v.seq for v in await store.list_versions(room)}
    points = kept_points(cutoff, keep_every, named)
    added = 0
    cursor: Cursor | None = None
    for done, point in enumerate(points, 1):
        # Advances over the rows since the last point, or (where an earlier compaction
        # folded them) starts again from the checkpoint that covers them.
        cursor = await cursor_at(store, room, point, cursor)
        if cursor.seq == point and not await _has_checkpoint(store, room, point):
            # With what is still pending: deleting the rows must not lose it.
            # encoded in a thread: Yrs releases the GIL (compaction may run in a server)
            await store.add_checkpoint(room, point, await asyncio.to_thread(cursor.state))
            added += 1
        if progress is not None:
            progress(done, len(points))
    deleted = await store.delete_updates_covered(room, cutoff, keep=named) if cutoff else 0
    return CompactResult(room, cutoff, added, deleted)


async def _has_checkpoint(store: Store, room: str, seq: int) -> bool:
    found = await store.checkpoint_before(room, seq)
    return found is not None and found[0] == seq
