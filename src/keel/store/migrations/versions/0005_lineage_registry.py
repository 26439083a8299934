"""Lineage graph (nodes, edges, runs, event digests) and the model registry.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "lineage_nodes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("namespace", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("facets", JSONType, nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erased_reason", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint(
            "kind", "namespace", "name", name="uq_lineage_nodes_kind_namespace_name"
        ),
    )
    op.create_index("ix_lineage_nodes_kind_name", "lineage_nodes", ["kind", "name"])
    op.create_table(
        "lineage_edges",
        sa.Column("src", sa.Integer, primary_key=True),
        sa.Column("dst", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_lineage_edges_dst", "lineage_edges", ["dst"])
    op.create_table(
        "lineage_runs",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("job_id", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("facets", JSONType, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_lineage_runs_job_id", "lineage_runs", ["job_id"])
    op.create_table(
        "lineage_events",
        sa.Column("digest", sa.String(71), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=True),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column("model", sa.String(63), primary_key=True),
        sa.Column("version", sa.String(63), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("declared_state", sa.String(16), nullable=False),
        sa.Column("registered_by", sa.String(253), nullable=True),
        sa.Column("record", JSONType, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("version", sa.String(63), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("principal", sa.String(300), nullable=True),
        sa.Column("detail", JSONType, nullable=False),
        sa.Column("ledger_index", sa.Integer, nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_model_events_model_version", "model_events", ["model", "version"])
    op.create_table(
        "model_aliases",
        sa.Column("model", sa.String(63), primary_key=True),
        sa.Column("alias", sa.String(63), primary_key=True),
        sa.Column("version", sa.String(63), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "model_aliases",
        "model_events",
        "model_versions",
        "lineage_events",
        "lineage_runs",
        "lineage_edges",
        "lineage_nodes",
    ):
        op.drop_table(table)
