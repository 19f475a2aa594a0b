"""Every read and write path over real text: documents written by real Yjs (Node) and by
pycrdt — accents precomposed and decomposed, combining marks, emoji with skin tones and
ZWJ sequences, CJK, Hebrew and Arabic, newlines — in every root kind (texts with
formatting and embeds, maps, arrays, XML fragments, nested types). For each document
and a sample of its versions: text/json/yjs at the head and at the version against what
Yjs computes from the same updates, history, diff, restore, CLI export → import, and the
SSE feed's patches. Every call is bounded in time and /healthz must answer after it.

Documents are seeded: `SAMEPAGE_UNICODE_SEEDS="node:7,pycrdt:3"` replays exactly those;
otherwise a fixed list plus one fresh seed of each generator (printed, and named in
every failure as `[node:SEED]`)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
from pathlib import Path

import httpx

from tests.helpers.clients import eventually
from tests.helpers.deep import loads
from tests.helpers.server import ServerProcess
from tests.interop.node import DOCGEN, node_driver
from tests.properties.unicode_api import Api, apply_patch, cli, json_mismatch
from tests.properties.unicode_cases import Case, cases, responsive, room_for, userver
from tests.properties.ydocs import (
    Version,
    YDocument,
    node_document,
    pycrdt_document,
    yjs_versions,
)
from tests.web.test_events import Event, follow

# The fixtures, imported by name for pytest.
__all__ = ["cases", "responsive", "userver"]


async def test_text_at_versions_and_history(userver: ServerProcess, cases: list[Case]) -> None:
    async with httpx.AsyncClient(base_url=userver.http) as http:
        for case in cases:
            api = Api(http, case.label)
            head = await api.request("GET", f"/api/rooms/{case.room}/content")
            assert head.text == case.doc.versions[-1].text, f"[{case.label}] text at head"
            for k in case.sample():
                got = (await api.content(case.room, "text", at=k)).text
                want = case.doc.versions[k].text
                assert got == want, f"[{case.label}] text at={k}:\n  want {want!r}\n  got  {got!r}"
            rows = (
                await api.request("GET", f"/api/rooms/{case.room}/history", params={"limit": 1000})
            ).json()
            assert [r["seq"] for r in rows] == list(range(case.doc.head, 0, -1)), case.label
            # the server stores what an update changed (a repeated delete is dropped)
            assert all(0 < r["bytes"] for r in rows), f"[{case.label}] history bytes"
            assert {r["author"] for r in rows} == {"gen"}


async def test_yjs_at_versions_is_what_yjs_holds(userver: ServerProcess, cases: list[Case]) -> None:
    async with httpx.AsyncClient(base_url=userver.http) as http, node_driver(DOCGEN) as driver:
        for case in cases:
            api = Api(http, case.label)
            for k in [None, *case.sample()]:
                state = (await api.content(case.room, "yjs", at=k)).content
                [seen] = await yjs_versions(driver, case.doc.types, [state], every=False)
                want = case.doc.versions[case.doc.head if k is None else k]
                assert seen.state_vector == want.state_vector, f"[{case.label}] yjs at={k}: sv"
                problem = json_mismatch(want.json, seen.json, case.doc.types)
                assert problem is None, f"[{case.label}] yjs at={k}: {problem}"


async def test_json_at_versions_is_what_yjs_renders(
    userver: ServerProcess, cases: list[Case]
) -> None:
    async with httpx.AsyncClient(base_url=userver.http) as http:
        for case in cases:
            api = Api(http, case.label)
            for k in [None, *case.sample()]:
                got = (await api.content(case.room, "json", at=k)).json()
                want = case.doc.versions[case.doc.head if k is None else k]
                problem = json_mismatch(want.json, got, case.doc.types)
                assert problem is None, f"[{case.label}] GET content?format=json&at={k}: {problem}"


async def test_diff_changes_and_net_rebuild_the_versions(
    userver: ServerProcess, cases: list[Case]
) -> None:
    async with httpx.AsyncClient(base_url=userver.http) as http:
        for case in cases:
            api = Api(http, case.label)
            points = case.sample()
            for start, end in [(0, case.doc.head), *itertools.pairwise(points)]:
                params = {"from": start, "to": end}
                body = (
                    await api.request("GET", f"/api/rooms/{case.room}/diff", params=params)
                ).json()
                where = f"[{case.label}] diff?from={start}&to={end}"
                versions = case.doc.versions
                assert body["from_text"] == versions[start].text, f"{where}: from_text"
                assert body["to_text"] == versions[end].text, f"{where}: to_text"
                text, seq = body["from_text"], start
                for change in body["changes"]:
                    if change["seq"] != seq:  # every change of seq `seq` is applied
                        assert text == versions[seq].text, f"{where}: text after seq {seq}"
                        seq = change["seq"]
                    if change["kind"] == "insert":
                        text = apply_patch(text, change["index"], 0, change["text"])
                    else:
                        text = apply_patch(text, change["index"], change["length"], "")
                assert text == versions[end].text, f"{where}: changes applied in order"
                rebuilt = body["from_text"]
                for op in sorted(body["net"], key=lambda o: o["from"][0], reverse=True):
                    i1, i2 = op["from"]
                    assert rebuilt[i1:i2] == op["removed"], f"{where}: net {op}"
                    rebuilt = rebuilt[:i1] + op["added"] + rebuilt[i2:]
                assert rebuilt == versions[end].text, f"{where}: net ops applied"


async def test_restore_makes_every_root_that_version(
    userver: ServerProcess, cases: list[Case]
) -> None:
    async with httpx.AsyncClient(base_url=userver.http) as http, node_driver(DOCGEN) as driver:
        for case in cases:
            api = Api(http, case.label)
            room = room_for(case.label)  # a copy: restores add rows
            await api.post_updates(room, case.doc.updates)
            targets = [k for k in case.sample() if k != case.doc.head]
            for k in [*targets, case.doc.head]:
                await api.request("POST", f"/api/rooms/{room}/restore", json={"seq": k})
                want = case.doc.versions[k]
                where = f"[{case.label}] after POST restore {{seq: {k}}}"
                got = (await api.content(room, "text")).text
                assert got == want.text, f"{where}: text\n  want {want.text!r}\n  got  {got!r}"
                state = (await api.content(room, "yjs")).content
                [seen] = await yjs_versions(driver, case.doc.types, [state], every=False)
                problem = json_mismatch(want.json, seen.json, case.doc.types)
                assert problem is None, f"{where}: the roots as Yjs reads them: {problem}"


async def test_cli_export_import_round_trip(
    userver: ServerProcess, cases: list[Case], tmp_path: Path
) -> None:
    """`samepage export` (text, json, yjs) at a version, `samepage import` of the yjs
    into a new room and of the head's text into a room at that version."""
    async with httpx.AsyncClient(base_url=userver.http) as http:
        for n, case in enumerate(cases[::2]):  # half of them: each export is a CLI run
            api, label = Api(http, case.label), case.label
            k = case.sample()[-2]  # a version before the head
            want = case.doc.versions[k]
            out = tmp_path / case.room

            async def export(
                *args: str, to: str, process: bool = False, room: str = case.room, at: Path = out
            ) -> bytes:
                where = ["export", room, "--db", userver.db, *args]
                return await cli(*where, label=room, out=at.with_suffix(to), process=process)

            # the first through the console script itself, the others in this process
            text = await export("--at", str(k), to=".at.txt", process=n == 0)
            assert text.decode() == want.text, f"[{label}] export --at {k} (text)"
            exported = loads(await export("--at", str(k), "--format", "json", to=".json"))
            problem = json_mismatch(want.json, exported, case.doc.types)
            assert problem is None, f"[{label}] export --at {k} --format json: {problem}"
            # a Yjs update into a new room: that room is version k
            await export("--at", str(k), "--format", "yjs", to=".yjs")
            copy = room_for(label)
            await cli(
                "import", copy, str(out.with_suffix(".yjs")), "--url", userver.http, label=label
            )
            got = (await api.content(copy, "json")).json()
            problem = json_mismatch(want.json, got, case.doc.types)
            assert problem is None, f"[{label}] import of export --at {k} --format yjs: {problem}"
            # the head's plain text into a room at version k: its text becomes the head's
            await export(to=".txt")
            older = room_for(label)
            await api.post_updates(older, case.doc.updates[:k])
            await cli(
                "import", older, str(out.with_suffix(".txt")), "--url", userver.http, label=label
            )
            got_text = (await api.content(older, "text")).text
            assert got_text == case.doc.versions[-1].text, (
                f"[{label}] import of the head's text into version {k}:\n"
                f"  want {case.doc.versions[-1].text!r}\n  got  {got_text!r}"
            )


