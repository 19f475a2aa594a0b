"""Documents for the Unicode property tests: random edits by several pycrdt clients
(Node's Yjs writes the others, tests/interop/docgen.mjs), and what Yjs says each version
holds. Positions are drawn in code points, as an editor makes edits, and converted to
the UTF-8 bytes pycrdt counts."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass, field
from typing import Any

from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from tests.interop.node import NodeDriver

# The same kinds of text docgen.mjs writes: accents (precomposed and e + U+0301),
# combining marks, emoji with skin tones and ZWJ sequences, flags, CJK, Hebrew, Arabic.
PIECES = [
    "a", "b", "Z", " ", "hello", "é", "e\u0301", "ñ", "ü", "Å", "\u0301", "\u0308", "ß",
    "👍", "👍🏽", "👨‍👩‍👧", "😀", "🇫🇷", "中", "文字", "한국어", "שלום", "עברית", "مرحبا",
    "عربي", "\n", "\n\n", "\t", "Ω", "…", "„quote“", "x😀y😀z",
]  # fmt: skip
ATTRS: list[dict[str, Any]] = [
    {"bold": True},
    {"italic": True},
    {"link": "https://exämple.org/ü"},
    {"color": "#f00"},
]
KINDS = {
    "content": "text",
    "title": "text",
    "rich": "text",
    "meta": "map",
    "settings": "map",
    "list": "array",
    "items": "array",
    "prose": "xml",
    "outline": "xml",
}


@dataclass
class Version:
    """Version k of a document as Yjs renders it."""

    json: dict[str, Any]
    text: str
    state_vector: str  # base64, Y.encodeStateVector


@dataclass
class YDocument:
    """A document as its stored updates, and every version of it (versions[0]: empty)."""

    label: str  # how to replay it: "node:SEED", "pycrdt:SEED", "script:NAME"
    types: dict[str, str]
    updates: list[bytes]
    versions: list[Version] = field(default_factory=list)

    @property
    def head(self) -> int:
        """The last seq."""
        return len(self.updates)


async def yjs_versions(
    driver: NodeDriver, types: dict[str, str], updates: list[bytes], every: bool = True
) -> list[Version]:
    """Yjs's rendering after each update (or only after all of them)."""
    encoded = [base64.b64encode(u).decode() for u in updates]
    result = await driver.call("render", types=types, updates=encoded, every=every)
    return [Version(v["json"], v["text"], v["sv"]) for v in result["versions"]]


async def node_document(driver: NodeDriver, seed: int, steps: int) -> YDocument:
    """Random edits by three Yjs clients."""
    made = await driver.call("generate", seed=seed, steps=steps, clients=3)
    return await _finish(driver, f"node:{seed}", made)


async def scripted_document(driver: NodeDriver, script: str) -> YDocument:
    """A fixed edit sequence from docgen.mjs's SCRIPTS."""
    return await _finish(driver, f"script:{script}", await driver.call("scripted", script=script))


async def _finish(driver: NodeDriver, label: str, made: dict[str, Any]) -> YDocument:
    updates = [base64.b64decode(u) for u in made["updates"]]
    return await _rendered(driver, YDocument(label, made["types"], effective(updates)))


async def pycrdt_document(driver: NodeDriver, seed: int, steps: int) -> YDocument:
    """Random edits by three pycrdt clients (expected versions from Yjs)."""
    types, updates = PycrdtWriter(seed).run(steps)
    return await _rendered(driver, YDocument(f"pycrdt:{seed}", types, effective(updates)))


async def _rendered(driver: NodeDriver, doc: YDocument) -> YDocument:
    doc.versions = [Version({}, "", "AA==")] + await yjs_versions(driver, doc.types, doc.updates)
    return doc


def effective(updates: list[bytes]) -> list[bytes]:
    """The updates that change the document when applied in order. Two clients deleting
    the same text concurrently both send a delete; the second changes nothing, and the
    server stores no row for it (so seq k would no longer be update k)."""
    doc: Doc[Any] = Doc()
    changed: list[bytes] = []
    doc.observe(lambda event: changed.append(event.update))
    kept = []
    for update in updates:
        changed.clear()
        doc.apply_update(update)
        if changed:
            kept.append(update)
    return kept


