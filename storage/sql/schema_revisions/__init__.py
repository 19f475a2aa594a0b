"""Alembic's script directory for samepage's schema (`env.py`, `versions/`).

Add a schema change as a new file in `versions/` (copy the last one: its `revision`,
`down_revision` chain, and explicit `op.*` calls on frozen column lists, never on
today's `storage/sql/schema.py`), then update `schema.py` to match, and add the
revision to `REVISIONS` in `storage/sql/migrations.py` (read at every start instead of
Alembic's script scan): `tests/storage/test_migrations.py` checks that a migrated
database equals `schema.py` and that `REVISIONS` is Alembic's chain.
"""


def no_downgrade() -> None:
    """Revisions only add; going back means restoring a backup taken before."""
    raise NotImplementedError("samepage migrations only add: restore a backup to go back")
