"""RFC 6455 framing for the server side, as pure functions and one incremental reader:
no I/O. Client frames must be masked; server frames are not, so one encoded frame can
be written unchanged to every subscriber of a room."""

from __future__ import annotations

import base64
import hashlib
import struct

from websockets.speedups import apply_mask  # C; websockets comes with uvicorn[standard]

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA = frozenset((CONT, TEXT, BINARY))
_CONTROL = frozenset((CLOSE, PING, PONG))
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_U16 = struct.Struct("!H")
_U64 = struct.Struct("!Q")
# Codes a peer may put in a close frame (RFC 6455 7.4): 1000-1003, 1007-1014, 3000-4999.
_VALID_CLOSE = frozenset((1000, 1001, 1002, 1003, *range(1007, 1015)))


class FrameError(Exception):
    """The peer broke the framing protocol; `code` is the close code to answer with."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def accept_key(key: str) -> str:
    """`Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def valid_key(key: str) -> bool:
    """A `Sec-WebSocket-Key` is the base64 encoding of 16 bytes."""
    try:
        return len(base64.b64decode(key.encode("ascii"), validate=True)) == 16
    except (ValueError, UnicodeEncodeError):
        return False


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, unmasked frame (what a server sends)."""
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + _U16.pack(n) + payload
    return bytes((0x80 | opcode, 127)) + _U64.pack(n) + payload


def encode_binary(payload: bytes) -> bytes:
    """A binary message in one frame."""
    return encode_frame(BINARY, payload)


def encode_close(code: int, reason: str = "") -> bytes:
    """A close frame; the reason is cut to fit a control frame (123 bytes)."""
    raw = reason.encode("utf-8")[:123]
    while raw:  # do not cut a character in half
        try:
            raw.decode("utf-8")
            break
        except UnicodeDecodeError:
            raw = raw[:-1]
    return encode_frame(CLOSE, _U16.pack(code) + raw)


def parse_close(payload: bytes) -> tuple[int, str]:
    """The (code, reason) of a received close frame; 1005 when it carries none."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        raise FrameError(1002, "close frame of 1 byte")
    code = _U16.unpack_from(payload)[0]
    if code not in _VALID_CLOSE and not 3000 <= code <= 4999:
        raise FrameError(1002, f"invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(1007, "close reason is not UTF-8") from None
    return code, reason


PARTIAL_FRAME_BYTES = 64 * 1024  # frames bigger than this are collected as chunks


class FrameReader:
    """Turns the bytes a client sends into messages: (opcode, payload) for each complete
    data message (fragments joined) and each control frame, in order. Strict: an
    unmasked frame, reserved bits, an unknown opcode, a fragmented or oversized control
    frame, or a message over `max_size` raise `FrameError`."""

    __slots__ = ("_buf", "_fragments", "_opcode", "_partial", "_partial_need", "_size", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf = b""
        # A big frame still arriving: its chunks so far and the bytes it needs in all
        # (joined once, when complete: appending each chunk to a buffer was quadratic,
        # 0.7 s of the loop for four 3 MB frames).
        self._partial: list[bytes] = []
        self._partial_need = 0
        self._fragments: list[bytes] | None = None
        self._opcode = 0
        self._size = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add received bytes; return the messages they completed."""
        if self._partial:
            self._partial.append(data)
            self._partial_need -= len(data)
            if self._partial_need > 0:
                return []
            buf = b"".join(self._partial)
            self._partial = []
        else:
            buf = self._buf + data if self._buf else data
        out: list[tuple[int, bytes]] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if not b1 & 0x80:
                raise FrameError(1002, "client frame is not masked")
            if b0 & 0x70:
                raise FrameError(1002, "reserved bits set")
            opcode = b0 & 0x0F
            n = b1 & 0x7F
            head = pos + 2
            if n == 126:
                if end - head < 2:
                    break
                n = _U16.unpack_from(buf, head)[0]
                head += 2
            elif n == 127:
                if end - head < 8:
                    break
                n = _U64.unpack_from(buf, head)[0]
                head += 8
            if n > 125 and opcode & 0x8:
                raise FrameError(1002, "control frame over 125 bytes")
            if n > self.max_size:
                raise FrameError(1009, f"frame of {n} bytes")
            stop = head + 4 + n
            if stop > end:
                if stop - pos > PARTIAL_FRAME_BYTES:
                    self._partial = [buf[pos:]]
                    self._partial_need = stop - end
                    self._buf = b""
                    return out
                break
            payload = apply_mask(buf[head + 4 : stop], buf[head : head + 4]) if n else b""
            pos = stop
            self._frame(out, b0 & 0x80, opcode, payload)
        self._buf = buf[pos:] if pos < end else b""
        return out

    def _frame(self, out: list[tuple[int, bytes]], fin: int, opcode: int, payload: bytes) -> None:
        if opcode in _CONTROL:
            if not fin or len(payload) > 125:
                raise FrameError(1002, "fragmented or oversized control frame")
            out.append((opcode, payload))
        elif opcode not in _DATA:
            raise FrameError(1002, f"unknown opcode {opcode}")
        elif opcode == CONT:
            if self._fragments is None:
                raise FrameError(1002, "continuation without a message")
            self._size += len(payload)
            if self._size > self.max_size:
                raise FrameError(1009, f"message of {self._size} bytes")
            self._fragments.append(payload)
            if fin:
                out.append((self._opcode, b"".join(self._fragments)))
                self._fragments = None
        elif self._fragments is not None:
            raise FrameError(1002, "new message before the last one ended")
        elif fin:
            out.append((opcode, payload))
        else:
            self._fragments = [payload]
            self._opcode = opcode
            self._size = len(payload)