def _byte_offsets(text: Text | XmlText) -> list[int]:
    """UTF-8 byte offset of each code point position (and the end); an embed counts 1."""
    offsets = [0]
    for chunk, _attrs in text.diff():
        if isinstance(chunk, str):
            for ch in chunk:
                offsets.append(offsets[-1] + len(ch.encode()))
        else:
            offsets.append(offsets[-1] + 1)
    return offsets


class PycrdtWriter:
    """Several pycrdt Docs editing every root kind, syncing now and then; records each
    local transaction's update in the order it happened."""

    def __init__(self, seed: int, clients: int = 3) -> None:
        self.rng = random.Random(seed)
        # client ids order concurrent inserts: drawn from the seed as well
        ids = [self.rng.randrange(1, 2**31) for _ in range(clients)]
        self.docs: list[Doc[Any]] = [Doc(client_id=i) for i in ids]
        self.updates: list[bytes] = []
        self._syncing = False
        for doc in self.docs:
            doc.observe(self._record)

    def _record(self, event: Any) -> None:
        if not self._syncing and event.update != b"\x00\x00":
            self.updates.append(event.update)

    def words(self, most: int = 5) -> str:
        """1..most pieces of text."""
        return "".join(self.rng.choice(PIECES) for _ in range(self.rng.randint(1, most)))

    def json(self, depth: int = 0) -> Any:
        """A JSON value (ints, strings, bools, null, small lists and objects)."""
        kind = self.rng.randrange(4 if depth > 1 else 6)
        if kind == 0:
            return self.rng.randint(-500, 500)
        if kind == 1:
            return self.words(3)
        if kind == 2:
            return self.rng.random() < 0.5
        if kind == 3:
            return None
        if kind == 4:
            return [self.json(depth + 1), self.json(depth + 1)]
        return {self.words(1): self.json(depth + 1), "k": self.json(depth + 1)}

    def run(self, steps: int) -> tuple[dict[str, str], list[bytes]]:
        """Edit until `steps` updates are recorded; returns (root kinds, updates)."""
        names = ["content"] + [n for n in KINDS if n != "content" and self.rng.random() < 0.6]
        while len(self.updates) < steps:
            doc = self.rng.choice(self.docs)
            if self.rng.random() < 0.15:
                self._sync(doc, self.rng.choice([d for d in self.docs if d is not doc]))
            name = "content" if self.rng.random() < 0.5 else self.rng.choice(names)
            with doc.transaction():
                self._edit(doc, name)
        return {n: KINDS[n] for n in names}, self.updates

    def _sync(self, a: Doc[Any], b: Doc[Any]) -> None:
        self._syncing = True
        try:
            b.apply_update(a.get_update(b.get_state()))
            a.apply_update(b.get_update(a.get_state()))
        finally:
            self._syncing = False

    def _edit(self, doc: Doc[Any], name: str) -> None:
        kind = KINDS[name]
        if kind == "text":
            self._edit_text(doc.get(name, type=Text), rich=name == "rich")
        elif kind == "map":
            self._edit_map(doc.get(name, type=Map))
        elif kind == "array":
            self._edit_array(doc.get(name, type=Array))
        else:
            self._edit_xml(doc.get(name, type=XmlFragment))

    def _range(self, offsets: list[int], longest: int) -> tuple[int, int]:
        start = self.rng.randrange(len(offsets) - 1)
        end = min(len(offsets) - 1, start + self.rng.randint(1, longest))
        return offsets[start], offsets[end]

    def _edit_text(self, text: Text | XmlText, rich: bool) -> None:
        offsets = _byte_offsets(text)
        roll = self.rng.randrange(10)
        if len(offsets) > 1 and roll < 3:
            start, end = self._range(offsets, 6)
            del text[start:end]
        elif rich and len(offsets) > 1 and roll == 3:
            start, end = self._range(offsets, 8)
            text.format(start, end, self.rng.choice(ATTRS))
        elif rich and roll == 4:
            text.insert_embed(self.rng.choice(offsets), {"img": self.words(1)})
        else:
            attrs = self.rng.choice(ATTRS) if rich and self.rng.random() < 0.5 else None
            text.insert(self.rng.choice(offsets), self.words(), attrs)

    def _nested_texts(self, value: Any) -> list[Text]:
        if isinstance(value, Text):
            return [value]
        children = value.values() if isinstance(value, Map) else value
        if isinstance(value, Map | Array):
            return [t for child in children for t in self._nested_texts(child)]
        return []

    def _shared(self) -> Any:
        kind = self.rng.randrange(3)
        if kind == 0:
            return Text(self.words())
        if kind == 1:
            return Map({"name": self.words(2), "nested": Text(self.words(2))})
        return Array([self.words(1), self.json(1)])

    def _key(self) -> str:
        return self.words(1) if self.rng.random() < 0.5 else f"k{self.rng.randrange(5)}"

    def _edit_map(self, root: Map[Any]) -> None:
        keys = list(root.keys())
        texts = self._nested_texts(root)
        roll = self.rng.randrange(10)
        if keys and roll < 2:
            del root[self.rng.choice(keys)]
        elif roll < 4 and texts:
            self._edit_text(self.rng.choice(texts), rich=False)
        elif roll < 6:
            root[self._key()] = self._shared()
        else:
            root[self._key()] = self.json()

    def _edit_array(self, root: Array[Any]) -> None:
        n = len(root)
        texts = self._nested_texts(root)
        roll = self.rng.randrange(10)
        if n and roll < 3:
            start = self.rng.randrange(n)
            del root[start : min(n, start + self.rng.randint(1, 3))]
        elif roll < 5 and texts:
            self._edit_text(self.rng.choice(texts), rich=False)
        elif roll < 7:
            root.insert(self.rng.randint(0, n), self._shared())
        else:
            root.insert(self.rng.randint(0, n), self.words(1))

    def _xml_nodes(self, node: XmlFragment | XmlElement) -> list[XmlElement | XmlText]:
        found: list[XmlElement | XmlText] = []
        for child in node.children:
            if isinstance(child, XmlElement):
                found.append(child)
                found.extend(self._xml_nodes(child))
            elif isinstance(child, XmlText):
                found.append(child)
        return found

    def _edit_xml(self, root: XmlFragment) -> None:
        nodes = self._xml_nodes(root)
        texts = [n for n in nodes if isinstance(n, XmlText)]
        elements = [n for n in nodes if isinstance(n, XmlElement)]
        roll = self.rng.randrange(10)
        if roll < 4 and texts:
            text = self.rng.choice(texts)
            offsets = _byte_offsets(text)
            if len(offsets) > 1 and self.rng.random() < 0.3:
                start, end = self._range(offsets, 4)
                del text[start:end]
            elif len(offsets) > 1 and self.rng.random() < 0.3:
                start, end = self._range(offsets, 4)
                text.format(start, end, self.rng.choice(ATTRS))
            else:
                text.insert(self.rng.choice(offsets), self.words())
        elif roll < 6 and elements:
            element = self.rng.choice(elements)
            element.attributes[self.rng.choice(["lang", "class", "data-ü"])] = self.words(1)
        elif roll < 7 and len(root.children):
            del root.children[self.rng.randrange(len(root.children))]
        else:
            parent = self.rng.choice(elements) if elements and self.rng.random() < 0.4 else root
            tag = self.rng.choice(["paragraph", "heading", "blockquote", "li"])
            attrs = {"level": str(self.rng.randint(1, 3))} if self.rng.random() < 0.3 else {}
            element = XmlElement(tag, attrs, [XmlText(self.words())])
            parent.children.insert(self.rng.randint(0, len(parent.children)), element)
