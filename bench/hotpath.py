"""`python -m bench.hotpath [--profile]`: the sync layer's CPU an update, in process.

The s2 shape without sockets or a database: 100 rooms × 10 connections on the memory
store, one writer a room typing one character an update, every frame handed to a fake
socket that only counts it. What it measures is samepage's own Python on the hot path
(decode, apply to Yrs, the write path, commit bookkeeping, fan-out to ten connections,
listeners), without the kernel's TCP sends and uvloop — for A/B of changes to `sync/`,
which `python -m bench` cannot resolve below the machine's ±10 % noise.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from typing import Any

from pycrdt import Doc, Text, TransactionEvent

from storage.memory import MemoryStore
from sync import protocol
from sync.connection import Connection
from sync.handler import handle_frame_nowait
from sync.manager import RoomManager
from sync.types import Identity, SyncSettings

ROOMS, PER_ROOM = 100, 10


class CountingSocket:
    """A FrameSink that takes every frame and keeps only the count."""

    __slots__ = ("frames",)

    def __init__(self) -> None:
        self.frames = 0

    def write_frame(self, frame: bytes) -> None:
        """Count one frame."""
        self.frames += 1

    def close_with(self, code: int, reason: str) -> None:
        """Nothing to close."""


def typing_frames(count: int) -> list[bytes]:
    """`count` update frames of one client typing at the end of its text."""
    doc: Doc[Any] = Doc()
    text = doc.get("content", type=Text)
    frames: list[bytes] = []

    def keep(event: TransactionEvent) -> None:
        frames.append(protocol.encode_update(event.update))

    doc.observe(keep)
    for k in range(count):
        text.insert(len(text), "abcdefghij"[k % 10])
    return frames


async def run(updates_per_room: int, profile: bool) -> float:
    """CPU µs an update over ROOMS × `updates_per_room` updates."""
    settings = SyncSettings(messages_per_second=0)
    manager = RoomManager(MemoryStore(), settings)
    writers, sockets = [], []
    for r in range(ROOMS):
        room = await manager.acquire(f"room{r}")
        for c in range(PER_ROOM):
            socket = CountingSocket()
            sockets.append(socket)
            conn = Connection(socket, Identity(), settings, peer=f"p{r}-{c}")
            room.join(conn)
            conn.start()
            if c == 0:
                writers.append(conn)
    frames = [typing_frames(updates_per_room) for _ in range(ROOMS)]
    await asyncio.sleep(0.1)
    profiler = cProfile.Profile() if profile else None
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    for k in range(updates_per_room):
        for r in range(ROOMS):
            if handle_frame_nowait(writers[r], frames[r][k]) is not None:
                raise RuntimeError("a frame had to wait: the bench needs the fast path")
        await asyncio.sleep(0)  # the commits resolve, the fan-out runs
    for room in list(manager.rooms.values()):
        await room.flush()
    if profiler is not None:
        profiler.disable()
    used = time.process_time() - started
    total = ROOMS * updates_per_room
    delivered = sum(s.frames for s in sockets)
    if delivered < total * PER_ROOM:
        raise RuntimeError(f"{delivered} frames delivered, expected {total * PER_ROOM}")
    await manager.aclose()
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return used / total * 1e6


def main() -> None:
    """Print the CPU an update of a few repetitions (the minimum is the least noisy)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--updates-per-room", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile one repetition")
    args = parser.parse_args()
    if args.profile:
        asyncio.run(run(args.updates_per_room, True))
        return
    results = [asyncio.run(run(args.updates_per_room, False)) for _ in range(args.repeat)]
    shown = ", ".join(f"{r:.1f}" for r in results)
    print(f"sync layer CPU an update: min {min(results):.1f} µs ({shown})")


if __name__ == "__main__":
    main()
