"""What type each root of a document is, told from the document's own structs.

An update never names a root's type: Yjs clients decide it by calling `doc.getText()`,
`getMap()`... and pycrdt exposes roots from updates as untyped. Reading a root through a
guessed view is unsafe (pycrdt's `Array` view of a `Text` root can loop forever inside
Yrs, holding the GIL), so the type is read off the structs whose parent is the root:
map entries (a parent sub key) make a map; strings, formats and embeds a text; shared
XML nodes an XML fragment; other values an array."""

from __future__ import annotations

import bisect
import enum

from storage.yupdate import (
    ANY,
    BINARY,
    DELETED,
    EMBED,
    FORMAT,
    GC,
    ID,
    JSON,
    MAX_VALUE_DEPTH,
    SKIP,
    STRING,
    SUBDOC,
    TYPE,
    XML_ELEMENT,
    XML_HOOK,
    XML_TEXT,
    Reader,
    Struct,
    UpdateFormatError,
    read_content,
)


class RootKind(enum.Enum):
    """A root's shared type, as far as its content tells."""

    TEXT = "text"
    MAP = "map"
    ARRAY = "array"
    XML = "xml"
    UNKNOWN = "unknown"  # nothing left but deleted content


_XML_NODES = {XML_ELEMENT, XML_HOOK, XML_TEXT}
_VALUES = {JSON, BINARY, ANY, SUBDOC}


# What a struct's content says about its parent (see `root_shapes`).
_TEXT, _VALUE, _SHARED_VALUE, _SHARED_XML, _NOTHING = range(5)
_MARKS = {
    _TEXT: ("text",),
    _VALUE: ("value",),
    _SHARED_VALUE: ("value", "shared"),
    _SHARED_XML: ("xml", "shared"),
    _NOTHING: (),
}
_CONTENT_MARK = {STRING: _TEXT, FORMAT: _TEXT, EMBED: _TEXT, DELETED: _NOTHING}
_CONTENT_MARK.update(dict.fromkeys(_VALUES, _VALUE))


