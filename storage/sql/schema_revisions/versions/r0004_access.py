"""Access changes (storage/access.py): `revocations` (tokens refused before they expire,
kept until they would have expired anyway) and `grants` (per user and room: read or
write, docs/security.md).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.sql.schema_revisions import no_downgrade as downgrade

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None
__all__ = ["downgrade", "upgrade"]


def upgrade() -> None:
    """Add `revocations` and `grants`."""
    op.create_table(
        "revocations",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("revoked_us", sa.BigInteger, nullable=False),
        sa.Column("until_us", sa.BigInteger, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("kind", "value"),
    )
    op.create_table(
        "grants",
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("room", sa.String(128), nullable=False),
        sa.Column("perm", sa.String(8), nullable=False),
        sa.Column("changed_us", sa.BigInteger, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "room"),
    )
