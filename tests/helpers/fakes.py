"""Fakes for the neighbours of the unit under test (never for the unit itself)."""

from __future__ import annotations

import asyncio
from typing import Any

from storage.memory import MemoryStore
from storage.types import AppendResult, LoadedRoom
from sync import protocol


class FakeTransport:
    """Records frames sent to a client; can be made to stop reading (block)."""

    def __init__(self, blocked: bool = False) -> None:
        self.frames: list[bytes] = []
        self.close_code: int | None = None
        self.unblocked = asyncio.Event()
        if not blocked:
            self.unblocked.set()

    async def send_bytes(self, data: bytes) -> None:
        """Record a frame (waits while blocked, like a client that stopped reading)."""
        await self.unblocked.wait()
        self.frames.append(data)

    async def close(self, code: int, reason: str = "") -> None:
        """Record the close code."""
        self.close_code = code

    def messages(self) -> list[protocol.Message]:
        """Every frame received, decoded."""
        return [protocol.decode_frame(f) for f in self.frames]

    def of_type(self, kind: type[Any]) -> list[Any]:
        """Decoded messages of one type."""
        return [m for m in self.messages() if isinstance(m, kind)]


class GatedStore(MemoryStore):
    """A MemoryStore whose commits and loads wait for the test to open a gate."""

    def __init__(self) -> None:
        super().__init__()
        self.commit_gate = asyncio.Event()
        self.commit_gate.set()
        self.load_gate = asyncio.Event()
        self.load_gate.set()
        self.loads = 0
        self.fail_loads = 0
        self.committed: list[AppendResult] = []

    def append(
        self, room: str, update: bytes, author: str, epoch: int = 0
    ) -> asyncio.Future[AppendResult]:
        """Resolve only after the commit gate is open."""
        inner = super().append(room, update, author, epoch)
        outer: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()

        async def commit() -> None:
            result = await inner
            await self.commit_gate.wait()
            self.committed.append(result)
            outer.set_result(result)

        self._chain = asyncio.ensure_future(self._after(getattr(self, "_chain", None), commit))
        return outer

    @staticmethod
    async def _after(previous: asyncio.Future[None] | None, step: Any) -> None:
        if previous is not None:
            await previous  # keep commits in order, like a single writer
        await step()

    async def load(self, room: str) -> LoadedRoom:
        """Count loads; wait for the gate; fail the first `fail_loads` loads."""
        self.loads += 1
        await self.load_gate.wait()
        if self.fail_loads > 0:
            self.fail_loads -= 1
            raise OSError("database unavailable (test)")
        return await super().load(room)
