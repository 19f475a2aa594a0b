"""The WebSocket-layer benchmark peers (bench/peers/layer_*.py) serve samepage's sync
protocol for real: each started as bench/ starts it, two Yjs clients co-edit through
it, the text reaches the other client, a client still connected at SIGTERM is closed
with samepage's code, the process exits 0, and the updates are in the SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pycrdt import Doc, Text

from sync import protocol
from sync.errors import CloseCode
from tests.helpers.clients import eventually, raw_client, yclient
from tests.helpers.server import ROOT, LoopbackUrls, free_port

ROOM = "layers"
TEXT = " ".join(
    [
        "Crème brûlée, nai\u0308ve cafe\u0301 —",
        "👋🏽 👩\u200d👩\u200d👧",
        "你好，世界 · שלום עולם · مرحبا",
    ]
)
REPLY = " ✓ ok"
# Each peer's argv after `python -m`, but for PORT DB, and the close code a client still
# connected at SIGTERM gets: 1012 (restart) where the peer runs samepage's shutdown;
# granian drops its WebSockets without a close frame (None) before samepage's lifespan
# shutdown could close them.
LAYERS = {
    "websockets": (["bench.peers.layer_websockets"], CloseCode.SERVICE_RESTART),
    "picows": (["bench.peers.layer_picows"], CloseCode.SERVICE_RESTART),
    "granian-asgi": (["bench.peers.layer_granian", "asgi"], None),
    "granian-rsgi": (["bench.peers.layer_granian", "rsgi"], None),
}


class Peer(LoopbackUrls):
    """`python -m MODULE PORT DB` in a subprocess, its output in a log file."""

    def __init__(self, layer: str, db: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        (module, *more), self.close_code = LAYERS[layer]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, str(self.port), str(db), *more],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_listening(self, timeout: float = 8.0) -> None:
        """Until the port accepts connections (as bench/servers.py waits)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with {self.proc.returncode}: {self.output()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port)):
                return
            time.sleep(0.05)
        raise RuntimeError(f"not listening after {timeout}s: {self.output()}")

    def exit_code(self, timeout: float = 8.0) -> int:
        """Wait for the exit (killed if it does not stop in time)."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def output(self) -> str:
        """What the peer wrote."""
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture(params=list(LAYERS))
def peer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Peer]:
    """One layer's peer on a fresh SQLite file."""
    proc = Peer(request.param, tmp_path / "bench.db", tmp_path / "peer.log")
    try:
        proc.wait_listening()
        yield proc
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait()


def stored_text(db: Path) -> str:
    """The room's text rebuilt from the updates in the SQLite file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT data FROM updates WHERE room = ? ORDER BY seq", (ROOM,))
        doc: Doc[Text] = Doc()
        text = doc.get("content", type=Text)
        for (data,) in rows:
            doc.apply_update(bytes(data))
        return str(text)


@pytest.mark.timeout(30)
async def test_layer_peer_syncs_stores_and_stops_gracefully(peer: Peer, tmp_path: Path) -> None:
    async with yclient(peer.ws, ROOM) as a, yclient(peer.ws, ROOM) as b:
        text_a, text_b = a.get("content", type=Text), b.get("content", type=Text)
        text_a.insert(0, TEXT)
        await eventually(lambda: str(text_b) == TEXT, 5, "the text at the other client")
        text_b += REPLY
        await eventually(lambda: str(text_a) == TEXT + REPLY, 5, "the reply at the writer")
    async with raw_client(peer.ws, ROOM) as watcher:
        synced = watcher.of_type
        await eventually(lambda: bool(synced(protocol.SyncStep1)), 5, "the room's step 1")
        peer.proc.send_signal(signal.SIGTERM)
        assert await watcher.closed(5) == peer.close_code, peer.output()
    assert await asyncio.to_thread(peer.exit_code) == 0, peer.output()
    assert stored_text(tmp_path / "bench.db") == TEXT + REPLY
