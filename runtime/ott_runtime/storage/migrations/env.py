"""Alembic environment: always handed a live connection by ``ott_runtime.storage.database``."""

from __future__ import annotations

from alembic import context

from ott_runtime.storage.tables import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through ott_runtime.storage.database.migrate()")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
