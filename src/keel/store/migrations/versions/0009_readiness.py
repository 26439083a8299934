"""Readiness assessments: the index over time, each with its inputs' digests and ledger entry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "readiness_assessments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("readiness", sa.Float, nullable=True),
        sa.Column("maturity", sa.Float, nullable=True),
        sa.Column("declared", sa.Float, nullable=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(16), nullable=True),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
        sa.Column("inputs", JSONType, nullable=False),
        sa.Column("scores", JSONType, nullable=False),
        sa.Column("assessment", JSONType, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("readiness_assessments")
