"""Ready means writes succeed. A real server whose file writes fail (RLIMIT_FSIZE set on
its process, as a full disk does) while a y-websocket client types: `/readyz` turns 503
with the cause after a few failed commits, the room's clients are closed with 1013 (try
again later: y-websocket reconnects) and the log says why, nothing the server
acknowledged is lost, and once writes work again readiness and the document recover."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
from pathlib import Path

import httpx

from sync import protocol
from sync.protocol import SubscribeFlag
from tests.durability.test_kill import last_saved, seeded_rng
from tests.helpers.clients import eventually, raw_client
from tests.helpers.server import ServerProcess
from tests.interop.node import node_driver
from tests.interop.peers import dominates, live_doc, state_vector, stored_doc, text_of

ROOM = "disk-full"


def readiness(server: ServerProcess) -> tuple[int, dict[str, object]]:
    response = httpx.get(f"{server.http}/readyz", timeout=10)
    return response.status_code, response.json()


async def test_failed_writes_make_the_server_unready_until_they_work_again(
    tmp_path: Path,
) -> None:
    rng = seeded_rng("disk-full")
    log = tmp_path / "server.log"
    db = tmp_path / "full.db"
    server = ServerProcess(db, log_path=log, log_via_pipe=True)
    server.start()
    assert server.proc is not None
    pid, limit = server.proc.pid, resource.getrlimit(resource.RLIMIT_FSIZE)
    typed = 0
    async with node_driver() as driver, contextlib.AsyncExitStack() as stack:
        writer = await driver.client(server.ws, ROOM, name="writer")
        watcher = await stack.enter_async_context(raw_client(server.ws, ROOM))
        await watcher.send(protocol.encode_subscribe(SubscribeFlag.SAVED))
        stop = asyncio.Event()

        async def write() -> None:
            nonlocal typed
            for n in itertools.count():
                if stop.is_set():
                    return
                await writer.insert_at(rng.random(), f"<{n}>")
                typed += 1
                await asyncio.sleep(0.02)

        task = asyncio.ensure_future(write())
        try:
            await eventually(lambda: typed >= 20 and bool(last_saved(watcher)), 15, "saved")
            assert readiness(server)[0] == 200
            # Every write to a file now fails with EFBIG (SIGXFSZ is ignored, as
            # CPython does by default: the process lives on).
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (1, limit[1]))
            await eventually(lambda: readiness(server)[0] == 503, 30, "/readyz 503")
            body = readiness(server)[1]
            assert body["status"] == "unavailable", body
            writes = body["checks"]["writes"]  # type: ignore[index]
            assert not writes["ok"] and "commits failed" in writes["detail"], body
            assert await watcher.closed(10) == 1013  # try again later: clients retry
            acknowledged = last_saved(watcher)
            # What was acknowledged is in the file (read by this process: no limit here).
            assert dominates(state_vector(await stored_doc(db, ROOM)), acknowledged)
            text = log.read_text(errors="replace")
            # SQLite reports the EFBIG of its WAL write as "disk I/O error"
            assert "failed (store error: commit failed: " in text, text[-3000:]
            assert "disk I/O error" in text and "code=1013" in text, text[-3000:]
            assert server.proc.poll() is None
            resource.prlimit(pid, resource.RLIMIT_FSIZE, limit)  # space is back
            await eventually(lambda: readiness(server)[0] == 200, 30, "/readyz 200 again")
            at_recovery = typed
            await eventually(lambda: typed >= at_recovery + 10, 15, "typing goes on")
        finally:
            stop.set()
            await task
        expected = await writer.text()

        async def converged() -> bool:
            return text_of(await live_doc(server.http, ROOM)) == expected

        await eventually(converged, 20, "the server has every edit, the outage's too")
        assert await writer.text() == expected
    server.stop()
    assert text_of(await stored_doc(db, ROOM)) == expected
