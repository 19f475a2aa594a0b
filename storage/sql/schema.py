"""Table definitions shared by SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
)

metadata = MetaData()

rooms = Table(
    "rooms",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("updated_us", BigInteger, nullable=False),
)

updates = Table(
    "updates",
    metadata,
    Column("room", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("author", String(200), nullable=False),
    Column("data", LargeBinary, nullable=False),
    PrimaryKeyConstraint("room", "seq"),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("room", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("state", LargeBinary, nullable=False),
    PrimaryKeyConstraint("room", "seq"),
)

versions = Table(
    "versions",
    metadata,
    Column("room", String(128), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("label", String(200), nullable=False),
    Column("author", String(200), nullable=False),
    Column("time_us", BigInteger, nullable=False),
    PrimaryKeyConstraint("room", "seq", "label"),
)

# The latest saved text timeline of a room (storage/texthistory/cache.py): every character's
# insert and delete seq up to `seq`, so a restarted server reads those versions at once.
text_timelines = Table(
    "text_timelines",
    metadata,
    Column("room", String(128), primary_key=True),
    Column("base", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("time_us", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
)
