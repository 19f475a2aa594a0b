"""SQLite engines opening one fresh file at the same moment (two nodes starting together):
every connection ends in WAL mode with the busy timeout, none fails with "locked"."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text

from storage.sql.engine import database_url, make_engine

ENGINES = 6
ROUNDS = 5


async def _open_and_check(url: str) -> tuple[str, int]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
            timeout = (await conn.execute(text("PRAGMA busy_timeout"))).scalar_one()
            await conn.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
            await conn.commit()
        return str(mode), int(timeout)
    finally:
        await engine.dispose()


async def test_engines_racing_on_a_fresh_file_all_get_wal(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        url = database_url(str(tmp_path / f"fresh-{round_}.db"))
        results = await asyncio.gather(*(_open_and_check(url) for _ in range(ENGINES)))
        assert results == [("wal", 10_000)] * ENGINES, (round_, results)
