"""The native WebSocket server's framing (web.wsframes): strict about what clients send."""

from __future__ import annotations

import os
import struct

import pytest

from web import wsframes
from web.wsframes import BINARY, CLOSE, CONT, PING, TEXT, FrameError, FrameReader


def client_frame(opcode: int, payload: bytes, fin: bool = True, masked: bool = True) -> bytes:
    """A frame as a client sends it (masked)."""
    n = len(payload)
    head = bytes(((0x80 if fin else 0) | opcode,))
    bit = 0x80 if masked else 0
    if n < 126:
        head += bytes((bit | n,))
    elif n < 65536:
        head += bytes((bit | 126,)) + struct.pack("!H", n)
    else:
        head += bytes((bit | 127,)) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 200_000])
def test_every_length_encoding_round_trips_in_any_chunking(size: int) -> None:
    payload = os.urandom(size)
    data = client_frame(BINARY, payload) + client_frame(PING, b"hi")
    for step in (1, 7, 4096, len(data)):
        reader = FrameReader(1 << 20)
        got = []
        for i in range(0, len(data), step):
            got += reader.feed(data[i : i + step])
        assert got == [(BINARY, payload), (PING, b"hi")]


def test_fragments_are_joined_and_control_frames_may_come_between() -> None:
    reader = FrameReader(1000)
    data = (
        client_frame(BINARY, b"ab", fin=False)
        + client_frame(PING, b"")
        + client_frame(CONT, b"cd", fin=False)
        + client_frame(CONT, b"e")
    )
    assert reader.feed(data) == [(PING, b""), (BINARY, b"abcde")]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (client_frame(BINARY, b"x", masked=False), 1002),  # clients must mask
        (bytes((0x80 | 0x40 | BINARY, 0x80)) + b"\0\0\0\0", 1002),  # RSV1 without extension
        (client_frame(0x3, b""), 1002),  # reserved opcode
        (client_frame(PING, b"x" * 126), 1002),  # control frame over 125 bytes
        (client_frame(PING, b"", fin=False), 1002),  # fragmented control frame
        (client_frame(CONT, b"x"), 1002),  # continuation of nothing
        (client_frame(TEXT, b"a", fin=False) + client_frame(BINARY, b"b"), 1002),
        (client_frame(BINARY, b"x" * 101), 1009),  # over max_size
        (client_frame(BINARY, b"x" * 60, fin=False) + client_frame(CONT, b"x" * 60), 1009),
    ],
)
def test_protocol_violations_raise_with_the_close_code(data: bytes, code: int) -> None:
    with pytest.raises(FrameError) as caught:
        FrameReader(100).feed(data)
    assert caught.value.code == code


def test_a_huge_declared_length_is_refused_before_it_is_buffered() -> None:
    head = bytes((0x80 | BINARY, 0x80 | 127)) + struct.pack("!Q", 1 << 40)
    with pytest.raises(FrameError) as caught:
        FrameReader(1 << 20).feed(head)
    assert caught.value.code == 1009


def test_close_frames() -> None:
    assert wsframes.parse_close(b"") == (1005, "")
    assert wsframes.parse_close(struct.pack("!H", 4508) + b"lent") == (4508, "lent")
    for bad in (b"\x03", struct.pack("!H", 1005), struct.pack("!H", 999)):
        with pytest.raises(FrameError):
            wsframes.parse_close(bad)
    frame = wsframes.encode_close(4403, "é" * 100)  # cut to 123 bytes, not mid-character
    assert frame[0] == 0x80 | CLOSE and frame[1] <= 125
    code, reason = wsframes.parse_close(frame[2:])
    assert code == 4403 and reason == "é" * 61


def test_server_frames_are_unmasked_and_final() -> None:
    for size in (0, 125, 126, 70_000):
        frame = wsframes.encode_binary(b"y" * size)
        assert frame[0] == 0x80 | BINARY and not frame[1] & 0x80
        assert frame.endswith(b"y" * size)


def test_accept_key_of_rfc_6455() -> None:
    assert wsframes.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert wsframes.valid_key("dGhlIHNhbXBsZSBub25jZQ==")
    assert not wsframes.valid_key("short") and not wsframes.valid_key("é")


@pytest.mark.parametrize("chunk", [1, 4096, 65_536, 1_000_003])
def test_a_big_frame_arriving_in_chunks_is_whole_and_what_follows_it_too(chunk: int) -> None:
    """A 3 MB frame is collected as chunks and joined once (appending each chunk to a
    buffer was quadratic); the frame after it, arriving in the same chunk, is kept."""
    big = os.urandom(3_000_000) if chunk > 1 else os.urandom(70_000)
    wire = client_frame(BINARY, big) + client_frame(TEXT, b"after") + client_frame(PING, b"p")
    reader = FrameReader(max_size=8 * 1024 * 1024)
    got = []
    for start in range(0, len(wire), chunk):
        got += reader.feed(wire[start : start + chunk])
    assert got == [(BINARY, big), (TEXT, b"after"), (PING, b"p")]
