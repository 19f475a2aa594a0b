"""Issue #13 item 6: a struct still waiting for a dependency is never dropped. A client's
updates reach a real server out of order over a real WebSocket (as when a second tab
relays an edit before the first tab's arrives); a checkpoint (every update), a restart
and a compaction by another process happen before the missing update arrives; then the
server's document, a fresh client's and the stored one all equal the writer's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from sync import protocol
from tests.helpers.clients import eventually, raw_client, yclient
from tests.helpers.server import ServerProcess, run_cli
from tests.interop.peers import live_doc, stored_doc, text_of
from tests.storage.test_compaction_races import out_of_order_updates

ROOM = "pending-structs"


def room_seq(server: ServerProcess) -> int:
    response = httpx.get(f"{server.http}/api/rooms/{ROOM}", timeout=5)
    return int(response.json()["seq"]) if response.status_code == 200 else 0


async def send(server: ServerProcess, updates: list[bytes], seq_after: int) -> None:
    """Send `updates` as one client, wait until the room's seq reaches `seq_after`
    (each one stored), then leave: only the server holds them from then on."""
    async with raw_client(server.ws, ROOM) as client:
        for update in updates:
            await client.send(protocol.encode_update(update))
        await eventually(lambda: room_seq(server) >= seq_after, 10, f"seq {seq_after}")


async def test_an_update_waiting_for_its_dependency_survives_restart_and_compaction(
    tmp_path: Path,
) -> None:
    updates, final = out_of_order_updates()
    db = tmp_path / "pending.db"
    server = ServerProcess(
        db, extra_args=["--checkpoint-every", "1"], log_path=tmp_path / "server.log"
    )
    server.start()
    try:
        # update 1 is late: 2 follows one of its structs, 3 deletes part of its text
        await send(server, [updates[0], updates[2], updates[3]], 3)
        server.restart()  # graceful: the checkpoint builds in flight finish
        compacted = await asyncio.to_thread(
            run_cli, "compact", "--db", str(db), "--keep-every", "1"
        )
        assert compacted.returncode == 0, compacted.stderr
        assert "update rows folded" in compacted.stderr
        await send(server, [updates[1]], 4)  # the missing dependency
        assert text_of(await live_doc(server.http, ROOM)) == final
        async with yclient(server.ws, ROOM) as fresh:
            assert text_of(fresh) == final
        server.restart()
        assert text_of(await live_doc(server.http, ROOM)) == final
    finally:
        server.stop()
    assert text_of(await stored_doc(db, ROOM)) == final
