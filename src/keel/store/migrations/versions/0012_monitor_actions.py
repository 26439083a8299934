"""Monitor actions, what they changed about workloads, and engines that cannot be reached.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "monitor_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("workload", sa.String(63), nullable=False),
        sa.Column("alert_id", sa.Integer, nullable=False),
        sa.Column("conditions", JSONType, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("approval", sa.String(8), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("detail", JSONType, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_monitor_actions_workload", "monitor_actions", ["workload"])
    op.create_index("ix_monitor_actions_state", "monitor_actions", ["state"])
    op.create_table(
        "workload_controls",
        sa.Column("workload", sa.String(63), primary_key=True),
        sa.Column("manifest_model", sa.String(127), nullable=True),
        sa.Column("served_model", sa.String(127), nullable=True),
        sa.Column("rollback_action", sa.Integer, nullable=True),
        sa.Column("paused_by_action", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )

    op.create_table(
        "engine_outages",
        sa.Column("cluster", sa.String(63), primary_key=True),
        sa.Column("unreachable_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("down_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sites", JSONType, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("engine_outages")
    op.drop_table("workload_controls")
    op.drop_table("monitor_actions")
