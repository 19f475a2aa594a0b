"""The truth about a room's versions from outside samepage: a trigger (test
instrumentation, installed before the server starts) copies every stored update into an
`audit` table that compaction knows nothing about; version k's truth is the audited
updates 1..k replayed in pycrdt. For SQLite files and PostgreSQL databases."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pycrdt import Doc

from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from tests.helpers.server import ServerProcess
from tests.interop.peers import text_of

SQLITE_AUDIT = """
CREATE TABLE audit (room TEXT, seq INTEGER, data BLOB NOT NULL, PRIMARY KEY (room, seq));
CREATE TRIGGER audit_updates AFTER INSERT ON updates
BEGIN INSERT INTO audit (room, seq, data) VALUES (NEW.room, NEW.seq, NEW.data); END;
"""
PG_AUDIT = """
CREATE TABLE audit (room TEXT, seq BIGINT, data BYTEA NOT NULL, PRIMARY KEY (room, seq));
CREATE FUNCTION audit_copy() RETURNS trigger AS $$
BEGIN INSERT INTO audit VALUES (NEW.room, NEW.seq, NEW.data); RETURN NEW; END
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_updates AFTER INSERT ON updates
FOR EACH ROW EXECUTE FUNCTION audit_copy();
"""
VERSIONS_CHECKED = 200  # per check at most (plus every checkpoint)


class Audit:
    """One database (`db`: a SQLite path or a PostgreSQL URL) with the audit trigger."""

    def __init__(self, db: str) -> None:
        self.db = db
        self.postgres = db.startswith("postgresql")

    async def install(self) -> None:
        """Create the schema (as a server would), then the audit table and trigger."""
        store = SqlStore(database_url(self.db))
        await store.start()
        await store.aclose()
        if self.postgres:
            conn = await asyncpg.connect(self._dsn())
            try:
                await conn.execute(PG_AUDIT)
            finally:
                await conn.close()
        else:
            with sqlite3.connect(self.db) as conn:
                conn.executescript(SQLITE_AUDIT)

    def _dsn(self) -> str:
        return self.db.replace("postgresql+asyncpg://", "postgresql://")

    async def query(self, sql: str) -> list[Any]:
        """Rows of one query (room names in tests are plain: inlined)."""
        if not self.postgres:
            return await asyncio.to_thread(_sqlite_rows, Path(self.db), sql)
        conn = await asyncpg.connect(self._dsn())
        try:
            return [tuple(row) for row in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def seqs(self, table: str, room: str) -> list[int]:
        """The seqs of `table` (updates, checkpoints) for `room`, ascending."""
        rows = await self.query(f"SELECT seq FROM {table} WHERE room = '{room}' ORDER BY seq")
        return [int(r[0]) for r in rows]

    async def truths(self, room: str) -> list[str]:
        """The text after each update 1..n, replayed from the audit (index = seq)."""
        doc: Doc[Any] = Doc()
        texts = [""]
        sql = f"SELECT seq, data FROM audit WHERE room = '{room}' ORDER BY seq"
        for seq, data in await self.query(sql):
            assert seq == len(texts), f"audit has a gap at {len(texts)}"
            doc.apply_update(bytes(data))
            texts.append(text_of(doc))
        return texts

    async def check_versions(self, server: ServerProcess, room: str, rng: random.Random) -> int:
        """Read a sample of versions (every checkpoint among them) from the server and
        compare each with the truth; returns how many of them were folded."""
        texts = await self.truths(room)
        rows = set(await self.seqs("updates", room))
        checkpoints = await self.seqs("checkpoints", room)
        seqs = list(range(1, len(texts)))
        sample = set(rng.sample(seqs, min(len(seqs), VERSIONS_CHECKED))) | set(checkpoints)
        folded = 0
        async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
            for seq in sorted(sample):
                want = resolved(seq, rows, checkpoints)
                folded += want != seq
                fmt = rng.choice(["text", "text", "yjs"])
                response = await http.get(
                    f"/api/rooms/{room}/content", params={"at": seq, "format": fmt}
                )
                assert response.status_code == 200, (seq, response.text)
                got = response.text if fmt == "text" else text_of(_doc(response.content))
                assert got == texts[want], f"version {seq} ({fmt}) should read as {want}"
        return folded


def _sqlite_rows(db: Path, sql: str) -> list[Any]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def resolved(seq: int, rows: set[int], checkpoints: list[int]) -> int:
    """The version `content?at=seq` must answer: seq itself while the rows from the
    checkpoint before it are all stored, else (folded) that checkpoint."""
    base = max((c for c in checkpoints if c <= seq), default=0)
    return seq if all(s in rows for s in range(base + 1, seq + 1)) else base


def _doc(update: bytes) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    doc.apply_update(update)
    return doc
