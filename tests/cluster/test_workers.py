"""`samepage serve --workers 2`: two processes on one port (SO_REUSEPORT) sharing a
SQLite file (WAL) and their rooms through Redis; SIGTERM stops the whole group."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc
from redis.asyncio import Redis

from tests.cluster.conftest import content, edit, room_name, seeded_rng, tokens
from tests.cluster.test_owner import OTHER_BUS, refused
from tests.helpers.clients import eventually, yclient
from tests.helpers.server import ROOT, ServerProcess


def child_pids(log: Path) -> list[int]:
    match = re.search(r"\(pids ([\d ]+)\)", log.read_text(errors="replace"))
    return [int(p) for p in match.group(1).split()] if match else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_two_workers_share_a_port_and_rooms(tmp_path: Path, shared_redis: str) -> None:
    node = f"wk{uuid.uuid4().hex[:6]}"
    log = tmp_path / "server.log"
    db = tmp_path / "workers.db"
    server = ServerProcess(
        db, extra_args=["--workers", "2", "--redis", shared_redis, "--node-id", node], log_path=log
    )
    redis = Redis.from_url(shared_redis)
    room, rng = room_name("workers"), seeded_rng()
    server.start()
    pids = child_pids(log)
    try:
        assert len(pids) == 2

        async def both_alive() -> bool:
            keys = [k async for k in redis.scan_iter(match=f"samepage:node:{node}-w*")]
            return len(keys) == 2

        await eventually(both_alive, 15, "two workers heart-beating")
        # the workers share the file through their bus; a server without it may not
        line = await refused(str(db))
        assert "in use by samepage serve (pid " in line and f":{server.port})" in line, line
        assert any(f"pid {pid}," in line for pid in pids), line
        assert "another --redis bus" in await refused(str(db), "--redis", OTHER_BUS)
        async with contextlib.AsyncExitStack() as stack:
            docs: list[Doc[Any]] = []

            async def holders() -> int:
                counts = await redis.pubsub_numsub(f"samepage:room:{room}")
                return int(counts[0][1])

            # The kernel spreads connections over the workers: open clients until both
            # hold the room (two in a row on one worker has odds 1/2, twenty 1/2**19).
            while len(docs) < 20 and (len(docs) < 4 or await holders() < 2):
                docs.append(await stack.enter_async_context(yclient(server.ws, room)))
            assert await holders() == 2, "both workers serve the room"
            want: set[str] = set()

            async def writer(index: int) -> None:
                for n in range(10):
                    want.add(await edit(docs[index], index, n, rng))
                    await asyncio.sleep(rng.random() * 0.01)

            await asyncio.gather(*(writer(i) for i in range(len(docs))))
            await eventually(
                lambda: (
                    all(content(d) == content(docs[0]) for d in docs)
                    and tokens(content(docs[0])) == want
                ),
                10,
                "convergence across workers",
            )
        with sqlite3.connect(db) as conn:
            rows = [r[0] for r in conn.execute("SELECT data FROM updates WHERE room = ?", (room,))]
        assert len(rows) == len(want) and len(set(rows)) == len(rows)
        assert server.stop(signal.SIGTERM) == 0
        await eventually(lambda: not any(alive(p) for p in pids), 10, "workers stopped")
    finally:
        server.stop()
        for pid in pids:  # never leave a worker behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await redis.aclose()


def test_workers_refuse_to_run_without_redis(tmp_path: Path) -> None:
    from web.cli import main

    assert main(["serve", "--db", str(tmp_path / "x.db"), "--workers", "2"]) == 2


@pytest.mark.parametrize("db", ["memory://"])
def test_workers_refuse_an_unshared_database(db: str) -> None:
    from web.cli import main

    assert main(["serve", "--db", db, "--workers", "2", "--redis", "redis://127.0.0.1:1"]) == 2


def test_a_cluster_node_refuses_a_memory_database() -> None:
    from web.cli import main

    assert main(["serve", "--db", "memory://", "--redis", "redis://127.0.0.1:1"]) == 2


def test_workers_that_cannot_start_make_the_supervisor_exit(tmp_path: Path) -> None:
    with socket.socket() as taken:  # held without SO_REUSEPORT: the workers cannot bind
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "web.cli", "serve", "--port", str(port)]
        cmd += ["--db", str(tmp_path / "x.db"), "--workers", "2", "--redis", "redis://127.0.0.1:1"]
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=60)
    assert done.returncode != 0
    assert b"keeps failing" in done.stderr
    assert b"warning: the workers share one SQLite file" in done.stderr


def test_workers_on_sqlite_are_warned_about_and_on_postgresql_not() -> None:
    from web.settings import Settings
    from web.workers import workers_advice

    sqlite = Settings(db="./x.db", workers=2, redis="redis://127.0.0.1:6379")
    postgres = Settings(db="postgresql+asyncpg://h/db", workers=2, redis="redis://127.0.0.1:6379")
    assert "SQLite" in (workers_advice(sqlite) or "")
    assert workers_advice(postgres) is None
