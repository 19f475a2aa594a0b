"""A decoder for Yjs v1 updates: the structs (with their origins and parents) and the
delete set, as plain records. Pure, no Yrs: the text timeline integrates them itself.

Layout (y-protocols / lib0): clients, and per client its structs from a start clock;
each struct is an info byte (content ref in the low 5 bits, 0x80 origin, 0x40 right
origin, 0x20 parent sub), then the delete set: per client, (clock, length) ranges."""

from __future__ import annotations

from dataclasses import dataclass

# content refs (the low 5 bits of a struct's info byte)
GC, DELETED, JSON, BINARY, STRING, EMBED, FORMAT, TYPE, ANY, SUBDOC, SKIP = range(11)
# type refs of TYPE content
ARRAY, MAP, TEXT, XML_ELEMENT, XML_FRAGMENT, XML_HOOK, XML_TEXT = range(7)

ID = tuple[int, int]  # (client, clock)


class UpdateFormatError(ValueError):
    """The bytes are not a Yjs v1 update this decoder understands."""


@dataclass(slots=True)
class Struct:
    """One struct of an update. `parent` is a root name, a parent item's ID, or None
    (inherited from the origins); `text` holds a string's UTF-16-LE code units."""

    client: int
    clock: int
    length: int
    ref: int
    origin: ID | None = None
    right_origin: ID | None = None
    parent: str | ID | None = None
    parent_sub: str | None = None
    text: bytes | None = None
    type_ref: int | None = None  # for TYPE content: which shared type (see TypeRef)


@dataclass(slots=True)
class DecodedUpdate:
    """An update's structs in encoding order and its delete set (client, clock, len)."""

    structs: list[Struct]
    deletes: list[tuple[int, int, int]]


MAX_VALUE_DEPTH = 64  # nesting of a JSON-like value the decoder follows by default


class Reader:
    """lib0 decoding over a v1 update's bytes (`pos` is the next byte)."""

    __slots__ = ("data", "max_depth", "pos")

    def __init__(self, data: bytes, max_depth: int = MAX_VALUE_DEPTH) -> None:
        self.data = data
        self.pos = 0
        self.max_depth = max_depth

    def uint(self) -> int:
        data, pos = self.data, self.pos
        try:
            byte = data[pos]
            if byte < 0x80:  # most lengths, clocks, counts
                self.pos = pos + 1
                return byte
            value, shift = byte & 0x7F, 7
            while True:
                pos += 1
                byte = data[pos]
                value |= (byte & 0x7F) << shift
                if byte < 0x80:
                    self.pos = pos + 1
                    return value
                shift += 7
                if shift > 63:
                    raise UpdateFormatError("varint longer than 10 bytes")
        except IndexError:
            raise UpdateFormatError("truncated varint") from None

    def raw(self, length: int) -> bytes:
        end = self.pos + length
        if end > len(self.data):
            raise UpdateFormatError("length past the end of the update")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def string(self) -> str:
        try:
            return self.raw(self.uint()).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UpdateFormatError("string is not UTF-8") from exc

    def skip_any(self, depth: int = 0) -> None:
        """Skip one lib0 `any` value."""
        if depth > self.max_depth:
            raise UpdateFormatError("value nested too deeply")
        tag = self.raw(1)[0]
        if tag in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if tag == 125:  # varint
            while self.raw(1)[0] & 0x80:
                pass
        elif tag == 124:
            self.raw(4)
        elif tag in (123, 122):
            self.raw(8)
        elif tag in (119, 116):  # string, bytes
            self.raw(self.uint())
        elif tag == 118:  # object
            for _ in range(self.uint()):
                self.raw(self.uint())
                self.skip_any(depth + 1)
        elif tag == 117:  # array
            for _ in range(self.uint()):
                self.skip_any(depth + 1)
        else:
            raise UpdateFormatError(f"unknown value tag {tag}")


def read_content(reader: Reader, ref: int, struct: Struct) -> int:
    """Read an item's content into `struct`; returns its length in clock units."""
    if ref == DELETED:
        return reader.uint()
    if ref == STRING:
        struct.text = reader.string().encode("utf-16-le")
        return len(struct.text) // 2
    if ref == JSON:
        count = reader.uint()
        for _ in range(count):
            reader.raw(reader.uint())
        return count
    if ref == ANY:
        count = reader.uint()
        for _ in range(count):
            reader.skip_any()
        return count
    if ref in (BINARY, EMBED):
        reader.raw(reader.uint())
    elif ref == FORMAT:
        reader.raw(reader.uint())
        reader.raw(reader.uint())
    elif ref == TYPE:
        struct.type_ref = reader.uint()
        if struct.type_ref in (XML_ELEMENT, XML_HOOK):
            reader.raw(reader.uint())
    elif ref == SUBDOC:
        reader.raw(reader.uint())
        reader.skip_any()
    else:
        raise UpdateFormatError(f"unknown content ref {ref}")
    return 1


def decode_update(update: bytes, max_depth: int = MAX_VALUE_DEPTH) -> DecodedUpdate:
    """Decode a v1 update; raises UpdateFormatError on anything malformed (or a value
    nested deeper than `max_depth`: the skipping recurses)."""
    reader = Reader(update, max_depth)
    structs: list[Struct] = []
    clients = reader.uint()
    if clients > len(update):
        raise UpdateFormatError("client count larger than the update")
    for _ in range(clients):
        count, client, clock = reader.uint(), reader.uint(), reader.uint()
        if count > len(update):
            raise UpdateFormatError("struct count larger than the update")
        for _ in range(count):
            info = reader.raw(1)[0]
            ref = info & 0x1F
            if ref in (GC, SKIP):
                length = reader.uint()
                structs.append(Struct(client, clock, length, ref))
                clock += length
                continue
            struct = Struct(client, clock, 0, ref)
            if info & 0x80:
                struct.origin = (reader.uint(), reader.uint())
            if info & 0x40:
                struct.right_origin = (reader.uint(), reader.uint())
            if not info & 0xC0:
                struct.parent = (
                    reader.string() if reader.uint() == 1 else (reader.uint(), reader.uint())
                )
                if info & 0x20:
                    struct.parent_sub = reader.string()
            struct.length = read_content(reader, ref, struct)
            if struct.length:  # Yrs can encode an empty string when it split a character
                structs.append(struct)
                clock += struct.length
    deletes = []
    for _ in range(reader.uint()):
        client = reader.uint()
        for _ in range(reader.uint()):
            deletes.append((client, reader.uint(), reader.uint()))
    return DecodedUpdate(structs, deletes)
