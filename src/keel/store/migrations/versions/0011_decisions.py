"""Model decision records and the key of their subjects' keyed hashes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
        sa.Column("model", sa.String(127), nullable=False),
        sa.Column("workload", sa.String(63), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_digest", sa.String(71), nullable=False),
        sa.Column("content", sa.String(71), nullable=False),
        sa.Column("subject_key", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(64), nullable=True),
        sa.Column("salt", sa.LargeBinary(16), nullable=True),
        sa.Column("opening", sa.Text, nullable=True),
        sa.Column("gone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gone_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_decisions_model_time", "decisions", ["model", "decided_at"])
    op.create_index("ix_decisions_subject", "decisions", ["subject_key"])
    op.create_index("ix_decisions_expiry", "decisions", ["expires_at"])
    meta = op.create_table(
        "decision_meta",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("index_key", sa.LargeBinary(32), nullable=False),
    )
    op.bulk_insert(meta, [{"id": 1, "index_key": os.urandom(32)}])


def downgrade() -> None:
    op.drop_table("decision_meta")
    op.drop_table("decisions")
