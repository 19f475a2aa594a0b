"""Schema migrations (Alembic, storage/sql/migrations.py) on SQLite and PostgreSQL.

A database as the first samepage wrote it (the first schema, frozen below, with its
hand-rolled `schema_version` 1) and filled with rows is migrated by `samepage migrate`,
a separate process as an operator runs it: every row is still there, byte for byte,
the rooms load, and the migrated schema equals `storage/sql/schema.py`. A database a
newer samepage migrated is refused with one line, untouched; `serve --no-migrate`
refuses one that needs migrating.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pycrdt import Doc, Text
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    inspect,
    text,
)
from sqlalchemy.engine import Connection

from storage.sql import schema
from storage.sql.engine import database_url, make_engine
from storage.sql.migrations import REVISIONS, SCRIPTS, head, migrate
from tests.helpers.server import free_port, run_cli
from tests.interop.peers import stored_doc, text_of
from web.cli import main

FIRST = MetaData()  # samepage's first schema (commit ba7a25f), frozen
Table(
    "schema_version",
    FIRST,
    Column("version", Integer, primary_key=True),
    Column("applied_us", BigInteger, nullable=False),
)
Table(
    "rooms",
    FIRST,
    Column("name", String(128), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)
for _name, _payload in [("updates", "data"), ("checkpoints", "state")]:
    Table(
        _name,
        FIRST,
        Column("room", String(128), nullable=False),
        Column("seq", BigInteger, nullable=False),
        Column("time_us", BigInteger, nullable=False),
        *([Column("author", String(200), nullable=False)] if _name == "updates" else []),
        Column(_payload, LargeBinary, nullable=False),
        PrimaryKeyConstraint("room", "seq"),
    )
Table(
    "versions",
    FIRST,
    Column("room", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("label", String(200), nullable=False),
    Column("author", String(200), nullable=False),
    Column("time_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("room", "seq", "label"),
)
TABLES = ["rooms", "updates", "checkpoints", "versions"]
TEXTS = {  # what each room's `content` says after its updates
    "notes": "Grüße, e\u0301t\u00e9 👍🏽 👩‍👩‍👧 数据 שלום",
    "plan.v2": "one\ntwo\nthree — ✓",
}


def _rows_for(room: str, body: str, t0: int) -> dict[str, list[dict[str, Any]]]:
    """A room typed one code point per update, a checkpoint halfway, a named version."""
    doc: Doc[Any] = Doc()
    content = doc.get("content", type=Text)
    updates, checkpoint = [], None
    words = list(body)
    for i, word in enumerate(words):
        before = doc.get_state()
        content += word
        updates.append(
            {
                "room": room,
                "seq": i + 1,
                "time_us": t0 + i,
                "author": "ana",
                "data": doc.get_update(before),
            }
        )
        if i + 1 == len(words) // 2:
            checkpoint = {"room": room, "seq": i + 1, "time_us": t0 + i, "state": doc.get_update()}
    n = len(updates)
    return {
        "rooms": [
            {
                "name": room,
                "seq": n,
                "bytes": sum(len(u["data"]) for u in updates),
                "created_us": t0,
                "updated_us": t0 + n,
            }
        ],
        "updates": updates,
        "checkpoints": [checkpoint] if checkpoint else [],
        "versions": [
            {"room": room, "seq": n, "label": "première", "author": "ana", "time_us": t0 + n}
        ],
    }


async def _create_first_schema(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Write the first schema and its rows, as samepage 0.1 did; return the rows."""
    engine = make_engine(database_url(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(FIRST.create_all)
            await conn.execute(
                FIRST.tables["schema_version"].insert().values(version=1, applied_us=1)
            )
            for i, (room, body) in enumerate(TEXTS.items()):
                for table, rows in _rows_for(room, body, 1_700_000_000_000_000 + i).items():
                    if rows:
                        await conn.execute(FIRST.tables[table].insert(), rows)
        return await _all_rows(url)
    finally:
        await engine.dispose()


async def _all_rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = make_engine(database_url(url))
    try:
        async with engine.connect() as conn:
            found = {}
            for table in TABLES:
                result = await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))
                found[table] = [
                    tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in result
                ]
            return found
    finally:
        await engine.dispose()


