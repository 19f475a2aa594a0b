"""The bus wire format: one message per pub/sub payload — a version byte, the kind,
the origin node id, then the kind's fields (varints, length-prefixed strings and bytes,
as in the y-protocols codec). Decoding is strict: anything malformed is `ProtocolError`."""

from __future__ import annotations

from dataclasses import replace

from sync.bus import (
    BusAwareness,
    BusEphemeral,
    BusMessage,
    BusNotice,
    BusUpdate,
    NodeGone,
    PresenceNudge,
    PresenceQuery,
    PresenceSnapshot,
)
from sync.errors import ProtocolError
from sync.protocol import Reader, write_var_bytes, write_var_string, write_var_uint

WIRE_VERSION = 1
_UPDATE, _AWARENESS, _QUERY, _SNAPSHOT, _GONE, _EPHEMERAL, _NUDGE = 1, 2, 3, 4, 5, 6, 7
_NOTICE = 8


def encode_bus_message(message: BusMessage) -> bytes:
    """The wire form: version, kind, origin, then the kind's fields."""
    head = bytes((WIRE_VERSION,))
    body: list[int | str | bytes]
    if isinstance(message, BusUpdate):
        body = [_UPDATE, message.origin, message.room, message.seq, message.update]
    elif isinstance(message, BusAwareness):
        body = [_AWARENESS, message.origin, message.room, message.payload]
    elif isinstance(message, PresenceQuery):
        body = [_QUERY, message.origin, message.room]
    elif isinstance(message, PresenceSnapshot):
        body = [_SNAPSHOT, message.origin, message.room, message.payload]
    elif isinstance(message, BusEphemeral):
        body = [_EPHEMERAL, message.origin, message.room, message.data]
    elif isinstance(message, PresenceNudge):
        body = [_NUDGE, message.origin, message.room, message.payload]
    elif isinstance(message, NodeGone):
        body = [_GONE, message.origin]
    elif isinstance(message, BusNotice):
        body = [_NOTICE, message.origin, message.topic, message.payload]
    else:
        raise ValueError(f"{type(message).__name__} is never sent")
    parts = [head]
    for field in body:
        if isinstance(field, int):
            parts.append(write_var_uint(field))
        elif isinstance(field, str):
            parts.append(write_var_string(field))
        else:
            parts.append(write_var_bytes(field))
    return b"".join(parts)


def decode_bus_message(data: bytes) -> BusMessage:
    """Decode strictly; anything malformed raises `ProtocolError`."""
    reader = Reader(data)
    if reader.var_uint() != WIRE_VERSION:
        raise ProtocolError("unknown bus wire version")
    kind = reader.var_uint()
    origin = reader.var_string()
    message: BusMessage
    if kind == _GONE:
        message = NodeGone(origin)
    elif kind == _NOTICE:
        topic = reader.var_string()
        message = BusNotice(topic, reader.var_bytes(), origin)
    else:
        room = reader.var_string()
        if kind == _UPDATE:
            seq = reader.var_uint()
            message = BusUpdate(room, seq, reader.var_bytes(), origin)
        elif kind == _AWARENESS:
            message = BusAwareness(room, reader.var_bytes(), origin)
        elif kind == _QUERY:
            message = PresenceQuery(room, origin)
        elif kind == _SNAPSHOT:
            message = PresenceSnapshot(room, reader.var_bytes(), origin)
        elif kind == _EPHEMERAL:
            message = BusEphemeral(room, reader.var_string(), origin)
        elif kind == _NUDGE:
            message = PresenceNudge(room, reader.var_bytes(), origin)
        else:
            raise ProtocolError(f"unknown bus message kind {kind}")
    reader.expect_end()
    return message


def with_origin(message: BusMessage, origin: str) -> BusMessage:
    """The same message stamped with our bus node id (callers may use the bare name)."""
    return message if message.origin == origin else replace(message, origin=origin)
