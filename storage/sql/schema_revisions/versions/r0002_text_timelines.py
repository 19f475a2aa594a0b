"""Saved text timelines: one compressed snapshot per room (storage/texthistory/cache.py).

Revision ID: 0002
Revises: 0001
Databases made by the hand-rolled migrations at version 3 are stamped with this.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.sql.schema_revisions import no_downgrade as downgrade

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
__all__ = ["downgrade", "upgrade"]


def upgrade() -> None:
    """Add `text_timelines`."""
    op.create_table(
        "text_timelines",
        sa.Column("room", sa.String(128), primary_key=True),
        sa.Column("base", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
