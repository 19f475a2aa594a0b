"""Types shared across the sync layer and its users: transports, identities, limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from sync.awareness import AwarenessEntry
    from sync.room import Room


class Transport(Protocol):
    """One client's socket as the sync layer sees it (the web layer adapts Starlette)."""

    async def send_bytes(self, data: bytes) -> None:
        """Send one binary frame."""

    async def close(self, code: int, reason: str = "") -> None:
        """Close the socket with a close code."""


class FrameSink(Protocol):
    """A socket that takes frames without waiting (the native WebSocket server): the
    sink buffers, writes coalesced, and calls `Connection.overflowed` when the client
    is over the outbound limits."""

    def write_frame(self, frame: bytes) -> None:
        """Queue one binary message for the socket."""

    def close_with(self, code: int, reason: str) -> None:
        """Start the closing handshake with `code` (no more frames after it)."""


@dataclass(frozen=True, slots=True)
class Credential:
    """The token a connection was admitted with, as far as the sync layer cares: when it
    expires (wall-clock seconds; the connection is closed 4401 then), and what the edge
    needs to find it again (revocation, grant changes: `web.access`)."""

    token_id: str = ""  # the token's `jti`
    issued_at: float = 0.0
    expires_at: float | None = None
    writable: bool = True  # what the token itself allows, before any stored grant


@dataclass(frozen=True, slots=True)
class Identity:
    """Who is on a connection and what they may do (`can_write` may be lowered while
    connected: the edge replaces a connection's identity when a grant changes)."""

    user_id: str | None = None
    name: str | None = None
    can_write: bool = True
    credential: Credential | None = None


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


def frame_kind(frame: bytes) -> str:
    """A short label for a frame's message type (`sync_update`, `awareness`, ...)."""
    if not frame:
        return "other"
    kind = frame[0]
    if kind == 0:
        return _SYNC_KINDS.get(frame[1] if len(frame) > 1 else -1, "sync_other")
    return _KINDS.get(kind, "other")


_SYNC_KINDS = {0: "sync_step1", 1: "sync_step2", 2: "sync_update"}
_KINDS = {
    1: "awareness",
    2: "auth",
    3: "query_awareness",
    100: "subscribe",
    101: "saved",
    102: "ephemeral",
}


@dataclass(slots=True)
class Traffic:
    """Plain counters of WebSocket traffic: frames and bytes by message type, and closes
    by close code. The sync layer counts; the web layer exports them as metrics."""

    frames_in: dict[str, int] = field(default_factory=dict)
    bytes_in: dict[str, int] = field(default_factory=dict)
    frames_out: dict[str, int] = field(default_factory=dict)
    bytes_out: dict[str, int] = field(default_factory=dict)
    closes: dict[int, int] = field(default_factory=dict)

    def received(self, frame: bytes) -> None:
        """Count one inbound frame."""
        kind = frame_kind(frame)
        self.frames_in[kind] = self.frames_in.get(kind, 0) + 1
        self.bytes_in[kind] = self.bytes_in.get(kind, 0) + len(frame)

    def sent(self, frame: bytes, sockets: int = 1) -> None:
        """Count one frame handed to `sockets` sockets."""
        kind = frame_kind(frame)
        self.frames_out[kind] = self.frames_out.get(kind, 0) + sockets
        self.bytes_out[kind] = self.bytes_out.get(kind, 0) + len(frame) * sockets

    def closed(self, code: int | None) -> None:
        """Count one connection ended (or refused) with `code`."""
        key = int(code) if code is not None else 1006
        self.closes[key] = self.closes.get(key, 0) + 1


@dataclass(slots=True)
class CommitNotice:
    """What a commit made durable, for listeners (bus, metrics, event feed, caches)."""

    room: str
    seq: int
    updates: list[tuple[int, bytes, str]]  # (seq, update, author)
    received: float = 0.0  # time.monotonic() the oldest of them was applied (fan-out latency)


class RoomListener:
    """Everything a room tells those who listen, as no-op methods: override what you
    need. Register on one room (`Room.add_listener`) or on every room through the
    manager (`RoomManager.add_listener`, which also tells loads and unloads)."""

    async def before_load(self, name: str) -> None:
        """The manager is about to read room `name` from the store."""

    def on_load(self, room: Room) -> None:
        """The room is loaded and registered (manager listeners only)."""

    def on_unload(self, room: Room) -> None:
        """The room was unloaded, or failed (manager listeners only)."""

    def on_commit(self, notice: CommitNotice) -> None:
        """Updates of this node were committed (and are being broadcast)."""

    def on_awareness(self, room: Room, owner: object, entries: list[AwarenessEntry]) -> None:
        """Presence entries from `owner` (a connection or a remote node) were accepted."""

    def on_ephemeral(self, room: Room, data: str) -> None:
        """An ephemeral JSON message was relayed in the room (never stored)."""

    def on_nudge(self, room: Room, entries: list[AwarenessEntry]) -> None:
        """Stale presence entries owned by other nodes' clients need a nudge."""

    def on_remote(self, room: Room, seq: int) -> None:
        """An update another node committed (at `seq`) was applied here."""

    def on_reset(self, name: str, epoch: int, here: bool) -> None:
        """Room `name` is in `epoch` now (reset or deleted: a new document, docs/rooms.md),
        by this node (`here`) or another: drop whatever you keep of its old document."""
