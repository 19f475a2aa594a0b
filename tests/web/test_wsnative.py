"""The native WebSocket server (web.wsnative) on a real socket: keepalive drops a peer
that vanished (and its presence), a bad upgrade is refused over HTTP, the ASGI
implementations still serve the same protocol."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pycrdt import Doc, Text

from sync import protocol
from sync.awareness import AwarenessEntry, decode_awareness, encode_awareness_entries
from tests.helpers.clients import eventually, raw_client, yclient
from tests.helpers.server import ServerProcess
from tests.web.test_wsframes import client_frame
from web.wsframes import BINARY


@pytest.fixture
def pinging(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "db.sqlite", extra_args=["--ws-ping-interval", "0.3"])
    server.start()
    yield server
    server.stop()


async def open_raw(
    port: int, path: str, headers: str = ""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    """A bare TCP client: send an upgrade request, return the response head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n{headers}\r\n".encode()
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return reader, writer, head


def presence(client_id: int, state: str) -> bytes:
    entries = [AwarenessEntry(client_id, 1, state)]
    return protocol.encode_awareness(encode_awareness_entries(entries))


async def test_a_vanished_peer_is_dropped_and_its_presence_removed(pinging: ServerProcess) -> None:
    async with raw_client(pinging.ws, "keepalive") as watcher:
        # The peer announces itself, then neither reads nor answers pings (no FIN: the
        # socket stays open, as when a laptop sleeps or a network drops).
        _r, writer, head = await open_raw(pinging.port, "/ws/keepalive")
        assert head.startswith(b"HTTP/1.1 101")
        writer.write(client_frame(BINARY, presence(4242, '{"user":{"name":"gone"}}')))

        def seen(state: str) -> bool:
            return any(
                e.client_id == 4242 and e.state == state
                for m in watcher.of_type(protocol.AwarenessMessage)
                for e in decode_awareness(m.payload)
            )

        await eventually(lambda: seen('{"user":{"name":"gone"}}'), 5, "the peer's presence")
        # pinged after one silent interval, dropped after the next: well within 3 s
        await eventually(lambda: seen("null"), 3, "the peer's presence removed")
        # the watcher answers pings (httpx-ws does): it stays, and still gets updates
        await asyncio.sleep(1.0)
        assert watcher.close_code is None
        async with yclient(pinging.ws, "keepalive"):
            pass
        writer.close()


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/elsewhere", "", b"403"),
        ("/ws/doc", "Origin: https://evil.example\r\n", b"403"),
    ],
)
async def test_refused_upgrades_get_an_http_status(
    server: ServerProcess, path: str, headers: str, status: bytes
) -> None:
    _r, writer, head = await open_raw(server.port, path, headers)
    assert head.split(b" ")[1] == status
    writer.close()


async def test_a_bad_room_name_is_closed_with_its_code_after_the_upgrade(
    server: ServerProcess,
) -> None:
    reader, writer, head = await open_raw(server.port, "/ws/%20bad")
    assert head.startswith(b"HTTP/1.1 101")
    frame = await asyncio.wait_for(reader.readexactly(4), 5)
    assert frame[0] == 0x88 and int.from_bytes(frame[2:4], "big") == 4400
    writer.close()


@pytest.mark.parametrize("ws", ["websockets-sansio", "wsproto"])
async def test_uvicorns_asgi_implementations_still_serve_the_room(tmp_path: Path, ws: str) -> None:
    server = ServerProcess(tmp_path / "db.sqlite", extra_args=["--ws", ws])
    server.start()
    try:
        async with yclient(server.ws, "asgi") as a, yclient(server.ws, "asgi") as b:
            a.get("content", type=Text).insert(0, "hello")
            await eventually(lambda: str(b.get("content", type=Text)) == "hello")
    finally:
        server.stop()


async def test_a_client_that_stops_reading_is_closed_4508_and_the_room_carries_on(
    tmp_path: Path,
) -> None:
    server = ServerProcess(
        tmp_path / "db.sqlite",
        extra_args=["--outbound-queue-bytes", "200000", "--messages-per-second", "0"],
    )
    server.start()
    try:
        # The stalled peer joins, then never reads again: what the kernel cannot take
        # piles up in the server until it is over the limit.
        _r, stalled, head = await open_raw(server.port, "/ws/slow")
        assert head.startswith(b"HTTP/1.1 101")
        async with raw_client(server.ws, "slow") as reader, raw_client(server.ws, "slow") as w:
            doc, got = Doc(), Doc()
            text = doc.get("content", type=Text)
            seen = 0

            def reader_has(prefix: str) -> bool:
                nonlocal seen
                updates = reader.of_type(protocol.SyncUpdate)
                for message in updates[seen:]:
                    got.apply_update(message.update)
                seen = len(updates)
                return str(got.get("content", type=Text)).startswith(prefix)

            for i in range(400):  # 400 x 20 KB: far more than socket buffers hold
                before = doc.get_state()
                text.insert(0, f"{i:04d}" + "x" * 20_000)
                await w.send(protocol.encode_update(doc.get_update(before)))
                if i % 10 == 9:  # paced by the reader: only the stalled peer falls behind
                    await eventually(lambda i=i: reader_has(f"{i:04d}"), 20)

            async def closed_slow() -> bool:
                async with httpx.AsyncClient() as http:
                    metrics = (await http.get(server.http + "/metrics")).text
                return 'samepage_ws_closes_total{code="4508"' in metrics

            await eventually(closed_slow, 30, "the stalled peer closed as a slow consumer")
            assert reader.close_code is None and w.close_code is None
        stalled.close()
    finally:
        server.stop()
