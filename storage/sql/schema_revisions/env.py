"""Alembic environment: runs on the connection `storage.sql.migrations` passes in
`config.attributes["connection"]`, inside that caller's transaction (no engine, no
logging setup, no offline mode)."""

from __future__ import annotations

from alembic import context

from storage.sql.schema import metadata

if context.is_offline_mode():
    raise RuntimeError("samepage migrations run online only: use `samepage migrate`")

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move tables
)
with context.begin_transaction():
    context.run_migrations()
