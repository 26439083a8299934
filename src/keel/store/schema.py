"""Table definitions. Alembic migrations in ``migrations/versions`` create exactly these.

Invariants:
    * ``resources`` has one row per (kind, name); ``generation`` starts at 1 and grows by one
      each time the spec changes.
    * ``estate_meta`` has exactly one row (``id = 1``); every write transaction locks it first,
      which serialises writers on both SQLite and PostgreSQL, and bumps ``revision``.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("labels", JSONType, nullable=False),
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("resolved", JSONType, nullable=True),
    sa.Column("spec_digest", sa.String(71), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

estate_meta = sa.Table(
    "estate_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(71), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
