"""Types shared across the sync layer and its users: transports, identities, limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Transport(Protocol):
    """One client's socket as the sync layer sees it (the web layer adapts Starlette)."""

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary frame."""

    async def close(self, code: int, reason: str = "") -> None:
        """Close the socket with a close code."""


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is on a connection and what they may do."""

    user_id: str | None = None
    name: str | None = None
    can_write: bool = True


@dataclass(frozen=True, slots=True)
class SyncSettings:
    """Limits and timings of the sync layer (all configurable from the CLI)."""

    max_update_bytes: int = 8 * 1024 * 1024
    max_awareness_bytes: int = 64 * 1024
    outbound_queue_frames: int = 2048
    outbound_queue_bytes: int = 32 * 1024 * 1024
    unload_grace_s: float = 30.0
    checkpoint_every: int = 500
    max_inflight_per_room: int = 10_000
    messages_per_second: float = 300.0  # per connection; 0 = unlimited
    message_burst: int = 1000
    max_connections_per_room: int = 1000  # 0 = unlimited
    max_pending_bytes_per_room: int = 4 * 1024 * 1024
