"""The codec: round trips, and every malformed frame is a ProtocolError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import protocol
from sync.awareness import AwarenessEntry, decode_awareness, encode_awareness_entries
from sync.errors import ProtocolError

ROUND_TRIPS = [
    (protocol.encode_sync_step1(b"\x01\x02\x03"), protocol.SyncStep1(b"\x01\x02\x03")),
    (protocol.encode_sync_step2(b"\x00\x00"), protocol.SyncStep2(b"\x00\x00")),
    (protocol.encode_update(b"x" * 300), protocol.SyncUpdate(b"x" * 300)),
    (protocol.encode_awareness(b"\x00"), protocol.AwarenessMessage(b"\x00")),
    (protocol.encode_query_awareness(), protocol.QueryAwareness()),
    (protocol.encode_subscribe(3), protocol.Subscribe(3)),
    (protocol.encode_saved(12345, b"\x01\x05\x07"), protocol.Saved(12345, b"\x01\x05\x07")),
    (protocol.encode_ephemeral('{"ü": "ß"}'), protocol.Ephemeral('{"ü": "ß"}')),
    (protocol.encode_access('{"perm": "read"}'), protocol.Access('{"perm": "read"}')),
]


@pytest.mark.parametrize(("frame", "message"), ROUND_TRIPS)
def test_round_trip(frame: bytes, message: protocol.Message) -> None:
    assert protocol.decode_frame(frame) == message


@pytest.mark.parametrize(("frame", "_message"), ROUND_TRIPS)
def test_every_truncation_is_a_protocol_error(frame: bytes, _message: object) -> None:
    for cut in range(len(frame)):
        if cut == 1 and frame[0] == protocol.MessageType.QUERY_AWARENESS:
            continue
        with pytest.raises(ProtocolError):
            protocol.decode_frame(frame[:cut])


@pytest.mark.parametrize(("frame", "_message"), ROUND_TRIPS)
def test_trailing_bytes_are_a_protocol_error(frame: bytes, _message: object) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_frame(frame + b"\x00")


@pytest.mark.parametrize(
    "frame",
    [
        b"",
        b"\x00\x07\x00",  # unknown sync type
        b"\x00\x02\x05ab",  # length past the end
        b"\x00\x02" + b"\xff" * 11 + b"\x01",  # varint longer than 10 bytes
        b"\x66" + b"\x80" * 10,  # truncated overlong varint
        b"\x65\x01\x05\x01",  # saved with short state vector
        b"\x66\x02\xff\xfe",  # ephemeral that is not UTF-8
    ],
)
def test_malformed_frames(frame: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.decode_frame(frame)


def test_unknown_message_type_is_tolerated() -> None:
    assert protocol.decode_frame(b"\x09anything") == protocol.Unknown(9)


def test_strings_are_length_prefixed_in_bytes_not_characters() -> None:
    # pycrdt's Encoder writes the character count; ours must write the byte length.
    frame = protocol.encode_ephemeral("日本")
    assert frame[1] == len("日本".encode())


@given(st.binary(max_size=64))
@settings(max_examples=300)
def test_random_bytes_never_raise_anything_but_protocol_error(data: bytes) -> None:
    try:
        protocol.decode_frame(data)
    except ProtocolError:
        pass


@given(st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_varint_round_trip(value: int) -> None:
    reader = protocol.Reader(protocol.write_var_uint(value))
    assert reader.var_uint() == value
    assert reader.at_end()


def test_state_vector_round_trip() -> None:
    clocks = {1: 5, 2**32 - 1: 2**40}
    assert protocol.decode_state_vector(protocol.encode_state_vector(clocks)) == clocks


def test_awareness_round_trip_and_rejects() -> None:
    entries = [AwarenessEntry(7, 3, '{"user": {"name": "Zoë"}}'), AwarenessEntry(9, 1, "null")]
    assert decode_awareness(encode_awareness_entries(entries)) == entries
    with pytest.raises(ProtocolError):
        decode_awareness(b"\x01\x07\x03\x03{x}")  # state is not JSON
    with pytest.raises(ProtocolError):
        decode_awareness(b"\x05\x07")  # count larger than the payload


def _payload_by_full_decode(frame: bytes) -> bytes | None:
    try:
        message = protocol.decode_frame(frame)
    except ProtocolError:
        return None
    if isinstance(message, (protocol.SyncUpdate, protocol.SyncStep2)):
        return message.update
    return None


_SYNC_LIKE = st.builds(lambda t, body: bytes((0, t)) + body, st.integers(0, 3), st.binary())


@given(
    st.binary(max_size=40)
    | _SYNC_LIKE
    | st.binary(min_size=120, max_size=400).map(protocol.encode_update)
)
@settings(max_examples=2000)
def test_update_fast_path_agrees_with_the_full_decoder(data: bytes) -> None:
    """`update_payload` (the hot path) never accepts what `decode_frame` refuses, and
    when it answers, it is the same update."""
    fast = protocol.update_payload(data)
    if fast is not None:
        assert fast == _payload_by_full_decode(data)


@pytest.mark.parametrize("size", [0, 1, 2, 127, 128, 129, 300, 16383])
def test_update_fast_path_takes_every_update_up_to_two_length_bytes(size: int) -> None:
    update = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    for frame in (protocol.encode_update(update), protocol.encode_sync_step2(update)):
        assert protocol.update_payload(frame) == update
        assert protocol.update_payload(frame + b"\x00") is None  # trailing byte
        assert protocol.update_payload(frame[:-1]) is None if size else True
    assert protocol.update_payload(protocol.encode_sync_step1(update)) is None
    assert protocol.update_payload(protocol.encode_update(b"x" * 16384)) is None  # 3 bytes
