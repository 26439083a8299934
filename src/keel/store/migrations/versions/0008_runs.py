"""Runs: each placed replica handed to an engine; plans keep their placement.decided indices.

A run names the ``placement.decided`` ledger entry it carries out.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("decisions", JSONType, nullable=True))
    op.create_table(
        "runs",
        sa.Column("key", sa.String(71), primary_key=True),
        sa.Column("name", sa.String(63), nullable=False, unique=True),
        sa.Column("plan_id", sa.Integer, nullable=False),
        sa.Column("decision_index", sa.BigInteger, nullable=True),
        sa.Column("workload", sa.String(63), nullable=False),
        sa.Column("replica", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("site", sa.String(63), nullable=False),
        sa.Column("pool", sa.String(63), nullable=False),
        sa.Column("cluster", sa.String(63), nullable=False),
        sa.Column("engine", sa.String(16), nullable=False),
        sa.Column("service", sa.Boolean, nullable=False),
        sa.Column("wanted", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("engine_id", sa.String(253), nullable=True),
        sa.Column("node", sa.String(253), nullable=True),
        sa.Column("location", sa.String(253), nullable=True),
        sa.Column("exit_code", sa.Integer, nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("energy_kwh", sa.Float, nullable=True),
        sa.Column("energy_source", sa.String(32), nullable=True),
        sa.Column("history", JSONType, nullable=False),
    )
    op.create_index("ix_runs_workload", "runs", ["workload"])


def downgrade() -> None:
    op.drop_table("runs")
    with op.batch_alter_table("plans") as batch:
        batch.drop_column("decisions")
