"""History API: any version, diff, named versions, restore, compaction, CLI parity."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from tests.helpers.clients import eventually, yclient
from tests.helpers.server import ROOT, ServerProcess, module_server


@pytest.fixture(scope="module")
def hserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory.mktemp("history"), "--checkpoint-every", "7")


async def seq_of(http: httpx.AsyncClient, room: str) -> int:
    seq: int = (await http.get(f"/api/rooms/{room}")).json()["seq"]
    return seq


async def edit_and_wait(
    http: httpx.AsyncClient, room: str, doc: Doc[Any], change: Any, expected_seq: int
) -> None:
    """Make one edit (one transaction) and wait until the server stored it."""
    with doc.transaction():
        change(doc.get("content", type=Text))

    async def stored() -> bool:
        return await seq_of(http, room) >= expected_seq

    await eventually(stored, what=f"seq {expected_seq}")


edit_ops = st.lists(
    st.tuples(
        st.integers(0, 1),
        st.booleans(),
        st.integers(0, 10_000),
        st.text("abcxyz ", min_size=1, max_size=4),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=8, deadline=None, print_blob=True, suppress_health_check=list(HealthCheck))
@given(ops=edit_ops)
def test_content_at_every_seq_is_what_a_client_held(hserver: ServerProcess, ops: list[Any]) -> None:
    asyncio.run(_check_versions(hserver, ops))


async def _check_versions(server: ServerProcess, ops: list[tuple[int, bool, int, str]]) -> None:
    room = f"prop-{uuid.uuid4().hex[:8]}"
    expected: list[str] = []
    async with (
        httpx.AsyncClient(base_url=server.http) as http,
        yclient(server.ws, room) as a,
        yclient(server.ws, room) as b,
    ):
        docs = [a, b]
        for who, is_insert, pos, chars in ops:
            doc = docs[who]
            text = doc.get("content", type=Text)
            length = len(str(text))
            if is_insert or length == 0:

                def change(t: Text, p: int = pos % (length + 1), c: str = chars) -> None:
                    t.insert(p, c)
            else:
                start = pos % length

                end = min(start + len(chars), length)

                def change(t: Text, s: int = start, e: int = end) -> None:
                    del t[s:e]

            await edit_and_wait(http, room, doc, change, len(expected) + 1)
            other = docs[1 - who]
            await eventually(
                lambda d=doc, o=other: (
                    str(d.get("content", type=Text)) == str(o.get("content", type=Text))
                )
            )
            expected.append(str(doc.get("content", type=Text)))
        rows = (await http.get(f"/api/rooms/{room}/history", params={"limit": 1000})).json()
        times = {r["seq"]: r["time"] for r in rows}
        for k, text in enumerate(expected, 1):
            at = await http.get(f"/api/rooms/{room}/content", params={"at": k})
            assert at.text == text, f"seq {k}"
            # the text comes from the text timeline; json rebuilds the doc in Yrs, and
            # yjs merges the nearest checkpoint with the rows after it
            as_json = await http.get(
                f"/api/rooms/{room}/content", params={"at": k, "format": "json"}
            )
            assert as_json.json().get("content", "") == text, f"json at seq {k}"
            as_yjs = await http.get(f"/api/rooms/{room}/content", params={"at": k, "format": "yjs"})
            replayed: Doc[Any] = Doc()
            replayed.apply_update(as_yjs.content)
            assert str(replayed.get("content", type=Text)) == text, f"yjs at seq {k}"
            when = await http.get(f"/api/rooms/{room}/content", params={"time": times[k]})
            assert when.text == text, f"time of seq {k}"
        assert (await http.get(f"/api/rooms/{room}/content", params={"at": 0})).text == ""
        head = len(expected)
        assert (
            await http.get(f"/api/rooms/{room}/content", params={"at": head + 1})
        ).status_code == 404


async def test_restore_is_a_new_edit_seen_live_and_undoable(hserver: ServerProcess) -> None:
    room = "restore-me"
    async with (
        httpx.AsyncClient(base_url=hserver.http) as http,
        yclient(hserver.ws, room) as a,
        yclient(hserver.ws, room) as b,
    ):
        versions = ["one", "one two", "one two three", "ONE two three four"]
        ta = a.get("content", type=Text)
        for i, target in enumerate(versions, 1):

            def change(t: Text, v: str = target) -> None:
                del t[0 : len(t)]
                t.insert(0, v)

            await edit_and_wait(http, room, a, change, i)
        head = await seq_of(http, room)
        response = await http.post(f"/api/rooms/{room}/restore", json={"seq": 2})
        assert response.status_code == 200 and response.json()["seq"] == head + 1
        tb = b.get("content", type=Text)
        await eventually(lambda: str(tb) == "one two" and str(ta) == "one two")
        assert (await http.get(f"/api/rooms/{room}/content")).text == "one two"
        undo = await http.post(f"/api/rooms/{room}/restore", json={"seq": head})
        assert undo.json()["seq"] == head + 2
        await eventually(lambda: str(tb) == versions[-1])
        rows = (await http.get(f"/api/rooms/{room}/history")).json()
        assert [r["seq"] for r in rows][:3] == [head + 2, head + 1, head]


async def test_diff_lists_changes_with_authors_and_net(hserver: ServerProcess) -> None:
    room = "diffed"
    async with httpx.AsyncClient(base_url=hserver.http) as http:
        doc: Doc[Any] = Doc()
        text = doc.get("content", type=Text)
        updates: list[bytes] = []
        doc.observe(lambda e: updates.append(e.update))
        text.insert(0, "hello world")
        text.insert(5, ",")
        del text[0:1]
        text.insert(0, "H")
        for update, author in zip(updates, ["alice", "bob", "carol", "carol"], strict=True):
            r = await http.post(
                f"/api/rooms/{room}/updates", content=update, headers={"X-Samepage-Author": author}
            )
            assert r.status_code == 200
        body = (await http.get(f"/api/rooms/{room}/diff", params={"from": 1, "to": 4})).json()
        assert body["from_text"] == "hello world" and body["to_text"] == "Hello, world"
        simple = [
            (c["seq"], c["author"], c["kind"], c["index"], c["text"] or c["length"])
            for c in body["changes"]
        ]
        assert simple == [
            (2, "bob", "insert", 5, ","),
            (3, "carol", "delete", 0, 1),
            (4, "carol", "insert", 0, "H"),
        ]
        assert body["net"][0]["removed"] == "h" and body["net"][0]["added"] == "H"


async def test_named_versions_and_sessions(hserver: ServerProcess) -> None:
    room = "named"
    async with httpx.AsyncClient(base_url=hserver.http) as http, yclient(hserver.ws, room) as a:
        for i in range(3):
            await edit_and_wait(http, room, a, lambda t, i=i: t.insert(0, str(i)), i + 1)
        made = await http.post(f"/api/rooms/{room}/versions", json={"label": "draft 1"})
        assert made.status_code == 201 and made.json()["seq"] == 3
        listed = (await http.get(f"/api/rooms/{room}/versions")).json()
        assert [(v["seq"], v["label"]) for v in listed] == [(3, "draft 1")]
        grouped = (await http.get(f"/api/rooms/{room}/history", params={"group": "session"})).json()
        assert len(grouped) == 1 and grouped[0]["updates"] == 3
        assert (grouped[0]["first_seq"], grouped[0]["last_seq"]) == (1, 3)


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    )


async def test_cli_and_api_agree_and_compaction_keeps_named_versions(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    proc = ServerProcess(db, log_path=tmp_path / "log")
    proc.start()
    room = "compactme"
    try:
        async with httpx.AsyncClient(base_url=proc.http) as http, yclient(proc.ws, room) as a:
            for i in range(30):
                await edit_and_wait(http, room, a, lambda t, i=i: t.insert(len(t), f"{i};"), i + 1)
            await http.post(f"/api/rooms/{room}/versions", json={"label": "keep", "seq": 13})
            api_13 = (await http.get(f"/api/rooms/{room}/content", params={"at": 13})).text
            api_head = (
                await http.get(f"/api/rooms/{room}/content", params={"format": "yjs"})
            ).content
            pre_state = a.get_update()
        assert cli("export", room, "--db", str(db), "--at", "13").stdout.decode() == api_13
        proc.stop()
        cli("compact", "--db", str(db), "--keep-every", "10")
        out = cli("history", room, "--db", str(db), "--limit", "100").stdout.decode()
        assert "13 " in out  # the named version's row is kept
        proc.start()
        async with httpx.AsyncClient(base_url=proc.http) as http:
            assert (await http.get(f"/api/rooms/{room}/content", params={"at": 13})).text == api_13
            after = (await http.get(f"/api/rooms/{room}/content", params={"format": "yjs"})).content
            assert _state(after) == _state(api_head)
            # A client holding the pre-compaction state reconnects: no duplicated content.
            old: Doc[Any] = Doc()
            old.apply_update(pre_state)
            async with yclient(proc.ws, room, old) as again:
                expected = "".join(f"{i};" for i in range(30))
                await eventually(lambda: str(again.get("content", type=Text)) == expected)
            assert (await http.get(f"/api/rooms/{room}/content")).text == expected
            # A folded seq reads as the kept point before it, and says which one.
            folded = await http.get(f"/api/rooms/{room}/content", params={"at": 25})
            assert folded.headers["x-samepage-seq"] == "20"
            assert folded.text == "".join(f"{i};" for i in range(20))
            json_25 = await http.get(
                f"/api/rooms/{room}/content", params={"at": 25, "format": "json"}
            )
            assert json_25.headers["x-samepage-seq"] == "20"
            assert json_25.json() == {"content": folded.text}
            restored = await http.post(f"/api/rooms/{room}/restore", json={"seq": 25})
            assert restored.json()["restored"] == 20
            assert (await http.get(f"/api/rooms/{room}/content")).text == folded.text
    finally:
        proc.stop()


def _state(update: bytes) -> bytes:
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return doc.get_state()


async def test_after_a_restart_versions_come_from_the_saved_text_timeline(
    tmp_path: Path,
) -> None:
    """A server saves its text timelines when it stops; started again on the same
    file, it answers every version from the saved one at once (none rebuilt in Yrs),
    builds the live timeline in the background, and reads the same through it."""
    db = tmp_path / "t.db"
    proc = ServerProcess(db, extra_args=["--checkpoint-every", "9"], log_path=tmp_path / "log")
    proc.start()
    room = "restarted"
    try:
        async with httpx.AsyncClient(base_url=proc.http) as http, yclient(proc.ws, room) as a:
            for i in range(40):
                if i % 5 != 4:
                    await edit_and_wait(
                        http, room, a, lambda t, i=i: t.insert(len(t) // 2, f"x{i}"), i + 1
                    )
                else:
                    await edit_and_wait(http, room, a, lambda t: t.__delitem__(slice(0, 2)), i + 1)
            expected = [
                (await http.get(f"/api/rooms/{room}/content?at={k}")).text for k in range(41)
            ]
        proc.stop()
        proc.start()
        async with httpx.AsyncClient(base_url=proc.http) as http:
            for k in range(41):
                assert (await http.get(f"/api/rooms/{room}/content?at={k}")).text == expected[k]
            assert _reads(await http.get("/metrics"), "yrs") == 0  # all from the saved one

            async def built() -> bool:
                text = (await http.get("/metrics")).text
                return "samepage_text_timeline_builds_total 1.0" in text

            await eventually(built, what="the timeline's build")
            for k in range(41):
                assert (await http.get(f"/api/rooms/{room}/content?at={k}")).text == expected[k]
            assert _reads(await http.get("/metrics"), "timeline") >= 82
        assert len(set(expected)) > 30  # the versions differ
    finally:
        proc.stop()


def _reads(metrics: httpx.Response, source: str) -> float:
    """samepage_version_text_reads_total{source=...} from a /metrics answer."""
    pattern = r'samepage_version_text_reads_total\{source="' + source + r'"\} (\S+)'
    found = re.search(pattern, metrics.text)
    assert found is not None, metrics.text[-2000:]
    return float(found.group(1))