async def test_sse_patches_reproduce_every_version(
    userver: ServerProcess, cases: list[Case]
) -> None:
    async with httpx.AsyncClient(base_url=userver.http) as http:
        for case in cases:
            api = Api(http, case.label)
            room = room_for(case.label)
            async with follow(userver.http, room) as live:
                await api.post_updates(room, case.doc.updates)
                await eventually(
                    lambda f=live, n=case.doc.head: any(e.id == n for e in f.named("text")),
                    what=f"[{case.label}] the live feed up to seq {case.doc.head}",
                )
                check_feed(case, live.named("text"), None, "live feed")
            for k in case.sample()[:-1:2]:  # from the start, and from a version
                headers = {"Last-Event-ID": str(k)}
                async with follow(userver.http, room, headers=headers) as resumed:
                    await eventually(
                        lambda f=resumed, n=case.doc.head: any(e.id == n for e in f.named("text")),
                        what=f"[{case.label}] resume from {k}",
                    )
                    check_feed(case, resumed.named("text"), k, f"Last-Event-ID: {k}")


def check_feed(case: Case, events: list[Event], resumed_from: int | None, what: str) -> None:
    """Applying the text events in order gives each version's text, seq by seq."""
    versions: list[Version] = case.doc.versions
    text = versions[resumed_from].text if resumed_from is not None else None
    last = resumed_from
    for event in events:
        data = event.data
        seq = data["seq"]
        where = f"[{case.label}] SSE {what}, event seq {seq}"
        if data["kind"] == "snapshot":
            text = data["text"]
        else:
            assert text is not None and last is not None, f"{where}: a patch before any text"
            assert seq == last + 1, f"{where}: after {last}"
            text = apply_patch(text, data["index"], data["delete"], data["insert"])
        last = seq
        assert text == versions[seq].text, (
            f"{where}:\n  want {versions[seq].text!r}\n  got  {text!r}"
        )
    assert last == case.doc.head


