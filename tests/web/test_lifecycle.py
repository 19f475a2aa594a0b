"""Shutdown: clients are closed with the right code, rooms flushed, exit in seconds."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from pycrdt import Text

from sync.errors import CloseCode
from tests.helpers.clients import eventually, raw_client, yclient
from tests.helpers.server import ServerProcess


@pytest.mark.parametrize(
    ("sig", "code"),
    [(signal.SIGINT, CloseCode.GOING_AWAY), (signal.SIGTERM, CloseCode.SERVICE_RESTART)],
    ids=["ctrl-c", "sigterm"],
)
async def test_shutdown_closes_clients_with_code_and_keeps_edits(
    tmp_path: Path, sig: int, code: int
) -> None:
    proc = ServerProcess(tmp_path / "db.sqlite", log_path=tmp_path / "log")
    proc.start()
    async with raw_client(proc.ws, "bye") as watcher, yclient(proc.ws, "bye") as editor:
        editor.get("content", type=Text).insert(0, "keep me")
        async with httpx.AsyncClient(base_url=proc.http) as http:

            async def stored() -> bool:
                return (await http.get("/api/rooms/bye")).json()["seq"] >= 1

            await eventually(stored)
        started = time.monotonic()
        assert proc.proc is not None
        proc.proc.send_signal(sig)
        assert await watcher.closed(timeout=5) == code
        exit_code = proc.stop(timeout=10)
        assert exit_code == 0 and time.monotonic() - started < 5
    proc.start()
    async with httpx.AsyncClient(base_url=proc.http) as http:
        assert (await http.get("/api/rooms/bye/content")).text == "keep me"
    proc.stop()
