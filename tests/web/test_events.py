"""The live event feed (SSE): patches rebuild the document exactly, `Last-Event-ID`
resumes without gap or duplicate, presence / ephemeral / heartbeat events, auth, and a
reader that stops reading is disconnected."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pycrdt import Doc, Text

from sync import protocol
from sync.awareness import AwarenessEntry, encode_awareness_entries
from tests.cluster.redis_server import RedisServer
from tests.helpers.clients import eventually, raw_client, yclient
from tests.helpers.server import ServerProcess
from web.auth import issue_token


@dataclass
class Event:
    """One Server-Sent Event as a client sees it."""

    name: str
    id: int | None
    data: Any


class Follower:
    """Reads an SSE response in the background into `events`."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.events: list[Event] = []
        self.ended = False
        self._task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        try:
            async for line in self.response.aiter_lines():
                if line == "":
                    if "event" in fields or "data" in fields:
                        event_id = fields.get("id")
                        self.events.append(
                            Event(
                                fields.get("event", "message"),
                                int(event_id) if event_id is not None else None,
                                json.loads(fields["data"]) if "data" in fields else None,
                            )
                        )
                    fields = {}
                elif not line.startswith(":") and ":" in line:
                    key, _, value = line.partition(":")
                    fields[key] = value[1:] if value.startswith(" ") else value
        except httpx.HTTPError:
            pass
        finally:
            self.ended = True

    def named(self, name: str) -> list[Event]:
        """Events of one type."""
        return [e for e in self.events if e.name == name]

    async def aclose(self) -> None:
        """Stop reading."""
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


@contextlib.asynccontextmanager
async def follow(
    base: str, room: str, headers: dict[str, str] | None = None, query: str = ""
) -> AsyncIterator[Follower]:
    """Follow `room`'s events over HTTP."""
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=None)) as http,
        http.stream("GET", f"/api/rooms/{room}/events{query}", headers=headers) as response,
    ):
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        follower = Follower(response)
        try:
            yield follower
        finally:
            await follower.aclose()


def rebuild(events: list[Event], text: str = "", last: int | None = None) -> tuple[str, int]:
    """Apply `text` events in order; every patch must be the next seq (no gap, no dup)."""
    for event in events:
        if event.name != "text":
            continue
        data = event.data
        assert event.id == data["seq"]
        if data["kind"] == "snapshot":
            text, last = data["text"], data["seq"]
            continue
        assert last is not None and data["seq"] == last + 1, (last, data["seq"])
        index, delete = data["index"], data["delete"]
        text, last = text[:index] + data["insert"] + text[index + delete :], data["seq"]
    assert last is not None
    return text, last


async def content(base: str, room: str) -> str:
    """The document's text as the server has it."""
    async with httpx.AsyncClient(base_url=base) as http:
        return (await http.get(f"/api/rooms/{room}/content")).text


async def test_patches_rebuild_the_document_and_resume_without_gap_or_duplicate(
    server: ServerProcess,
) -> None:
    room = "feed"
    async with yclient(server.ws, room) as doc:
        text = doc.get("content", type=Text)
        text.insert(0, "hello world")
        async with follow(server.http, room) as follower:
            await eventually(lambda: bool(follower.named("text")), what="first text event")
            for edit in range(12):
                if edit % 3 == 2:
                    del text[0:2]
                else:
                    text.insert(edit, f"[{edit}]")
            text += " — ünïcødé 😀 done"
            expected = str(text)
            await eventually(
                lambda: rebuild(follower.events)[0] == expected, what="patches to catch up"
            )
            assert await content(server.http, room) == expected
            await eventually(
                lambda: follower.named("saved")[-1].data["seq"] == rebuild(follower.events)[1],
                what="saved event for the last seq",
            )
            seen_text, seen_seq = rebuild(follower.events)

        # Edits while nobody follows, then resume from the last id seen.
        for edit in range(5):
            text.insert(0, f"<{edit}>")
        expected = str(text)

        async def stored() -> bool:
            return await content(server.http, room) == expected

        await eventually(stored, what="offline edits stored")
        async with follow(server.http, room, {"Last-Event-ID": str(seen_seq)}) as follower:
            await eventually(
                lambda: rebuild(follower.events, seen_text, seen_seq)[0] == expected,
                what="replayed patches",
            )
            texts = follower.named("text")
            assert all(e.data["kind"] == "patch" for e in texts)
            assert texts[0].id == seen_seq + 1
            text.insert(0, "live again ")
            expected = str(text)
            await eventually(
                lambda: rebuild(follower.events, seen_text, seen_seq)[0] == expected,
                what="live patches after the replay",
            )
            ids = [e.id for e in follower.named("text")]
            assert ids == list(range(seen_seq + 1, ids[-1] + 1))  # no gap, no duplicate


def awareness(client_id: int, clock: int, state: Any) -> bytes:
    """An awareness frame for one client id."""
    entry = AwarenessEntry(client_id, clock, json.dumps(state))
    return protocol.encode_awareness(encode_awareness_entries([entry]))


