"""Fan-out between server processes. The in-process `LocalBus` is the default (one
node: nothing to reach); `sync.bus_redis.RedisBus` joins several nodes; `MemoryBus`
links several nodes inside one process (tests, demos) with the same semantics."""

from __future__ import annotations

import asyncio
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
class BusEphemeral:
    """An ephemeral message (protocol extension 102) relayed on node `origin`."""

    room: str
    data: str
    origin: str


@dataclass(frozen=True, slots=True)
class NodeGone:
    """Node `origin` stopped heart-beating: drop the presence it owned."""

    origin: str


@dataclass(frozen=True, slots=True)
class PresenceQuery:
    """Node `origin` just joined `room` (or reconnected): holders answer with a snapshot."""

    room: str
    origin: str


@dataclass(frozen=True, slots=True)
class PresenceSnapshot:
    """Every awareness state node `origin`'s own clients hold in `room` (it replaces
    whatever the receiver holds for that node in that room)."""

    room: str
    payload: bytes
    origin: str


@dataclass(frozen=True, slots=True)
class PresenceNudge:
    """Awareness entries of states held by other nodes' clients that a client back in
    `room` ignores (unchanged since it left): each owning node sends its client the
    removal one clock later, and the client re-announces itself (`Room.announce_fresh`)."""

    room: str
    payload: bytes
    origin: str


@dataclass(frozen=True, slots=True)
class BusNotice:
    """A node-wide message of the layer above (an access change, ...): `topic` names
    its listener (`ClusterLink.on_notice`), `payload` is that listener's own bytes."""

    topic: str
    payload: bytes
    origin: str


@dataclass(frozen=True, slots=True)
class Resubscribed:
    """Local only, never sent: the bus (re)connected and may have missed messages of
    every room it holds — catch up from the database and exchange presence again."""

    origin: str


BusMessage = (
    BusUpdate
    | BusAwareness
    | BusEphemeral
    | NodeGone
    | PresenceQuery
    | PresenceSnapshot
    | PresenceNudge
    | BusNotice
    | Resubscribed
)
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


class MemoryHub:
    """The "Redis" of `MemoryBus`: routes messages between buses of one process."""

    def __init__(self) -> None:
        self.buses: dict[str, MemoryBus] = {}

    def route(self, message: BusMessage, room: str | None) -> None:
        """Deliver to every other connected bus that joined `room` (all when None)."""
        origin = message.origin
        for bus in list(self.buses.values()):
            if bus.node_id != origin and (room is None or room in bus.rooms):
                bus.deliver(message)


class MemoryBus:
    """Several nodes in one process, with RedisBus's semantics: per-room delivery in
    publish order, no echoes, `NodeGone` when a peer closes, and an outage switch
    (`disconnect` drops messages both ways; `reconnect` then says `Resubscribed`)."""

    def __init__(self, hub: MemoryHub, node_id: str) -> None:
        self.hub = hub
        self.node_id = node_id
        self.rooms: set[str] = set()
        self.connected = False
        self._handler: BusHandler | None = None

    async def start(self, handler: BusHandler) -> None:
        """Join the hub."""
        self._handler = handler
        self.connected = True
        self.hub.buses[self.node_id] = self

    async def aclose(self) -> None:
        """Leave the hub; peers learn that this node is gone (idempotent)."""
        if self.hub.buses.get(self.node_id) is self:
            del self.hub.buses[self.node_id]
            self.hub.route(NodeGone(self.node_id), None)
        self.connected = False

    async def join(self, room: str) -> None:
        """Receive `room` from now on."""
        self.rooms.add(room)

    async def leave(self, room: str) -> None:
        """Stop receiving `room`."""
        self.rooms.discard(room)

    def publish(self, message: BusMessage) -> None:
        """Route to the other nodes (dropped while disconnected, like a Redis outage)."""
        if not self.connected or isinstance(message, Resubscribed):
            return
        room = None if isinstance(message, (NodeGone, BusNotice)) else message.room
        self.hub.route(message, room)

    def deliver(self, message: BusMessage) -> None:
        """Hand a message to this node's handler on a later loop turn (in order)."""
        if self.connected and self._handler is not None:
            asyncio.get_running_loop().call_soon(self._deliver_now, message)

    def _deliver_now(self, message: BusMessage) -> None:
        if self.connected and self._handler is not None:
            self._handler(message)

    def disconnect(self) -> None:
        """Simulate losing the connection: nothing in, nothing out."""
        self.connected = False

    def reconnect(self) -> None:
        """Back online: tell the handler it may have missed messages."""
        self.connected = True
        self.deliver(Resubscribed(self.node_id))