def _schema_diff(sync: Connection) -> list[Any]:
    diffs = compare_metadata(MigrationContext.configure(sync), schema.metadata)
    # the hand-rolled migrations' table stays in databases that had it (never dropped)
    return [d for d in diffs if not (d[0] == "remove_table" and d[1].name == "schema_version")]


async def _diff_and_revision(url: str) -> tuple[list[Any], str | None]:
    engine = make_engine(database_url(url))
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_schema_diff)
            revision = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
            return diff, revision
    finally:
        await engine.dispose()


async def test_migrate_a_first_schema_database_keeps_every_row(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await _create_first_schema(database)
    assert sum(len(rows) for rows in before.values()) > 40
    done = await asyncio.to_thread(run_cli, "migrate", "--db", database)
    assert done.returncode == 0, done.stderr
    assert "migrated the database from v1 (hand-rolled" in done.stderr, done.stderr
    after = await _all_rows(database)
    # later revisions add columns: the first schema's columns are compared
    width = {table: len(rows[0]) for table, rows in before.items() if rows}
    after = {table: [row[: width.get(table)] for row in rows] for table, rows in after.items()}
    assert after == before, "a row changed or went missing"
    diff, revision = await _diff_and_revision(database)
    assert revision == head()
    assert diff == [], f"the migrated schema differs from storage/sql/schema.py: {diff}"
    for room, body in TEXTS.items():
        assert text_of(await stored_doc(database, room)) == body
    code, lines = await _cli_in_thread(capsys, ["migrate", "--db", database])
    assert code == 0 and "up to date" in lines[0], lines


async def test_fresh_database_gets_exactly_the_schema(database: str) -> None:
    engines = [make_engine(database_url(database)) for _ in range(2)]
    try:  # two nodes starting at once: one migrates, the other finds it done
        results = await asyncio.gather(*(migrate(engine) for engine in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    assert {after for _before, after in results} == {head()}
    diff, revision = await _diff_and_revision(database)
    assert revision == head() and diff == []


async def _cli_in_thread(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> tuple[int, list[str]]:
    """`samepage ARGV` in this process (the refusals happen before anything starts; a
    new interpreter per call costs seconds on a busy machine): exit code, stderr lines."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, argv)
    return code, capsys.readouterr().err.strip().splitlines()


async def test_newer_database_is_refused_in_one_line_and_untouched(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await _create_first_schema(database)
    assert (await _cli_in_thread(capsys, ["migrate", "--db", database]))[0] == 0
    engine = make_engine(database_url(database))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9001_future'"))
            tables = await conn.run_sync(lambda sync: sorted(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    rows = await _all_rows(database)
    serve = ["serve", "--db", database, "--port", str(free_port())]
    for argv in (["migrate", "--db", database], ["rooms", "--db", database], serve):
        code, lines = await _cli_in_thread(capsys, argv)
        assert code == 2, (argv, lines)
        assert len(lines) == 1 and "9001_future" in lines[0] and "newer" in lines[0], lines
    assert await _all_rows(database) == rows
    engine = make_engine(database_url(database))
    try:
        async with engine.connect() as conn:
            after = await conn.run_sync(lambda sync: sorted(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    assert after == tables


async def test_serve_no_migrate_refuses_an_old_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "old.db")
    before = await _create_first_schema(db)
    argv = ["serve", "--db", db, "--port", str(free_port()), "--no-migrate"]
    code, lines = await _cli_in_thread(capsys, argv)
    assert code == 2
    assert len(lines) == 1 and "samepage migrate" in lines[0], lines
    assert await _all_rows(db) == before
    diff, _revision = await _diff_and_revision_or_none(db)
    assert diff, "--no-migrate migrated anyway"


async def _diff_and_revision_or_none(url: str) -> tuple[list[Any], None]:
    engine = make_engine(database_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_schema_diff), None
    finally:
        await engine.dispose()


def test_the_revisions_this_code_knows_are_alembics() -> None:
    """`REVISIONS` (read at every start instead of Alembic's script scan) is the chain of
    `schema_revisions/versions`, oldest first — a new revision must be added to both."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    walked = [script.revision for script in ScriptDirectory.from_config(config).walk_revisions()]
    assert tuple(reversed(walked)) == REVISIONS
    assert head() == REVISIONS[-1]