def test_generators_replay_by_seed() -> None:
    """The same seed gives the same document (what makes a printed seed useful)."""

    async def twice() -> tuple[YDocument, ...]:
        async with node_driver(DOCGEN) as driver:
            return (
                await node_document(driver, 5, 12),
                await node_document(driver, 5, 12),
                await pycrdt_document(driver, 5, 12),
                await pycrdt_document(driver, 5, 12),
            )

    a, b, c, d = asyncio.run(twice())
    assert [v.text for v in a.versions] == [v.text for v in b.versions]
    assert [v.json for v in c.versions] == [v.json for v in d.versions]
    assert a.updates == b.updates and c.updates == d.updates
    assert base64.b64decode(a.versions[-1].state_vector)


def utf16_index(text: str, code_points: int) -> int:
    """A code point index of `text` as the UTF-16 index Yjs counts."""
    return len(text[:code_points].encode("utf-16-le")) // 2


async def test_typed_by_y_websocket_clients(userver: ServerProcess) -> None:
    """The issue's report, by real y-websocket clients over a WebSocket: one types
    `héllo wörld` a character at a time and then ` again`, another inserts emoji and
    right-to-left text at code point boundaries. Every version the server stored reads
    as Yjs reads those rows; restoring one reaches both clients."""
    room = room_for("ws")
    async with (
        httpx.AsyncClient(base_url=userver.http) as http,
        node_driver() as clients,
        node_driver(DOCGEN) as yjs,
    ):
        api = Api(http, "y-websocket")
        a = await clients.client(userver.ws, room)
        b = await clients.client(userver.ws, room)
        extras = iter(["👍🏽", "👨‍👩‍👧", "שלום ", "e\u0301", "中文", "\n", "مرحبا", "🇫🇷"])
        for i, ch in enumerate("héllo wörld"):
            await a.insert(utf16_index(await a.text(), 10**6), ch)
            if i % 2:
                # each edits the text once the other's edit arrived: an index computed
                # from a text that changes before the insert can fall inside a surrogate
                # pair, which Yjs and Yrs split differently (FINDINGS.md: they diverge)
                async def b_caught_up() -> bool:
                    return await b.text() == await a.text()

                await eventually(b_caught_up, what="b has a's edit")
                current = await b.text()
                cp = random.Random(i).randint(0, len(current))
                await b.insert(utf16_index(current, cp), next(extras))
                await eventually(b_caught_up, what="a has b's edit")
        await a.insert(utf16_index(await a.text(), 10**6), " again")

        async def converged() -> bool:
            text = await a.text()
            served = (await api.content(room, "text")).text
            return text == await b.text() == served and "again" in text

        await eventually(converged, what="both clients and the server hold the same text")
        rows = (await api.request("GET", f"/api/rooms/{room}/updates")).json()
        updates = [base64.b64decode(r["update"]) for r in rows]
        doc = YDocument("y-websocket", {"content": "text"}, updates)
        doc.versions = [Version({}, "", "AA=="), *await yjs_versions(yjs, doc.types, updates)]
        assert doc.versions[-1].text == await a.text()
        case = Case(doc, room)
        for k in case.sample(5):
            want = doc.versions[k]
            assert (await api.content(room, "text", at=k)).text == want.text, f"text at={k}"
            got = (await api.content(room, "json", at=k)).json()
            assert json_mismatch(want.json, got, doc.types) is None, f"json at={k}: {got!r}"
        assert (await api.content(room, "json")).json() == {"content": await a.text()}
        k = case.sample()[1]
        await api.request("POST", f"/api/rooms/{room}/restore", json={"seq": k})
        target = doc.versions[k].text

        async def restored() -> bool:
            return await a.text() == await b.text() == target

        await eventually(restored, what=f"both clients at version {k}: {target!r}")
        assert (await api.content(room, "text")).text == target
