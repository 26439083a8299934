"""Alembic environment: runs migrations on the connection Keel hands over."""

from __future__ import annotations

from alembic import context

from keel.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Keel migrations run through keel.store.Database.migrate()")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
