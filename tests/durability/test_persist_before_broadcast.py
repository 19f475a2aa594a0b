"""Persist-before-broadcast, seen from outside: a peer kills the server (SIGKILL) the very
moment an update reaches it. Whatever it received must be in the SQLite file. A server
that broadcast before its group commit finished would lose the update in most rounds
(the kill lands well inside the commit's fsync window): checked by hand against two
broken variants (broadcast before the commit; sync step 2 answered before in-flight
updates commit) — each test failed in its first round."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

from httpx_ws import aconnect_ws
from pycrdt import Doc, Text

from sync import protocol
from tests.helpers.server import ServerProcess
from tests.interop.peers import dominates, state_vector, stored_doc, text_of

ROUNDS = 4


async def receive_until_update(ws: Any, doc: Doc[Any], pid: int) -> None:
    """Apply frames to `doc`; on the first incremental update, kill -9 `pid` before
    anything else (then apply it: the doc is what this peer received)."""
    while True:
        message = protocol.decode_frame(bytes(await ws.receive_bytes()))
        if isinstance(message, protocol.SyncUpdate):
            os.kill(pid, signal.SIGKILL)
            doc.apply_update(message.update)
            return
        if isinstance(message, protocol.SyncStep2):
            doc.apply_update(message.update)


async def one_round(server: ServerProcess, room: str, writer: Doc[Any], n: int) -> Doc[Any]:
    """A receiver syncs, the writer sends one edit, the receiver kills the server on
    receipt. Returns the receiver's document."""
    assert server.proc is not None
    received: Doc[Any] = Doc()
    received.get("content", type=Text)
    url = f"{server.ws}/{room}"
    async with (
        aconnect_ws(url, keepalive_ping_interval_seconds=None) as rx,
        aconnect_ws(url, keepalive_ping_interval_seconds=None) as tx,
    ):
        # the receiver asks for the whole document and waits for it
        await rx.send_bytes(protocol.encode_sync_step1(received.get_state()))
        while not isinstance(
            message := protocol.decode_frame(bytes(await rx.receive_bytes())), protocol.SyncStep2
        ):
            pass
        received.apply_update(message.update)
        assert text_of(received) == text_of(writer), "the receiver did not get the stored doc"
        reader = asyncio.ensure_future(receive_until_update(rx, received, server.proc.pid))
        before = writer.get_state()
        writer.get("content", type=Text).insert(0, f"[round {n}]")
        await tx.send_bytes(protocol.encode_update(writer.get_update(before)))
        await asyncio.wait_for(reader, 10)
    server.stop()  # reap the killed process
    return received


async def test_what_a_peer_received_survives_an_immediate_kill(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "samepage.db", log_path=tmp_path / "server.log")
    room = "durability-pbb"
    writer: Doc[Any] = Doc()
    writer.get("content", type=Text)
    for n in range(ROUNDS):
        server.start()
        received = await one_round(server, room, writer, n)
        assert f"[round {n}]" in text_of(received)
        stored = await stored_doc(server.db, room)
        assert dominates(state_vector(stored), state_vector(received)), (
            f"round {n}: a peer received an update the kill then lost: "
            f"stored {state_vector(stored)} < received {state_vector(received)}"
        )
        assert text_of(stored) == text_of(received)


async def kill_on_step2(ws: Any, doc: Doc[Any], pid: int) -> None:
    """Wait for the answer to our sync step 1; kill -9 `pid` the moment it arrives."""
    while True:
        message = protocol.decode_frame(bytes(await ws.receive_bytes()))
        if isinstance(message, protocol.SyncStep2):
            os.kill(pid, signal.SIGKILL)
            doc.apply_update(message.update)
            return


async def test_a_sync_answer_never_holds_uncommitted_updates(tmp_path: Path) -> None:
    """A client joining while an update is being committed gets it in its sync step 2
    only once it is stored: killing the server on receipt of step 2 loses nothing."""
    server = ServerProcess(tmp_path / "samepage.db", log_path=tmp_path / "server.log")
    room = "durability-pbb-sync"
    writer: Doc[Any] = Doc()
    writer.get("content", type=Text)
    for n in range(ROUNDS):
        server.start()
        assert server.proc is not None
        joiner: Doc[Any] = Doc()
        joiner.get("content", type=Text)
        url = f"{server.ws}/{room}"
        async with (
            aconnect_ws(url, keepalive_ping_interval_seconds=None) as tx,
            aconnect_ws(url, keepalive_ping_interval_seconds=None) as rx,
        ):
            # both sockets are joined (each got the server's step 1) before we send
            for ws in (tx, rx):
                while not isinstance(
                    protocol.decode_frame(bytes(await ws.receive_bytes())), protocol.SyncStep1
                ):
                    pass
            reader = asyncio.ensure_future(kill_on_step2(rx, joiner, server.proc.pid))
            before = writer.get_state()
            writer.get("content", type=Text).insert(0, f"[round {n}]")
            # the update, then at once the joiner's "send me everything"
            await tx.send_bytes(protocol.encode_update(writer.get_update(before)))
            await rx.send_bytes(protocol.encode_sync_step1(joiner.get_state()))
            await asyncio.wait_for(reader, 10)
        server.stop()
        stored = await stored_doc(server.db, room)
        assert dominates(state_vector(stored), state_vector(joiner)), (
            f"round {n}: a joiner's sync step 2 held an update the kill then lost: "
            f"stored {state_vector(stored)} < received {state_vector(joiner)}"
        )
