"""samepage behind Debian's nginx running `deploy/nginx.conf` (ports rewritten, nothing
else), in front of two nodes sharing Redis and PostgreSQL, with tokens on:

- real y-websocket clients converge through it, and each room's clients all reach one
  node (the consistent hash on the room name), with rooms on both nodes;
- the SSE feed streams through it: the first event, and an edit's event, arrive < 1 s;
- the origin check and tokens hold through the proxy;
- the nodes log the real client address (a client on 127.0.0.5), never an address a
  client forged in its own X-Forwarded-For;
- the commented TLS server block is valid nginx once uncommented.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from httpx_ws._exceptions import WebSocketUpgradeError
from pycrdt import Doc, Text

from sync import protocol
from sync.errors import CloseCode
from tests.deploy.nginx import SITE, Nginx, require_nginx
from tests.helpers.clients import eventually, raw_client
from tests.helpers.server import TEST_SECRET, ServerProcess, free_port
from tests.helpers.services import (
    REDIS_HOST,
    REDIS_PORT,
    create_pg_database,
    drop_pg_database,
    require,
)
from tests.interop.node import NodeClient, node_driver
from tests.web.test_events import follow
from web.auth import issue_token

CLIENT_ADDRESS = "127.0.0.5"  # a loopback address that is not the proxy's
FORGED = "6.6.6.6"
ROOMS = 10  # both nodes get some (all on one: 2 chances in 1024)


@dataclass
class Proxied:
    """nginx in front of two nodes."""

    nginx: Nginx
    nodes: list[ServerProcess]


def token(room: str) -> str:
    """A read-write token for `room`."""
    return issue_token(TEST_SECRET, room, user="proxied")


def auth(room: str) -> dict[str, str]:
    """The Authorization header for `room`."""
    return {"Authorization": f"Bearer {token(room)}"}


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    """Two nodes (Redis bus, one PostgreSQL database, tokens, JSON logs with the access
    log) and nginx with the shipped configuration in front of them."""
    require_nginx()
    require("Redis", REDIS_HOST, REDIS_PORT)
    work = tmp_path_factory.mktemp("proxied")
    url = asyncio.run(create_pg_database())
    run = uuid.uuid4().hex[:6]
    nodes = [
        ServerProcess(
            url,
            extra_args=[
                *("--redis", f"redis://{REDIS_HOST}:{REDIS_PORT}", "--node-id", f"px{run}-{i}"),
                *("--secret", TEST_SECRET, "--log-format", "json", "--access-log"),
            ],
            log_path=work / f"node{i}.log",
        )
        for i in range(2)
    ]
    nginx: Nginx | None = None
    try:
        for node in nodes:  # one at a time: the first migrates the fresh database
            node.start()
        nginx = Nginx(work / "nginx", [node.port for node in nodes])
        nginx.start()
        yield Proxied(nginx, nodes)
    finally:
        if nginx is not None:
            nginx.stop()
        for node in nodes:
            node.stop()
        asyncio.run(drop_pg_database(url))


def records(node: ServerProcess) -> list[dict[str, Any]]:
    """The node's JSON log records so far."""
    assert node.log_path is not None
    lines = node.log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


async def connections(node: ServerProcess, room: str) -> int:
    """How many WebSockets of `room` this node serves (asked directly, not via nginx)."""
    async with httpx.AsyncClient(base_url=node.http, headers=auth(room)) as http:
        response = await http.get(f"/api/rooms/{room}")
        response.raise_for_status()
        count: int = response.json()["connections"]
        return count


async def test_yjs_clients_converge_through_nginx_and_each_room_lives_on_one_node(
    proxied: Proxied,
) -> None:
    rooms = [f"px-{uuid.uuid4().hex[:6]}-{i}" for i in range(ROOMS)]
    words = {room: [f"<a {room} é👍🏽>", f"<b {room} 数据 שלום>"] for room in rooms}
    async with node_driver() as driver:
        clients: dict[str, list[NodeClient]] = {}
        for room in rooms:
            params = {"token": token(room)}
            clients[room] = [
                await driver.client(proxied.nginx.ws, room, params=params) for _ in range(2)
            ]
        for room, pair in clients.items():
            for client, word in zip(pair, words[room], strict=True):
                await client.insert(0, word)

        for room, pair in clients.items():

            async def converged(pair: list[NodeClient] = pair, room: str = room) -> bool:
                texts = [await client.text() for client in pair]
                return texts[0] == texts[1] and all(w in texts[0] for w in words[room])

            await eventually(converged, 20, f"{room} converged through nginx")

        hosts = []
        for room in rooms:
            counts = [await connections(node, room) for node in proxied.nodes]
            assert sorted(counts) == [0, 2], f"{room}: clients split over nodes: {counts}"
            hosts.append(counts.index(2))
        print(f"rooms per node through nginx: {[hosts.count(i) for i in range(2)]}")
        assert set(hosts) == {0, 1}, "every room went to one node: is the hash on the room?"


