"""Table definitions shared by SQLite and PostgreSQL (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
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
    # The document's life (docs/rooms.md): `samepage reset` starts epoch+1 after seq
    # `base` (the rows of this epoch are > base); a deleted room keeps this row, with
    # `deleted_us`, so that its seqs and epoch go on and an old copy cannot come back.
    Column("epoch", Integer, nullable=False, server_default="0"),
    Column("base", BigInteger, nullable=False, server_default="0"),
    Column("deleted_us", BigInteger, nullable=True),
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

# One row per life of a room that has something to say: where a fork came from, and
# for an ended epoch when and how it ended, where its history is kept (`archive`, a
# storage key no room name can take) and its last state vector (`clients`: the client
# ids of its document, refused in the next epochs).
room_epochs = Table(
    "room_epochs",
    metadata,
    Column("room", String(128), nullable=False),
    Column("epoch", Integer, nullable=False),
    Column("started_us", BigInteger, nullable=False),
    Column("origin_room", String(128), nullable=True),
    Column("origin_epoch", Integer, nullable=True),
    Column("origin_seq", BigInteger, nullable=True),
    Column("ended_us", BigInteger, nullable=True),
    Column("ended_by", String(16), nullable=True),
    Column("last_seq", BigInteger, nullable=True),
    Column("archive", String(64), nullable=True),
    Column("clients", LargeBinary, nullable=True),
    PrimaryKeyConstraint("room", "epoch"),
)

# Access changes (storage/access.py): tokens refused before they expire, kept until they
# would have expired anyway; per-user, per-room limits on what a token allows.
revocations = Table(
    "revocations",
    metadata,
    Column("kind", String(8), nullable=False),  # jti | user | room
    Column("value", String(200), nullable=False),
    Column("revoked_us", BigInteger, nullable=False),
    Column("until_us", BigInteger, nullable=False),
    Column("by", String(200), nullable=False),
    PrimaryKeyConstraint("kind", "value"),
)

grants = Table(
    "grants",
    metadata,
    Column("user_id", String(200), nullable=False),
    Column("room", String(128), nullable=False),
    Column("perm", String(8), nullable=False),  # read | write
    Column("changed_us", BigInteger, nullable=False),
    Column("by", String(200), nullable=False),
    PrimaryKeyConstraint("user_id", "room"),
)
