"""Fan-out between server processes. The in-process `LocalBus` is the default (one
node: nothing to reach); `sync.bus_redis.RedisBus` joins several nodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class BusUpdate:
    """An update committed by `origin` under `seq` in the shared log."""

    room: str
    seq: int
    update: bytes
    origin: str


@dataclass(frozen=True, slots=True)
class BusAwareness:
    """An awareness update payload accepted on node `origin`."""

    room: str
    payload: bytes
    origin: str


@dataclass(frozen=True, slots=True)
class NodeGone:
    """Node `origin` stopped heart-beating: drop the presence it owned."""

    origin: str


BusMessage = BusUpdate | BusAwareness | NodeGone
BusHandler = Callable[[BusMessage], None]


class Bus(Protocol):
    """Publish a room's committed updates and presence to the other nodes holding it."""

    node_id: str

    async def start(self, handler: BusHandler) -> None:
        """Connect; `handler` receives messages of other nodes (never our own)."""

    async def aclose(self) -> None:
        """Disconnect (idempotent)."""

    async def join(self, room: str) -> None:
        """Start receiving messages for `room` (called before the room's store load)."""

    async def leave(self, room: str) -> None:
        """Stop receiving messages for `room`."""

    def publish(self, message: BusMessage) -> None:
        """Send without waiting (queued; a down bus must not stall the room)."""


class LocalBus:
    """The single-process bus: there is no other node, so nothing is sent."""

    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id

    async def start(self, handler: BusHandler) -> None:
        """Nothing to connect."""

    async def aclose(self) -> None:
        """Nothing to close."""

    async def join(self, room: str) -> None:
        """Nothing to subscribe."""

    async def leave(self, room: str) -> None:
        """Nothing to unsubscribe."""

    def publish(self, message: BusMessage) -> None:
        """No other node to reach."""
