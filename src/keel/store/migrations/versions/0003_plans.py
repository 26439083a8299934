"""Committed placement plans.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("solver", sa.String(16), nullable=False),
        sa.Column("objective", sa.String(16), nullable=False),
        sa.Column("estate_digest", sa.String(71), nullable=False),
        sa.Column("policy_digest", sa.String(71), nullable=False),
        sa.Column("plan_digest", sa.String(71), nullable=False),
        sa.Column("plan", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("plans")