async def test_event_stream_is_not_buffered_by_nginx(proxied: Proxied) -> None:
    room = f"px-sse-{uuid.uuid4().hex[:6]}"
    started = time.monotonic()
    async with follow(proxied.nginx.http, room, headers=auth(room)) as follower:
        await eventually(lambda: bool(follower.events), 5, "the first event")
        first = time.monotonic() - started
        async with raw_client(proxied.nginx.ws, f"{room}?token={token(room)}") as writer:
            doc: Doc[int] = Doc()
            doc.get("content", type=Text).insert(0, "streamed ✓")
            sent = time.monotonic()
            await writer.send(protocol.encode_update(doc.get_update()))
            await eventually(lambda: len(follower.named("text")) >= 2, 5, "the edit's event")
            edit = time.monotonic() - sent
    print(f"through nginx: first event after {first:.3f} s, an edit's after {edit:.3f} s")
    assert first < 1.0 and edit < 1.0
    assert follower.named("text")[-1].data["seq"] == 1


async def test_origin_check_and_tokens_hold_through_the_proxy(proxied: Proxied) -> None:
    room = f"px-auth-{uuid.uuid4().hex[:6]}"
    nginx = proxied.nginx
    async with raw_client(nginx.ws, room) as anonymous:
        assert await anonymous.closed() == CloseCode.UNAUTHORIZED
    async with raw_client(nginx.ws, f"{room}?token={token('other-room')}") as wrong:
        assert await wrong.closed() == CloseCode.FORBIDDEN
    url = f"{nginx.ws}/{room}?token={token(room)}"
    with pytest.raises(WebSocketUpgradeError) as refused:
        async with aconnect_ws(url, headers={"Origin": "https://evil.example"}):
            pass
    assert refused.value.response.status_code == 403
    # the page's own origin: the Host nginx passes on keeps the port the browser used
    async with aconnect_ws(url, headers={"Origin": nginx.http}) as ws:
        assert protocol.decode_frame(await ws.receive_bytes()) is not None
    async with httpx.AsyncClient(base_url=nginx.http) as http:
        assert (await http.get(f"/api/rooms/{room}/content")).status_code == 401
        assert (await http.get(f"/api/rooms/{room}/events")).status_code == 401
        ok = await http.get(f"/api/rooms/{room}/content", headers=auth(room))
        assert ok.status_code == 200


async def test_nodes_log_the_real_client_address(proxied: Proxied) -> None:
    room = f"px-addr-{uuid.uuid4().hex[:6]}"
    forged = {"X-Forwarded-For": FORGED}
    transport = httpx.AsyncHTTPTransport(local_address=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, headers=forged) as client:
        url = f"{proxied.nginx.ws}/{room}?token={token(room)}"
        async with aconnect_ws(url, client) as ws:
            await ws.receive_bytes()
        response = await client.get(
            f"{proxied.nginx.http}/api/rooms/{room}/content", headers=auth(room)
        )
        assert response.status_code == 200
        # straight to a node (not a trusted proxy): its forged header is ignored too
        direct = f"{proxied.nodes[0].ws}/{room}?token={token(room)}"
        async with aconnect_ws(direct, client) as ws:
            await ws.receive_bytes()

    def logged() -> list[dict[str, Any]]:
        return [r for node in proxied.nodes for r in records(node) if r.get("room") == room]

    def closes() -> list[dict[str, Any]]:
        return [r for r in logged() if r["message"].startswith("close room=")]

    await eventually(lambda: len(closes()) == 2, 10, "both sockets' close lines")
    peers = sorted(r["peer"] for r in closes())
    assert peers[0] == CLIENT_ADDRESS, peers  # through nginx: the address nginx saw
    assert re.fullmatch(rf"{re.escape(CLIENT_ADDRESS)}:\d+", peers[1]), peers  # direct
    access = [
        r
        for node in proxied.nodes
        for r in records(node)
        if r.get("logger") == "samepage.access" and r.get("path") == f"/api/rooms/{room}/content"
    ]
    assert [r["peer"] for r in access] == [CLIENT_ADDRESS]
    assert access[0]["route"] == "/api/rooms/{room}/content" and access[0]["status"] == 200
    everything = "".join(node.log_path.read_text() for node in proxied.nodes if node.log_path)
    assert FORGED not in everything


def test_commented_tls_block_is_valid_nginx(tmp_path: Path) -> None:
    """Uncomment the TLS server block, give it a self-signed certificate: `nginx -t`."""
    require_nginx()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=docs.example.org", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    shipped = SITE.read_text()
    start = shipped.index("# server {\n#     listen 443")
    block = shipped[start : shipped.index("\n# }\n", start) + 4]
    redirect = re.search(r"(?m)^# server \{ listen 80;.*$", shipped)
    assert redirect is not None, "deploy/nginx.conf: the http -> https redirect"
    tls = re.sub(r"(?m)^# ?", "", block + "\n" + redirect.group(0))
    tls = tls.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{free_port()} ssl http2;")
    tls = tls.replace("listen [::]:443 ssl;", "")
    tls = tls.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
    tls = tls.replace("/etc/letsencrypt/live/docs.example.org/fullchain.pem", str(cert))
    tls = tls.replace("/etc/letsencrypt/live/docs.example.org/privkey.pem", str(key))
    nginx = Nginx(tmp_path / "tls", [1, 2], site=shipped + "\n" + tls)
    checked = nginx.test_config()
    assert checked.returncode == 0, checked.stderr
    assert "ssl_certificate" in tls and "proxy_read_timeout 1h" in tls