class _Structs:
    """An update's items as flat lists (GC and skip ranges left out): what `root_shapes`
    needs of each, read in one pass without keeping a record per struct (a document of
    a million tiny items has a million of them)."""

    __slots__ = ("clients", "clocks", "ends", "keyed", "links", "marks", "parents")

    def __init__(self, update: bytes, max_depth: int) -> None:
        self.clients: list[int] = []
        self.clocks: list[int] = []
        self.ends: list[int] = []  # clock after the struct
        self.links: list[ID | None] = []  # the origin a parent is inherited from
        self.parents: list[str | ID | None] = []  # explicit parent, else None
        self.keyed: list[bool] = []  # explicit parent sub (a map entry)
        self.marks: list[int] = []
        reader = Reader(update, max_depth)
        uint = reader.uint
        data = update
        clients = uint()
        if clients > len(update):
            raise UpdateFormatError("client count larger than the update")
        append_client, append_clock, append_end = (
            self.clients.append,
            self.clocks.append,
            self.ends.append,
        )
        append_link, append_parent, append_keyed, append_mark = (
            self.links.append,
            self.parents.append,
            self.keyed.append,
            self.marks.append,
        )
        content = self._content
        try:
            for _ in range(clients):
                count, client, clock = uint(), uint(), uint()
                if count > len(update):
                    raise UpdateFormatError("struct count larger than the update")
                for _ in range(count):
                    info = data[reader.pos]
                    reader.pos += 1
                    ref = info & 0x1F
                    origin = (uint(), uint()) if info & 0x80 else None
                    right = (uint(), uint()) if info & 0x40 else None
                    link = origin or right
                    if ref == GC or ref == SKIP:
                        clock += uint()
                        continue
                    parent: str | ID | None = None
                    keyed = False
                    if not info & 0xC0:
                        parent = reader.string() if uint() == 1 else (uint(), uint())
                        if info & 0x20:
                            reader.string()
                            keyed = True
                    length, mark = content(reader, ref)
                    if not length:  # Yrs can encode an empty string when it split a character
                        continue
                    append_client(client)
                    append_clock(clock)
                    clock += length
                    append_end(clock)
                    append_link(link)
                    append_parent(parent)
                    append_keyed(keyed)
                    append_mark(mark)
        except IndexError:
            raise UpdateFormatError("length past the end of the update") from None

    @staticmethod
    def _content(reader: Reader, ref: int) -> tuple[int, int]:
        """Read past an item's content: its length in clock units and its mark."""
        if ref == ANY:  # a million tiny items are this: small integers skipped inline
            count = reader.uint()
            data, skip_any, end = reader.data, reader.skip_any, len(reader.data) - 1
            for _ in range(count):
                pos = reader.pos
                if pos < end and data[pos] == 125 and data[pos + 1] < 0x80:
                    reader.pos = pos + 2
                else:
                    skip_any()
            return count, _VALUE
        scratch = Struct(0, 0, 0, ref)
        length = read_content(reader, ref, scratch)
        if ref == TYPE:
            return length, _SHARED_XML if scratch.type_ref in _XML_NODES else _SHARED_VALUE
        return length, _CONTENT_MARK.get(ref, _VALUE)

    def parents_and_keys(self) -> list[tuple[str | ID | None, bool]]:
        """Each struct's parent and whether it is a map entry: explicit, or — for a
        struct written with origins, as Yjs encodes them — its origin's (followed
        iteratively: chains can be a million long; cycles in hostile input end them)."""
        clients, clocks, ends, links = self.clients, self.clocks, self.ends, self.links
        starts: dict[int, tuple[int, list[int]]] = {}  # client → (first index, clocks)
        for at, client in enumerate(clients):
            if client not in starts:
                starts[client] = (at, [])
            starts[client][1].append(clocks[at])
        unknown: tuple[str | ID | None, bool] = (None, False)
        resolved: list[tuple[str | ID | None, bool] | None] = [None] * len(clients)
        for at, parent in enumerate(self.parents):
            if parent is not None:
                resolved[at] = (parent, self.keyed[at])
        for start in range(len(clients)):
            if resolved[start] is not None:
                continue
            chain: list[int] = []
            in_chain: set[int] = set()
            current: int | None = start
            found = unknown
            while current is not None:
                known = resolved[current]
                if known is not None:
                    found = known
                    break
                if current in in_chain:
                    break  # a cycle in hostile input: give up on this chain
                chain.append(current)
                in_chain.add(current)
                link = links[current]
                if link is None:
                    break
                before = current - 1  # most often the struct just before, same client
                if (
                    before >= 0
                    and clients[before] == link[0]
                    and (clocks[before] <= link[1] < ends[before])
                ):
                    current = before
                    continue
                first, client_clocks = starts.get(link[0], (0, []))
                i = bisect.bisect_right(client_clocks, link[1]) - 1
                current = first + i if i >= 0 and link[1] < ends[first + i] else None
            for at in chain:
                resolved[at] = found
        return [entry or unknown for entry in resolved]


def root_kinds(update: bytes, max_depth: int = MAX_VALUE_DEPTH) -> dict[str, RootKind]:
    """Every root the update's structs place content in, with its kind. Raises
    `UpdateFormatError` for bytes that do not decode, or values nested deeper than
    `max_depth` (the worker processes, with a raised recursion limit, allow more)."""
    return {name: kind for name, (kind, _) in root_shapes(update, max_depth).items()}


def root_shapes(
    update: bytes, max_depth: int = MAX_VALUE_DEPTH
) -> dict[str, tuple[RootKind, bool]]:
    """Every root's kind, and whether shared types are nested directly in it (when not,
    an array is plain values: Yrs' own JSON of it is exact)."""
    structs = _Structs(update, max_depth)
    seen: dict[str, set[str]] = {}
    for (parent, keyed), mark in zip(structs.parents_and_keys(), structs.marks, strict=True):
        if not isinstance(parent, str):
            continue  # nested, or lost with collected structs
        marks = seen.setdefault(parent, set())
        if keyed:
            marks.add("map" if mark != _NOTHING else "map-deleted")
            if mark in (_SHARED_VALUE, _SHARED_XML):
                marks.add("shared")
        else:
            marks.update(_MARKS[mark])
    return {name: (_kind(marks), "shared" in marks) for name, marks in seen.items()}


def _kind(marks: set[str]) -> RootKind:
    if "text" in marks:  # never an array view over strings
        return RootKind.TEXT
    if "value" in marks:
        return RootKind.ARRAY
    if "xml" in marks:
        return RootKind.XML
    if "map" in marks or "map-deleted" in marks:
        return RootKind.MAP
    return RootKind.UNKNOWN
