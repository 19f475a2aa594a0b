"""One database, one owner: a second `samepage serve` on a database another one holds is
refused with one line naming the holder (pid, URL) — on a SQLite file, and on
PostgreSQL without `--redis` — while servers sharing one bus may share it (`--workers`,
nodes with `--redis`; tests/cluster/test_workers.py and test_nodes.py)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import asyncpg

from storage.sql.owner import OWNER_LOCK_CLASS
from tests.helpers.clients import eventually
from tests.helpers.server import ServerProcess, free_port, run_cli
from tests.helpers.services import REDIS_HOST, REDIS_PORT, fresh_pg_database, require

OTHER_BUS = "redis://127.0.0.1:1"  # never connected to: the refusal comes first


async def refused(db: str, *extra: str) -> str:
    """Start `serve` on `db`; it must exit 2 with one line on stderr, returned."""
    done = await asyncio.to_thread(
        run_cli, "serve", "--port", str(free_port()), "--db", db, *extra, timeout=30
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert len(lines) == 1, done.stderr
    return lines[0]


def names(line: str, server: ServerProcess) -> bool:
    assert server.proc is not None
    return f"pid {server.proc.pid}, http://127.0.0.1:{server.port}" in line


async def test_a_second_server_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "owned.db")
    first = ServerProcess(db, log_path=tmp_path / "first.log")
    first.start()
    try:
        line = await refused(db)
        assert line.startswith("error: database ") and "in use by samepage serve" in line
        assert names(line, first), line
        assert names(await refused(db, "--redis", OTHER_BUS), first)  # it holds it alone
        first.stop(signal.SIGKILL)  # the kernel releases the lock of a killed holder
        second = ServerProcess(db, log_path=tmp_path / "second.log")
        second.start()
        try:
            assert names(await refused(db), second)
        finally:
            second.stop()
    finally:
        first.stop()


async def test_postgresql_nodes_without_redis_are_refused_and_with_one_bus_share(
    tmp_path: Path,
) -> None:
    require("Redis", REDIS_HOST, REDIS_PORT)
    bus = f"redis://{REDIS_HOST}:{REDIS_PORT}"
    async with fresh_pg_database() as url:
        alone = ServerProcess(url, log_path=tmp_path / "alone.log")
        alone.start()
        try:
            line = await refused(url)
            assert "in use by samepage serve" in line and names(line, alone), line
            await its_lock_connection_dies(url, alone)
            assert names(await refused(url, "--redis", bus), alone)  # it holds it alone
        finally:
            alone.stop()
        nodes = [
            ServerProcess(url, extra_args=["--redis", bus], log_path=tmp_path / f"n{i}.log")
            for i in range(2)
        ]
        try:
            for node in nodes:
                node.start()  # the second joins the first: same database, same bus
            line = await refused(url)
            assert any(names(line, node) for node in nodes), line
            assert "another --redis bus" in await refused(url, "--redis", OTHER_BUS)
        finally:
            for node in nodes:
                node.stop()


async def its_lock_connection_dies(url: str, node: ServerProcess) -> None:
    """The connection holding `node`'s lock is terminated: the node takes it again."""
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    holders = (
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
        f"AND classid = {OWNER_LOCK_CLASS} AND objid = 0 AND objsubid = 2 AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    try:
        first = [r[0] for r in await conn.fetch(holders)]
        assert len(first) == 1
        await conn.execute(f"SELECT pg_terminate_backend({first[0]})")  # the lock goes

        async def held_again() -> bool:
            now = [r[0] for r in await conn.fetch(holders)]
            return len(now) == 1 and now != first

        await eventually(held_again, 15, "the node takes its database again")
        assert "taking it again" in node.log_tail(100)
    finally:
        await conn.close()
