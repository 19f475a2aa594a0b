"""Auth matrix, read-only enforcement, origins, safe defaults and flood control
against a real server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from httpx_ws import aconnect_ws
from httpx_ws._exceptions import WebSocketUpgradeError
from pycrdt import Doc, Text

from sync import protocol
from sync.errors import CloseCode
from tests.helpers.clients import eventually, raw_client, yclient
from tests.helpers.server import ROOT, ServerProcess
from web.auth import issue_token

SECRET = "test-secret-that-is-long-enough-for-hs256!"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    path = tmp_path_factory.mktemp("secured")
    proc = ServerProcess(
        path / "db.sqlite",
        extra_args=["--secret", SECRET, "--allowed-origin", "https://app.example"],
        log_path=path / "server.log",
    )
    proc.start()
    yield proc
    proc.stop()


def token(room: str = "doc", **kw: Any) -> str:
    return issue_token(SECRET, room, user=kw.pop("user", "alice"), **kw)


def edit(text: str) -> bytes:
    doc: Doc[Any] = Doc()
    doc.get("content", type=Text).insert(0, text)
    return doc.get_update()


async def room_state(server: ServerProcess, room: str) -> tuple[bytes, int]:
    """(state vector, stored seq) of a room, read through the API with a valid token."""
    headers = {"Authorization": f"Bearer {token(room)}"}
    async with httpx.AsyncClient(base_url=server.http, headers=headers) as http:
        full = (await http.get(f"/api/rooms/{room}/content", params={"format": "yjs"})).content
        info = (await http.get(f"/api/rooms/{room}")).json()
    doc: Doc[Any] = Doc()
    doc.apply_update(full)
    return doc.get_state(), info["seq"]


async def close_code_for(
    server: ServerProcess, path: str, frame: bytes | None = None
) -> int | None:
    async with raw_client(server.ws, path) as client:
        if frame is not None:
            await client.send(frame)
        return await client.closed(timeout=5)


async def seed(server: ServerProcess, room: str) -> None:
    async with yclient(server.ws, f"{room}?token={token(room)}") as doc:
        doc.get("content", type=Text).insert(0, "seed text")
        await eventually(lambda: True)
    await eventually(lambda: room_state(server, room), what="seed")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", CloseCode.UNAUTHORIZED),
        ("?token=garbage", CloseCode.UNAUTHORIZED),
        (f"?token={issue_token('another-secret-also-long-enough-123456', 'doc')}", 4401),
        (f"?token={issue_token(SECRET, 'doc', ttl_s=-10)}", CloseCode.UNAUTHORIZED),
        (f"?token={issue_token(SECRET, 'other-room')}", CloseCode.FORBIDDEN),
    ],
    ids=["missing", "garbage", "bad-signature", "expired", "wrong-room"],
)
async def test_refused_tokens_get_distinct_close_codes(
    secured: ServerProcess, query: str, expected: int
) -> None:
    assert await close_code_for(secured, f"doc{query}") == expected


async def test_refused_tokens_do_not_load_or_create_the_room(secured: ServerProcess) -> None:
    await close_code_for(secured, "never-created")
    async with httpx.AsyncClient(base_url=secured.http) as http:
        rooms = await http.get("/api/rooms", headers={"Authorization": f"Bearer {token('*')}"})
    assert "never-created" not in [r["name"] for r in rooms.json()]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (protocol.encode_update(edit("evil")), CloseCode.FORBIDDEN),
        (protocol.encode_sync_step2(edit("evil")), CloseCode.FORBIDDEN),
        (protocol.encode_sync_step1(b"\x00") + protocol.encode_update(edit("x")), 1002),
    ],
    ids=["update", "sync-step-2", "step1-with-trailing-update"],
)
async def test_read_only_writes_are_refused_and_change_nothing(
    secured: ServerProcess, frame: bytes, expected: int
) -> None:
    await seed(secured, "ro")
    before = await room_state(secured, "ro")
    ro = token("ro", read_only=True, user="viewer")
    assert await close_code_for(secured, f"ro?token={ro}", frame) == expected
    assert await room_state(secured, "ro") == before


async def test_read_only_viewer_syncs_and_sees_live_edits(secured: ServerProcess) -> None:
    await seed(secured, "live")
    ro = token("live", read_only=True, user="viewer")
    async with (
        yclient(secured.ws, f"live?token={ro}") as viewer,
        yclient(secured.ws, f"live?token={token('live')}") as writer,
    ):
        # The viewer's provider sent its (empty) sync step 2 and is still connected.
        assert str(viewer.get("content", type=Text)) == "seed text"
        writer.get("content", type=Text).insert(0, "more ")
        await eventually(lambda: str(viewer.get("content", type=Text)) == "more seed text")


async def test_http_api_requires_bearer_token(secured: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=secured.http) as http:
        assert (await http.get("/api/rooms/doc/content")).status_code == 401
        bad = {"Authorization": f"Bearer {token('other')}"}
        assert (await http.get("/api/rooms/doc/content", headers=bad)).status_code == 403
        ro = {"Authorization": f"Bearer {token('doc', read_only=True)}"}
        assert (
            await http.post("/api/rooms/doc/updates", content=edit("x"), headers=ro)
        ).status_code == 403
        ok = {"Authorization": f"Bearer {token('doc')}"}
        response = await http.post("/api/rooms/doc/updates", content=edit("x"), headers=ok)
        assert response.status_code == 200 and response.json()["seq"] >= 1
        assert (await http.get("/healthz")).status_code == 200


async def test_origin_allow_list(secured: ServerProcess) -> None:
    url = f"{secured.ws}/doc?token={token()}"
    with pytest.raises(WebSocketUpgradeError) as refused:
        async with aconnect_ws(url, headers={"Origin": "https://evil.example"}):
            pass
    assert refused.value.response.status_code == 403
    async with aconnect_ws(url, headers={"Origin": "https://app.example"}) as ws:
        assert protocol.decode_frame(await ws.receive_bytes()) is not None


def test_token_is_never_logged(secured: ServerProcess) -> None:
    assert SECRET not in secured.log_tail(10_000)
    assert token().split(".")[0] not in secured.log_tail(10_000)  # the JWT header prefix


def test_token_cli_prints_a_verifiable_token_last() -> None:
    out = (
        subprocess.run(
            [
                sys.executable,
                "-m",
                "web.cli",
                "token",
                "team-*",
                "--secret",
                SECRET,
                "--user",
                "bob",
                "--read-only",
                "--ttl",
                "15m",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    claims = jwt.decode(out, SECRET, algorithms=["HS256"], issuer="samepage")
    assert claims["room"] == "team-*" and claims["perm"] == "read" and claims["name"] == "bob"
    assert 890 <= claims["exp"] - claims["iat"] <= 900


def test_public_bind_without_secret_refuses_to_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "web.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--db",
            str(tmp_path / "x.db"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "--open" in result.stderr
    assert not (tmp_path / "x.db").exists()


async def test_flooding_client_is_throttled_while_others_keep_low_latency(
    tmp_path: Path,
) -> None:
    proc = ServerProcess(
        tmp_path / "db.sqlite",
        extra_args=["--messages-per-second", "50", "--message-burst", "50"],
        log_path=tmp_path / "server.log",
    )
    proc.start()
    try:
        flood_doc: Doc[Any] = Doc()
        ftext = flood_doc.get("content", type=Text)
        async with raw_client(proc.ws, "flood") as flooder, yclient(proc.ws, "flood") as calm:
            stop = asyncio.Event()

            async def flood() -> None:
                updates: list[bytes] = []
                flood_doc.observe(lambda e: updates.append(e.update))
                while not stop.is_set() and flooder.close_code is None:
                    ftext.insert(0, "x")
                    try:
                        await flooder.send(protocol.encode_update(updates.pop()))
                    except Exception:
                        return

            task = asyncio.ensure_future(flood())
            started = time.monotonic()
            latencies = []
            ctext = calm.get("content", type=Text)
            for i in range(5):
                mark = f"<{i}>"
                t0 = time.monotonic()
                ctext.insert(len(ctext), mark)
                async with httpx.AsyncClient(base_url=proc.http) as http:

                    async def stored(mark: str = mark) -> bool:
                        r = await http.get("/api/rooms/flood/content")
                        return mark in r.text

                    await eventually(stored, timeout=5, what="calm edit stored")
                latencies.append(time.monotonic() - t0)
            await eventually(lambda: flooder.close_code is not None, timeout=6)
            stop.set()
            await task
            assert flooder.close_code == CloseCode.RATE_LIMITED
            assert time.monotonic() - started < 8
            assert max(latencies) < 1.0, latencies
            async with httpx.AsyncClient(base_url=proc.http) as http:
                seq = (await http.get("/api/rooms/flood")).json()["seq"]
            # burst + rate x (time until closed) + the calm client's edits, with slack
            assert seq < 50 + 50 * 4 + 20
    finally:
        proc.stop()
