"""Root types from the document's structs: `format=json` shapes for every type real
clients create, restore across them, and the inputs that used to hang or corrupt."""

from __future__ import annotations

from typing import Any

import pytest
from pycrdt import Array, Doc, Map, Text, XmlElement, XmlFragment, XmlText

from storage.history import doc_of
from storage.roots import RootKind, root_kinds
from sync.content import json_of, json_of_state
from sync.restore import import_text_update, restore_update


def rich_doc() -> Doc:
    doc: Doc = Doc()
    doc.get("content", type=Text).insert(0, "héllo wörld 👨‍👩‍👧")
    doc.get("meta", type=Map)["title"] = "Überschrift"
    doc.get("meta", type=Map)["nested"] = Map({"note": Text("x😀"), "n": 3})
    doc.get("list", type=Array).extend([1, "é", {"a": [1, 2]}, Array(["中"])])
    frag = doc.get("prosemirror", type=XmlFragment)
    para = frag.children.append(XmlElement("paragraph", {"align": "right"}))
    para.children.append(XmlText("שלום"))
    rich = doc.get("rich", type=Text)
    rich.insert(0, "bold plain")
    rich.format(0, 4, {"bold": True})
    rich.insert_embed(len(rich), {"image": "cat.png"})
    return doc


EXPECTED: dict[str, Any] = {
    "content": "héllo wörld 👨‍👩‍👧",
    "meta": {"title": "Überschrift", "nested": {"note": "x😀", "n": 3}},
    "list": [1, "é", {"a": [1, 2]}, ["中"]],
    "prosemirror": {
        "xmlFragment": [
            {
                "nodeName": "paragraph",
                "attributes": {"align": "right"},
                "children": [{"text": "שלום"}],
            }
        ]
    },
    "rich": {
        "delta": [
            {"insert": "bold", "attributes": {"bold": True}},
            {"insert": " plain"},
            {"insert": {"image": "cat.png"}},
        ]
    },
}


def test_json_gives_every_root_by_its_type() -> None:
    assert json_of(rich_doc()) == EXPECTED


def test_root_kinds() -> None:
    kinds = root_kinds(rich_doc().get_update())
    assert kinds == {
        "content": RootKind.TEXT,
        "meta": RootKind.MAP,
        "list": RootKind.ARRAY,
        "prosemirror": RootKind.XML,
        "rich": RootKind.TEXT,
    }


def test_text_typed_in_several_updates_reads_as_text() -> None:
    """`héllo wörld` then ` again` (as typed in a browser): pycrdt's Array view of this
    root loops forever inside Yrs; the JSON must come back, as a string."""
    writer: Doc = Doc()
    text = writer.get("content", type=Text)
    text.insert(0, "héllo wörld")
    first = writer.get_update()
    before = writer.get_state()
    text.insert(len(text), " again")
    state = doc_of([first, writer.get_update(before)]).get_update()
    assert json_of_state(state) == {"content": "héllo wörld again"}


def test_deleted_content_only() -> None:
    doc: Doc = Doc()
    text = doc.get("content", type=Text)
    text.insert(0, "gone")
    del text[0:4]
    doc.get("other", type=Array).append(1)
    doc.get("other", type=Array).clear()
    assert json_of(doc) == {"content": "", "other": None}


def test_type_confusion_between_roots_is_answered() -> None:
    a: Doc = Doc()
    a.get("x", type=Text).insert(0, "text")
    b: Doc = Doc()
    b.get("x", type=Map)["k"] = "v"
    merged = doc_of([a.get_update(), b.get_update()])
    assert json_of(merged) == {"x": "text"}  # strings decide: never an array view


@pytest.mark.parametrize("version", ["héllo wörld", "x😀y😀z", "", "שלום עולם", "e\u0301"])
def test_restore_non_ascii_exactly(version: str) -> None:
    doc: Doc = Doc()
    text = doc.get("content", type=Text)
    text.insert(0, version)
    target = doc.get_update()
    text.insert(len(text), " again 😀")
    del text[0:1]
    update = restore_update(doc.get_update(), [target])
    doc.apply_update(update)
    assert str(text) == version


def test_restore_every_root_type() -> None:
    old = rich_doc()
    target = old.get_update()
    live = doc_of([target])
    live.get("content", type=Text).insert(0, "new ")
    live.get("meta", type=Map)["title"] = "changed"
    live.get("meta", type=Map)["extra"] = 1
    live.get("list", type=Array).append("more")
    live.get("prosemirror", type=XmlFragment).children.append(XmlElement("hr"))
    live.get("rich", type=Text).format(5, 10, {"italic": True})
    live.get("added", type=Array).append(1)
    live.apply_update(restore_update(live.get_update(), [target]))
    assert json_of(live) == {**EXPECTED, "added": None}


def test_import_text_by_code_points() -> None:
    doc: Doc = Doc()
    doc.get("content", type=Text).insert(0, "a😀b")
    update = import_text_update(doc.get_update(), "a😀é😀b\n")
    doc.apply_update(update)
    assert str(doc.get("content", type=Text)) == "a😀é😀b\n"


def test_values_nested_deeper_than_the_timeline_decoder_follows() -> None:
    """A JSON value 300 deep in a map: the text timeline's decoder stops at 64 levels,
    the JSON reader (in a worker, with a raised recursion limit) renders it."""
    from sync.content import deep_limit

    deep_limit()
    value: Any = "bottom"
    for _ in range(300):
        value = {"d": value}
    doc: Doc = Doc()
    doc.get("m", type=Map)["deep"] = value
    rendered = json_of(doc)["m"]["deep"]
    for _ in range(300):
        rendered = rendered["d"]
    assert rendered == "bottom"


def test_restore_keeps_formatting_inside_xml_and_maps() -> None:
    """Formatted XML text (a Tiptap link) and a formatted text in a map come back as
    they were, not as markup."""
    doc: Doc = Doc()
    frag = doc.get("prosemirror", type=XmlFragment)
    para = frag.children.append(XmlElement("paragraph"))
    text = para.children.append(XmlText("a link é"))
    text.format(2, 6, {"link": {"href": "https://example.com"}})
    doc.get("m", type=Map)["note"] = Text("plain")
    doc.get("m", type=Map)["note"].format(0, 2, {"bold": True})
    target = doc.get_update()
    wanted = json_of(doc)
    del frag.children[0:1]
    doc.get("m", type=Map)["note"] = Text("other")
    doc.apply_update(restore_update(doc.get_update(), [target]))
    assert json_of(doc) == wanted


def test_large_plain_arrays_render_in_one_pass() -> None:
    doc: Doc = Doc()
    array = doc.get("a", type=Array)
    with doc.transaction():
        for i in range(20_000):
            array.insert(0, i)  # 20,000 separate items: fetched one by one, quadratic
    array.insert(0, b"\x01\x02")
    assert json_of(doc)["a"][:3] == [[1, 2], 19_999, 19_998]


def test_restore_of_a_large_plain_array_is_one_pass() -> None:
    doc: Doc = Doc()
    array = doc.get("a", type=Array)
    with doc.transaction():
        for i in range(20_000):
            array.insert(0, i)
    target = doc.get_update()
    wanted = json_of(doc)
    with doc.transaction():
        for i in range(100):
            array.insert(0, -i)
    doc.apply_update(restore_update(doc.get_update(), [target]))
    assert json_of(doc) == wanted
