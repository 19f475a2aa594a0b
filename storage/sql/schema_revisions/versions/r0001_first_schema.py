"""The first schema: rooms, the update log, checkpoints and named versions.

Revision ID: 0001
Revises: (none)
Databases made by the hand-rolled migrations at version 1 are stamped with this.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.sql.schema_revisions import no_downgrade as downgrade

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
__all__ = ["downgrade", "upgrade"]


def upgrade() -> None:
    """Create the four tables as samepage 0.1 first wrote them."""
    op.create_table(
        "rooms",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("updated_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "updates",
        sa.Column("room", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("room", "seq"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("room", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("room", "seq"),
    )
    op.create_table(
        "versions",
        sa.Column("room", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("room", "seq", "label"),
    )
