"""The y-websocket wire format: strict, pure decode/encode of one frame.

A frame is `varUint messageType` + payload (see docs/PROTOCOL.md). Decoding never
raises anything but `ProtocolError`: truncated varints, lengths past the end, overlong
varints and trailing bytes are all errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from sync.errors import ProtocolError

MAX_VARINT_BYTES = 10
MAX_UINT = (1 << 64) - 1


class MessageType(IntEnum):
    """Top-level message types (y-protocols, then samepage's extensions)."""

    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3
    SUBSCRIBE = 100
    SAVED = 101
    EPHEMERAL = 102
    ACCESS = 103
    EPOCH = 104


class SyncType(IntEnum):
    """Sub-types of a SYNC message."""

    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


class SubscribeFlag(IntEnum):
    """Bits of the SUBSCRIBE message's flags."""

    SAVED = 1
    EPHEMERAL = 2
    ACCESS = 4


@dataclass(frozen=True, slots=True)
class SyncStep1:
    """A peer's state vector: "send me what I am missing"."""

    state_vector: bytes


@dataclass(frozen=True, slots=True)
class SyncStep2:
    """The answer to a step 1: an update with everything the asker lacks."""

    update: bytes


@dataclass(frozen=True, slots=True)
class SyncUpdate:
    """An incremental document update."""

    update: bytes


@dataclass(frozen=True, slots=True)
class AwarenessMessage:
    """An awareness update (its payload is decoded by `sync.awareness`)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class QueryAwareness:
    """A request for the full awareness state of the room."""


@dataclass(frozen=True, slots=True)
class Subscribe:
    """samepage extension: opt in to extension messages (flags of `SubscribeFlag`)."""

    flags: int


@dataclass(frozen=True, slots=True)
class Saved:
    """samepage extension: what the server has durably stored for the room."""

    seq: int
    state_vector: bytes


@dataclass(frozen=True, slots=True)
class Ephemeral:
    """samepage extension: a JSON message relayed to subscribers, never stored."""

    data: str


@dataclass(frozen=True, slots=True)
class Access:
    """samepage extension: the connection's permission now (JSON `{"perm": "read" |
    "write", "expires_at": seconds | null}`), sent on subscribe and when it changes."""

    data: str


@dataclass(frozen=True, slots=True)
class EpochMessage:
    """samepage extension: the room's epoch (docs/rooms.md), sent on join to a client
    that named one with `?epoch=`."""

    epoch: int


@dataclass(frozen=True, slots=True)
class Unknown:
    """A message type this server does not know (ignored for forward compatibility)."""

    message_type: int


Message = (
    SyncStep1
    | SyncStep2
    | SyncUpdate
    | AwarenessMessage
    | QueryAwareness
    | Subscribe
    | Saved
    | Ephemeral
    | Access
    | EpochMessage
    | Unknown
)


class Reader:
    """A strict cursor over bytes, raising `ProtocolError` on anything malformed."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def var_uint(self) -> int:
        """Read an unsigned LEB128 varint of at most 10 bytes."""
        data, pos, value, shift = self._data, self._pos, 0, 0
        for i in range(MAX_VARINT_BYTES):
            if pos + i >= len(data):
                raise ProtocolError("truncated varint")
            byte = data[pos + i]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                if value > MAX_UINT:
                    raise ProtocolError("varint out of range")
                self._pos = pos + i + 1
                return value
            shift += 7
        raise ProtocolError("varint longer than 10 bytes")

    def var_bytes(self) -> bytes:
        """Read a length-prefixed byte string."""
        length = self.var_uint()
        end = self._pos + length
        if end > len(self._data):
            raise ProtocolError("length prefix past the end of the frame")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def var_string(self) -> str:
        """Read a length-prefixed UTF-8 string (the length counts bytes)."""
        raw = self.var_bytes()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not valid UTF-8") from exc

    def at_end(self) -> bool:
        """True when every byte was consumed."""
        return self._pos == len(self._data)

    def expect_end(self) -> None:
        """Raise when bytes are left over: a frame holds exactly one message."""
        if not self.at_end():
            raise ProtocolError(f"{len(self._data) - self._pos} trailing bytes after message")


def write_var_uint(value: int) -> bytes:
    """Encode an unsigned LEB128 varint."""
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def write_var_bytes(data: bytes) -> bytes:
    """Encode a length-prefixed byte string."""
    return write_var_uint(len(data)) + data


def write_var_string(text: str) -> bytes:
    """Encode a length-prefixed UTF-8 string; the prefix is the *byte* length."""
    return write_var_bytes(text.encode("utf-8"))


def decode_frame(frame: bytes) -> Message:
    """Decode one binary WebSocket frame into exactly one message."""
    if not frame:
        raise ProtocolError("empty frame")
    reader = Reader(frame)
    kind = reader.var_uint()
    message: Message
    if kind == MessageType.SYNC:
        sync_type = reader.var_uint()
        payload = reader.var_bytes()
        if sync_type == SyncType.STEP1:
            message = SyncStep1(payload)
        elif sync_type == SyncType.STEP2:
            message = SyncStep2(payload)
        elif sync_type == SyncType.UPDATE:
            message = SyncUpdate(payload)
        else:
            raise ProtocolError(f"unknown sync message type {sync_type}")
    elif kind == MessageType.AWARENESS:
        message = AwarenessMessage(reader.var_bytes())
    elif kind == MessageType.QUERY_AWARENESS:
        message = QueryAwareness()
    elif kind == MessageType.SUBSCRIBE:
        message = Subscribe(reader.var_uint())
    elif kind == MessageType.SAVED:
        message = Saved(reader.var_uint(), reader.var_bytes())
    elif kind == MessageType.EPHEMERAL:
        message = Ephemeral(reader.var_string())
    elif kind == MessageType.ACCESS:
        message = Access(reader.var_string())
    elif kind == MessageType.EPOCH:
        message = EpochMessage(reader.var_uint())
    else:
        # Forward compatibility: the payload of an unknown type is not ours to parse.
        return Unknown(kind)
    reader.expect_end()
    return message


def update_payload(frame: bytes) -> bytes | None:
    """The update of a sync step 2 or update frame whose length fits in one or two
    bytes (what typing sends), without building a message; None for anything else,
    malformed frames included (`decode_frame` decides those)."""
    if len(frame) < 3 or frame[0] != 0 or not 1 <= frame[1] <= 2:  # SYNC; STEP2, UPDATE
        return None
    length = frame[2]
    start = 3
    if length >= 0x80:
        if len(frame) < 4 or frame[3] >= 0x80:
            return None
        length = (length & 0x7F) | (frame[3] << 7)
        start = 4
    if start + length != len(frame):
        return None
    return frame[start:]


def _sync(sync_type: SyncType, payload: bytes) -> bytes:
    return bytes((MessageType.SYNC, sync_type)) + write_var_bytes(payload)


def encode_sync_step1(state_vector: bytes) -> bytes:
    """Frame a sync step 1 (our state vector)."""
    return _sync(SyncType.STEP1, state_vector)


def encode_sync_step2(update: bytes) -> bytes:
    """Frame a sync step 2 (what the peer lacks)."""
    return _sync(SyncType.STEP2, update)


def encode_update(update: bytes) -> bytes:
    """Frame an incremental update."""
    return _sync(SyncType.UPDATE, update)


def encode_awareness(payload: bytes) -> bytes:
    """Frame an awareness update payload."""
    return bytes((MessageType.AWARENESS,)) + write_var_bytes(payload)


def encode_query_awareness() -> bytes:
    """Frame a query-awareness request."""
    return bytes((MessageType.QUERY_AWARENESS,))


def encode_subscribe(flags: int) -> bytes:
    """Frame a samepage subscribe request."""
    return bytes((MessageType.SUBSCRIBE,)) + write_var_uint(flags)


def encode_saved(seq: int, state_vector: bytes) -> bytes:
    """Frame a samepage saved notification."""
    return bytes((MessageType.SAVED,)) + write_var_uint(seq) + write_var_bytes(state_vector)


def encode_ephemeral(data: str) -> bytes:
    """Frame a samepage ephemeral message."""
    return bytes((MessageType.EPHEMERAL,)) + write_var_string(data)


def encode_access(data: str) -> bytes:
    """Frame a samepage access message (JSON text)."""
    return bytes((MessageType.ACCESS,)) + write_var_string(data)


def encode_epoch(epoch: int) -> bytes:
    """Frame a samepage epoch message."""
    return bytes((MessageType.EPOCH,)) + write_var_uint(epoch)


def decode_state_vector(data: bytes) -> dict[int, int]:
    """Decode an encoded Yjs state vector into {client id: clock}."""
    reader = Reader(data)
    count = reader.var_uint()
    if count > len(data):
        raise ProtocolError("state vector count larger than the frame")
    result: dict[int, int] = {}
    for _ in range(count):
        client = reader.var_uint()
        result[client] = reader.var_uint()
    reader.expect_end()
    return result


def encode_state_vector(clocks: dict[int, int]) -> bytes:
    """Encode {client id: clock} as a Yjs state vector."""
    parts = [write_var_uint(len(clocks))]
    for client, clock in clocks.items():
        parts.append(write_var_uint(client))
        parts.append(write_var_uint(clock))
    return b"".join(parts)
