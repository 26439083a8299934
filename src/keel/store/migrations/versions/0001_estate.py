"""Estate resources and the estate lock row.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
EMPTY_ESTATE_DIGEST = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def upgrade() -> None:
    op.create_table(
        "resources",
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
    meta = op.create_table(
        "estate_meta",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(71), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.bulk_insert(
        meta,
        [{"id": 1, "revision": 0, "digest": EMPTY_ESTATE_DIGEST, "updated_at": datetime.now(UTC)}],
    )


def downgrade() -> None:
    op.drop_table("estate_meta")
    op.drop_table("resources")
