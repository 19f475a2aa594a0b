"""Graceful shutdown under load: SIGTERM while 50 rooms hold edits not yet committed —
every client is closed with 1012, event streams end, the process exits in time, and the
database holds every edit the server acknowledged."""

from __future__ import annotations

import contextlib
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from pycrdt import Doc, Text

from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from sync import protocol
from sync.errors import CloseCode
from tests.helpers.clients import RawClient, eventually, raw_client
from tests.helpers.server import ServerProcess
from tests.web.test_events import follow
from web.app import create_app
from web.health import _check_redis
from web.settings import Settings

ROOMS = 50
EDITS_PER_ROOM = 20
SHUTDOWN_TIMEOUT_S = 5.0


def acknowledged_clock(client: RawClient, client_id: int) -> int:
    """The clock of `client_id` in the last stored state vector the server sent."""
    saved = client.of_type(protocol.Saved)
    if not saved:
        return 0
    return protocol.decode_state_vector(saved[-1].state_vector).get(client_id, 0)


async def test_sigterm_with_50_busy_rooms_keeps_every_acknowledged_edit(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    args = ["--shutdown-timeout", str(SHUTDOWN_TIMEOUT_S)]
    proc = ServerProcess(db, extra_args=args, log_path=tmp_path / "server.log")
    proc.start()
    docs: list[tuple[str, int, Doc[Any], RawClient]] = []
    async with contextlib.AsyncExitStack() as stack:
        for index in range(ROOMS):
            room, client_id = f"busy-{index}", 1000 + index
            client = await stack.enter_async_context(raw_client(proc.ws, room))
            await client.send(protocol.encode_subscribe(protocol.SubscribeFlag.SAVED))
            docs.append((room, client_id, Doc(client_id=client_id), client))
        follower = await stack.enter_async_context(follow(proc.http, "busy-0"))
        await eventually(
            lambda: all(c.of_type(protocol.Saved) for *_, c in docs), what="subscriptions"
        )

        assert proc.proc is not None
        started = 0.0
        for edit in range(EDITS_PER_ROOM):
            if edit == EDITS_PER_ROOM // 2:
                # Halfway through: edits are in flight, and more keep arriving while the
                # server flushes and closes.
                proc.proc.send_signal(signal.SIGTERM)
                started = time.monotonic()
            for _room, _cid, doc, client in docs:
                before = doc.get_state()
                doc.get("content", type=Text).insert(0, f"edit {edit}; ")
                with contextlib.suppress(Exception):  # the server may have closed us
                    await client.send(protocol.encode_update(doc.get_update(before)))

        for room, _cid, _doc, client in docs:
            assert await client.closed(timeout=10) == CloseCode.SERVICE_RESTART, room
        exit_code = proc.stop(timeout=SHUTDOWN_TIMEOUT_S + 10)
        elapsed = time.monotonic() - started
        await eventually(lambda: follower.ended, what="event stream ended")
        assert follower.events[-1].name == "close"
        assert follower.events[-1].data == {"reason": "shutting_down"}

    assert exit_code == 0, proc.log_tail()
    assert elapsed < SHUTDOWN_TIMEOUT_S, elapsed

    store = SqlStore(database_url(str(db)))
    await store.start()
    try:
        acked_total = 0
        for room, client_id, doc, client in docs:
            loaded = await store.load(room)
            stored: Doc[Any] = Doc()
            if loaded.checkpoint:
                stored.apply_update(loaded.checkpoint)
            for update in loaded.tail:
                stored.apply_update(update)
            stored_clock = protocol.decode_state_vector(stored.get_state()).get(client_id, 0)
            acked = acknowledged_clock(client, client_id)
            acked_total += acked
            assert stored_clock >= acked, (room, stored_clock, acked)
            # What is stored is a prefix of what the client wrote (edits in order).
            written = str(doc.get("content", type=Text))
            assert written.endswith(str(stored.get("content", type=Text))), room
        assert acked_total > 0
    finally:
        await store.aclose()


async def test_readyz_is_503_while_shutting_down() -> None:
    app = create_app(Settings(db="memory://"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://samepage") as http:
            assert (await http.get("/readyz")).status_code == 200
            app.state.samepage.begin_shutdown()
            response = await http.get("/readyz")
            assert response.status_code == 503
            assert response.json() == {"status": "shutting_down"}


async def test_redis_check_reports_an_unreachable_redis() -> None:
    check = await _check_redis("redis://127.0.0.1:1/0")
    assert check["ok"] is False and check["detail"]
