"""Monitors: reference sketches, check results and alerts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "monitor_sketches",
        sa.Column("monitor", sa.String(63), primary_key=True),
        sa.Column("source_key", sa.Text, nullable=False),
        sa.Column("sketch_digest", sa.String(71), nullable=False),
        sa.Column("sketch", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "monitor_checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reference_digest", sa.String(71), nullable=False),
        sa.Column("result_digest", sa.String(71), nullable=False),
        sa.Column("result", JSONType, nullable=False),
    )
    op.create_index("ix_monitor_checks_monitor", "monitor_checks", ["monitor"])
    op.create_table(
        "monitor_alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("condition", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checks", sa.Integer, nullable=False),
    )
    op.create_index("ix_monitor_alerts_monitor", "monitor_alerts", ["monitor"])


def downgrade() -> None:
    op.drop_table("monitor_alerts")
    op.drop_table("monitor_checks")
    op.drop_table("monitor_sketches")
