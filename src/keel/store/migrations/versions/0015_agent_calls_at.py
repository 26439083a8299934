"""Agent calls by time: the check endpoint counts an agent's calls in the last minute.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_agent_calls_agent_at", "agent_calls", ["agent", "at"])


def downgrade() -> None:
    op.drop_index("ix_agent_calls_agent_at", "agent_calls")
