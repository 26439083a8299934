"""Agent calls: checked tool calls, tool calls awaiting approval, and agents' API keys.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "agent_calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(253), nullable=False),
        sa.Column("session", sa.String(64), nullable=True),
        sa.Column("call_id", sa.String(256), nullable=False),
        sa.Column("tool", sa.String(256), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reasons", JSONType, nullable=False),
        sa.Column("found", JSONType, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=True),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_agent_calls_agent_id", "agent_calls", ["agent", "id"])
    op.create_table(
        "tool_approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent", sa.String(253), nullable=False),
        sa.Column("session", sa.String(64), nullable=False),
        sa.Column("tool", sa.String(256), nullable=False),
        sa.Column("arguments", JSONType, nullable=True),
        sa.Column("arguments_digest", sa.String(80), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(1000), nullable=True),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_tool_approvals_state", "tool_approvals", ["state", "id"])
    op.add_column("api_tokens", sa.Column("agent", sa.String(253), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("agent")
    op.drop_index("ix_tool_approvals_state", "tool_approvals")
    op.drop_table("tool_approvals")
    op.drop_index("ix_agent_calls_agent_id", "agent_calls")
    op.drop_table("agent_calls")
