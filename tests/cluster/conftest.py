"""Fixtures for multi-node tests: real `samepage serve` processes sharing one PostgreSQL
database (a fresh one per test) and Redis."""

from __future__ import annotations

import asyncio
import random
import signal
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from pycrdt import Doc, Text

from tests.helpers.server import ServerProcess
from tests.helpers.services import REDIS_HOST, REDIS_PORT, fresh_pg_database, require

SHARED_REDIS = f"redis://{REDIS_HOST}:{REDIS_PORT}"
WIDTH = 8  # every edit inserts one fixed-width token at a token boundary


def token(client: int, n: int) -> str:
    """A unique fixed-width token: edits never split each other, so the final text
    is a concatenation of tokens and every edit can be checked for."""
    return f"[{client:02d}{n:04d}]"


def tokens(text: str) -> set[str]:
    """The tokens of a document text."""
    assert len(text) % WIDTH == 0, text
    return {text[i : i + WIDTH] for i in range(0, len(text), WIDTH)}


def content(doc: Doc[Any]) -> str:
    """The `content` text of a client doc."""
    return str(doc.get("content", type=Text))


async def edit(doc: Doc[Any], client: int, n: int, rng: random.Random) -> str:
    """Insert token (client, n) at a random token boundary; return it."""
    text = doc.get("content", type=Text)
    word = token(client, n)
    text.insert(rng.randrange(len(text) // WIDTH + 1) * WIDTH, word)
    await asyncio.sleep(0)
    return word


async def start_all(servers: list[ServerProcess]) -> None:
    """Start servers in parallel (each start blocks until /healthz answers)."""
    await asyncio.gather(*(asyncio.to_thread(s.start) for s in servers))


async def stop_all(servers: list[ServerProcess]) -> None:
    """Stop servers (all at once)."""
    await asyncio.to_thread(stop_now, servers)


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh PostgreSQL database for this test."""
    async with fresh_pg_database() as url:
        yield url


@pytest.fixture
def shared_redis() -> str:
    """The machine's Redis (only unique room names and node ids are used on it)."""
    require("Redis", REDIS_HOST, REDIS_PORT)
    return SHARED_REDIS


def stop_now(servers: list[ServerProcess]) -> None:
    """Ask every server to stop at once, then wait for each (never leaves orphans)."""
    for server in servers:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
    for server in servers:
        server.stop()


@pytest.fixture
def make_nodes(tmp_path: Path, pg_url: str) -> Iterator[Callable[[int, str], list[ServerProcess]]]:
    """`make_nodes(n, redis_url)`: n nodes (not started) on the test's database; all
    are stopped when the test ends, whatever happened."""
    tag = uuid.uuid4().hex[:6]
    made: list[ServerProcess] = []

    def make(count: int, redis_url: str) -> list[ServerProcess]:
        nodes = [
            ServerProcess(
                pg_url,
                extra_args=["--redis", redis_url, "--node-id", f"t{tag}-{i}"],
                log_path=tmp_path / f"node{i}.log",
            )
            for i in range(count)
        ]
        made.extend(nodes)
        return nodes

    yield make
    stop_now(made)


async def stored_updates(pg_url: str, room: str) -> list[bytes]:
    """Every update row of `room`, straight from PostgreSQL."""
    dsn = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT data FROM updates WHERE room = $1 ORDER BY seq", room)
    finally:
        await conn.close()
    return [bytes(r["data"]) for r in rows]


def room_name(prefix: str) -> str:
    """A room name no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def seeded_rng() -> random.Random:
    """A random generator whose seed is printed (a failure replays with it)."""
    seed = random.randrange(2**32)
    print(f"random seed {seed}")
    return random.Random(seed)