async def test_presence_ephemeral_and_heartbeat_events(server: ServerProcess) -> None:
    room = "people"
    async with (
        follow(server.http, room, query="?heartbeat=1") as follower,
        raw_client(server.ws, room) as alice,
        raw_client(server.ws, room) as bob,
        httpx.AsyncClient(base_url=server.http) as http,
    ):
        await bob.send(protocol.encode_subscribe(protocol.SubscribeFlag.EPHEMERAL))
        user = {"name": "Alice", "color": "#aa0000"}
        await alice.send(awareness(7, 1, {"user": user, "typing": False}))
        await alice.send(awareness(7, 2, {"user": user, "typing": False, "cursor": 3}))
        await alice.send(awareness(7, 3, {"user": user, "typing": True}))

        def actions() -> list[str]:
            return [e.data["action"] for e in follower.named("presence")]

        await eventually(lambda: actions() == ["snapshot", "joined", "typing"], what="presence")
        assert follower.named("presence")[1].data["name"] == "Alice"
        assert follower.named("presence")[2].data["typing"] is True

        sent = await http.post(f"/api/rooms/{room}/ephemeral", json={"emoji": "👍"})
        assert sent.json() == {"delivered": 2}  # bob (subscribed) and the follower
        await eventually(lambda: bool(follower.named("ephemeral")), what="ephemeral event")
        assert follower.named("ephemeral")[0].data == {"message": {"emoji": "👍"}}
        await eventually(lambda: bool(bob.of_type(protocol.Ephemeral)), what="relayed to bob")
        assert json.loads(bob.of_type(protocol.Ephemeral)[0].data) == {"emoji": "👍"}

        # To one connection (by its awareness client id): alice did not subscribe.
        to_alice = await http.post(f"/api/rooms/{room}/ephemeral?to=7", json={"x": 1})
        assert to_alice.json() == {"delivered": 0}
        missing = await http.post(f"/api/rooms/{room}/ephemeral?to=99", json={"x": 1})
        assert missing.status_code == 404
        bad = await http.post(f"/api/rooms/{room}/ephemeral", content=b"{not json")
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_json"

        await alice.ws.close()
        await eventually(lambda: actions()[-1:] == ["left"], what="left event")
        assert follower.named("presence")[-1].data["name"] == "Alice"
        await eventually(lambda: bool(follower.named("heartbeat")), what="heartbeat")


async def test_events_need_a_token_granting_the_room(tmp_path: Path) -> None:
    secret = "a-long-enough-secret-for-the-events-test"
    with ServerProcess(tmp_path / "db", extra_args=["--secret", secret]) as proc:
        async with httpx.AsyncClient(base_url=proc.http) as http:
            refused = await http.get("/api/rooms/team-a/events")
            assert refused.status_code == 401
            other = issue_token(secret, "team-b")
            forbidden = await http.get(f"/api/rooms/team-a/events?token={other}")
            assert forbidden.status_code == 403
        token = issue_token(secret, "team-*", user="carol")
        async with follow(proc.http, "team-a", {"Authorization": f"Bearer {token}"}) as follower:
            await eventually(lambda: bool(follower.named("text")), what="snapshot")


async def test_a_reader_that_stops_reading_is_disconnected(tmp_path: Path) -> None:
    extra = ["--outbound-queue-frames", "16"]
    with ServerProcess(tmp_path / "db", extra_args=extra, log_path=tmp_path / "log") as proc:
        stalled = socket.create_connection(("127.0.0.1", proc.port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /api/rooms/big/events HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            async with httpx.AsyncClient(base_url=proc.http) as http:

                async def streams() -> float:
                    return metric((await http.get("/metrics")).text, "samepage_event_streams")

                await eventually(lambda: _eq(streams(), 1), what="stream open")
                doc: Doc[Any] = Doc()
                text = doc.get("content", type=Text)
                closes = 'samepage_event_stream_closes_total{reason="slow_consumer"}'
                for _ in range(200):
                    before = doc.get_state()
                    text.insert(0, "x" * 65536)
                    await http.post("/api/rooms/big/updates", content=doc.get_update(before))
                    body = (await http.get("/metrics")).text
                    if metric(body, closes) == 1:
                        break
                assert metric((await http.get("/metrics")).text, closes) == 1
                await eventually(lambda: _eq(streams(), 0), what="stream dropped")
                assert (await http.get("/api/rooms/big")).status_code == 200
        finally:
            stalled.close()


async def _eq(value: Any, expected: float) -> bool:
    return bool(await value == expected)


def metric(body: str, name: str) -> float:
    """The value of one sample in a Prometheus text body (0 when absent)."""
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("resume", ["", "0", "999999", "junk"])
async def test_resume_edge_cases_send_a_consistent_start(
    server: ServerProcess, resume: str
) -> None:
    room = "edges"
    async with yclient(server.ws, room) as doc:
        doc.get("content", type=Text).insert(0, "abc")

        async def committed() -> bool:  # the seq of the room is its last commit
            async with httpx.AsyncClient(base_url=server.http) as http:
                return bool((await http.get(f"/api/rooms/{room}")).json()["seq"] == 1)

        await eventually(committed)
        headers = {"Last-Event-ID": resume} if resume else {}
        async with follow(server.http, room, headers) as follower:
            await eventually(lambda: bool(follower.named("presence")), what="opening events")
            start = 0 if resume == "0" else None
            assert rebuild(follower.events, "", start)[0] == "abc"


async def test_follower_on_another_node_sees_every_patch(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"  # SQLite WAL shared by two processes on one machine
    with RedisServer() as redis:
        args = ["--redis", redis.url]
        with (
            ServerProcess(db, extra_args=[*args, "--node-id", "a"]) as a,
            ServerProcess(db, extra_args=[*args, "--node-id", "b"]) as b,
        ):
            room = "across"
            async with yclient(a.ws, room) as doc, follow(b.http, room) as follower:
                await eventually(lambda: bool(follower.named("text")), what="snapshot on b")
                text = doc.get("content", type=Text)
                for edit in range(8):
                    text.insert(0, f"node a edit {edit}\n")
                    if edit % 3 == 2:
                        del text[0:5]
                expected = str(text)
                await eventually(
                    lambda: rebuild(follower.events)[0] == expected,
                    timeout=10,
                    what="patches from the other node",
                )
