"""Fork a room at a version (`POST /api/rooms/{room}/fork`) against a live server: the
copy's content (Unicode, every root type), its recorded origin, clear errors. Clients
wait up to 30 s: a server's first worker process (the copy is built in one) takes
seconds to start on a busy machine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pycrdt import Array, Doc, Map, Text

from tests.helpers.server import TEST_SECRET, ServerProcess
from web.auth import issue_token

WORLD = "Zoë naïve e\u0301 👩🏽‍💻 👨‍👩‍👧 漢字かな 한국어 שלום مرحبا"


@pytest.fixture(scope="module")
def fserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("fork")
    with ServerProcess(
        path / "db.sqlite", extra_args=["--checkpoint-every", "3"], log_path=path / "log"
    ) as proc:
        yield proc


class Writer:
    """One Yjs client posting each edit as an update (`POST .../updates`)."""

    def __init__(self, http: httpx.AsyncClient, room: str) -> None:
        self.http, self.room = http, room
        self.doc: Doc[Any] = Doc()
        self.text = self.doc.get("content", type=Text)

    async def edit(self, change: Any) -> int:
        before = self.doc.get_state()
        with self.doc.transaction():
            change(self.doc)
        response = await self.http.post(
            f"/api/rooms/{self.room}/updates",
            content=self.doc.get_update(before),
            headers={"X-Samepage-Author": "ana"},
        )
        response.raise_for_status()
        seq: int = response.json()["seq"]
        return seq


async def text(http: httpx.AsyncClient, room: str, at: int | None = None) -> str:
    query = "" if at is None else f"&at={at}"
    response = await http.get(f"/api/rooms/{room}/content?format=text{query}")
    response.raise_for_status()
    return response.text


async def test_a_copy_starts_with_the_version_and_records_its_origin(
    fserver: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=fserver.http, timeout=30) as http:
        writer = Writer(http, "fork-src")
        await writer.edit(lambda d: d.get("content", type=Text).insert(0, WORLD))
        middle = await writer.edit(lambda d: d.get("content", type=Text).insert(4, " ✂️ "))
        wanted = await text(http, "fork-src", middle)
        for _ in range(4):  # past a checkpoint: the version is a checkpoint + rows
            await writer.edit(lambda d: d.get("content", type=Text).insert(0, "later "))

        response = await http.post("/api/rooms/fork-src/fork", json={"at": middle, "to": "copy-a"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["room"] == "copy-a" and body["from"] == {
            "room": "fork-src",
            "seq": middle,
            "epoch": 0,
        }
        assert await text(http, "copy-a") == wanted
        info = (await http.get("/api/rooms/copy-a")).json()
        assert info["origin"] == {"room": "fork-src", "epoch": 0, "seq": middle}
        assert info["seq"] == body["seq"] == 1
        history = (await http.get("/api/rooms/copy-a/history")).json()
        assert [row["seq"] for row in history] == [1]
        assert (await http.get("/api/rooms/fork-src")).json()["origin"] is None
        names = [r["name"] for r in (await http.get("/api/rooms")).json()]
        assert "copy-a" in names

        # The copy is a room of its own: editing it leaves the source as it was.
        source_head = await text(http, "fork-src")
        copy = Writer(http, "copy-a")
        copy.doc.apply_update((await http.get("/api/rooms/copy-a/content?format=yjs")).content)
        await copy.edit(lambda d: d.get("content", type=Text).insert(0, "mine: "))
        assert await text(http, "copy-a") == "mine: " + wanted
        assert await text(http, "fork-src") == source_head

        # Without `at`: the head.
        response = await http.post("/api/rooms/fork-src/fork", json={"to": "copy-head"})
        assert response.status_code == 201
        assert await text(http, "copy-head") == source_head


async def test_every_root_type_is_copied(fserver: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=fserver.http, timeout=30) as http:
        writer = Writer(http, "fork-types")

        def fill(doc: Doc[Any]) -> None:
            doc.get("content", type=Text).insert(0, "text 🧪")
            doc.get("meta", type=Map)["title"] = "Ünïcode ✓"
            doc.get("items", type=Array).extend([1, "два", {"k": "v"}])

        seq = await writer.edit(fill)
        response = await http.post("/api/rooms/fork-types/fork", json={"at": seq, "to": "copy-t"})
        assert response.status_code == 201, response.text
        source = (await http.get(f"/api/rooms/fork-types/content?format=json&at={seq}")).json()
        copy = (await http.get("/api/rooms/copy-t/content?format=json")).json()
        assert copy == source


async def test_clear_errors(fserver: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=fserver.http, timeout=30) as http:
        writer = Writer(http, "fork-err")
        seq = await writer.edit(lambda d: d.get("content", type=Text).insert(0, "x"))
        await http.post("/api/rooms/fork-err/fork", json={"to": "fork-taken"})

        async def fork(body: Any, room: str = "fork-err") -> tuple[int, str]:
            response = await http.post(f"/api/rooms/{room}/fork", json=body)
            return response.status_code, response.json().get("error", "")

        assert await fork({"at": seq, "to": "fork-taken"}) == (409, "room_exists")
        assert await fork({"at": seq, "to": "fork-err"}) == (409, "room_exists")
        assert await fork({"at": seq + 5, "to": "fork-new"}) == (404, "no_such_version")
        assert await fork({"at": -1, "to": "fork-new"}) == (400, "bad_parameter")
        assert await fork({"at": "1", "to": "fork-new"}) == (400, "bad_parameter")
        assert await fork({"at": seq, "to": "../etc"}) == (400, "invalid_room_name")
        assert await fork({"at": seq, "to": ""}) == (400, "invalid_room_name")
        assert await fork({"at": seq}) == (400, "bad_parameter")
        assert await fork({"at": 0, "to": "fork-new"}) == (400, "empty_version")
        assert await fork({"to": "fork-new"}, room="fork-nothing") == (404, "no_such_room")
        bad = await http.post("/api/rooms/fork-err/fork", content=b"[1]")
        assert bad.status_code == 400
        # Nothing of that created a room.
        names = {r["name"] for r in (await http.get("/api/rooms")).json()}
        assert "fork-new" not in names
        assert (await http.get("/healthz")).status_code == 200


async def test_tokens_must_grant_both_rooms(tmp_path: Any) -> None:
    with ServerProcess(tmp_path / "s.db", extra_args=["--secret", TEST_SECRET]) as proc:
        writer_token = issue_token(TEST_SECRET, "team-*", user="ana")
        headers = {"Authorization": f"Bearer {writer_token}"}
        async with httpx.AsyncClient(base_url=proc.http, headers=headers, timeout=30) as http:
            writer = Writer(http, "team-a")
            seq = await writer.edit(lambda d: d.get("content", type=Text).insert(0, "hi"))
            ok = await http.post("/api/rooms/team-a/fork", json={"at": seq, "to": "team-b"})
            assert ok.status_code == 201
            assert (await http.get("/api/rooms/team-b/history")).json()[0]["author"] == "ana"
            other = await http.post("/api/rooms/team-a/fork", json={"at": seq, "to": "other"})
            assert other.status_code == 403
        reader = issue_token(TEST_SECRET, "team-*", user="bo", read_only=True)
        async with httpx.AsyncClient(
            base_url=proc.http, headers={"Authorization": f"Bearer {reader}"}, timeout=30
        ) as http:
            denied = await http.post("/api/rooms/team-a/fork", json={"at": seq, "to": "team-c"})
            assert denied.status_code == 403
        async with httpx.AsyncClient(base_url=proc.http, timeout=30) as http:
            response = await http.post("/api/rooms/team-a/fork", json={"to": "team-d"})
            assert response.status_code == 401
