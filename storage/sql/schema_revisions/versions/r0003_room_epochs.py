"""Room epochs (docs/rooms.md): `rooms.epoch`, `base`, `deleted_us`, and `room_epochs`
(a fork's origin; how each ended epoch ended and where its history is kept).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.sql.schema_revisions import no_downgrade as downgrade

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
__all__ = ["downgrade", "upgrade"]


def upgrade() -> None:
    """Add the epoch columns to `rooms` and create `room_epochs`."""
    with op.batch_alter_table("rooms") as rooms:
        rooms.add_column(sa.Column("epoch", sa.Integer, nullable=False, server_default="0"))
        rooms.add_column(sa.Column("base", sa.BigInteger, nullable=False, server_default="0"))
        rooms.add_column(sa.Column("deleted_us", sa.BigInteger, nullable=True))
    op.create_table(
        "room_epochs",
        sa.Column("room", sa.String(128), nullable=False),
        sa.Column("epoch", sa.Integer, nullable=False),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("origin_room", sa.String(128), nullable=True),
        sa.Column("origin_epoch", sa.Integer, nullable=True),
        sa.Column("origin_seq", sa.BigInteger, nullable=True),
        sa.Column("ended_us", sa.BigInteger, nullable=True),
        sa.Column("ended_by", sa.String(16), nullable=True),
        sa.Column("last_seq", sa.BigInteger, nullable=True),
        sa.Column("archive", sa.String(64), nullable=True),
        sa.Column("clients", sa.LargeBinary, nullable=True),
        sa.PrimaryKeyConstraint("room", "epoch"),
    )
