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
    Struct,
    decode_update,
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


class _Index:
    """Find the struct holding an ID (structs of one client are sorted by clock)."""

    def __init__(self, structs: list[Struct]) -> None:
        self.by_client: dict[int, tuple[list[int], list[Struct]]] = {}
        for struct in structs:
            clocks, items = self.by_client.setdefault(struct.client, ([], []))
            clocks.append(struct.clock)
            items.append(struct)

    def find(self, item: ID) -> Struct | None:
        found = self.by_client.get(item[0])
        if found is None:
            return None
        clocks, items = found
        at = bisect.bisect_right(clocks, item[1]) - 1
        if at < 0:
            return None
        struct = items[at]
        return struct if struct.clock <= item[1] < struct.clock + struct.length else None


Parent = tuple[str | ID | None, str | None]  # (parent, parent sub key)


def _parents(structs: list[Struct]) -> dict[int, Parent]:
    """Each struct's parent and map key (by position in `structs`): explicit, or — for
    a struct written with origins, as Yjs encodes them — its origin's (followed
    iteratively: chains can be 100k long)."""
    index = _Index(structs)
    position = {id(s): i for i, s in enumerate(structs)}
    resolved: dict[int, Parent] = {}
    for start, struct in enumerate(structs):
        if start in resolved:
            continue
        chain: list[int] = []
        current: Struct | None = struct
        parent: Parent = (None, None)
        while current is not None:
            at = position[id(current)]
            if at in resolved:
                parent = resolved[at]
                break
            chain.append(at)
            if current.parent is not None:
                parent = (current.parent, current.parent_sub)
                break
            link = current.origin or current.right_origin
            current = index.find(link) if link is not None else None
            if current is not None and position[id(current)] in chain:
                break  # a cycle in hostile input: give up on this chain
        for at in chain:
            resolved[at] = parent
    return resolved


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
    decoded = decode_update(update, max_depth)
    structs = [s for s in decoded.structs if s.ref not in (GC, SKIP)]
    parents = _parents(structs)
    seen: dict[str, set[str]] = {}
    for at, struct in enumerate(structs):
        parent, key = parents.get(at, (None, None))
        if not isinstance(parent, str):
            continue  # nested, or lost with collected structs
        marks = seen.setdefault(parent, set())
        if key is not None:
            marks.add("map" if struct.ref != DELETED else "map-deleted")
        elif struct.ref in (STRING, FORMAT, EMBED):
            marks.add("text")
        elif struct.ref == TYPE:
            marks.add("xml" if struct.type_ref in _XML_NODES else "value")
        elif struct.ref in _VALUES:
            marks.add("value")
        if struct.ref == TYPE:
            marks.add("shared")
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
