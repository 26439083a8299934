"""Decisions' subject index on the first 12 hex digits of the keyed hash, not all 32.

The keys are random, so a batch of records writes one index page per record once the index
outgrows the page cache; entries of 12 characters instead of 32 make the index about half the
size. A lookup compares the whole key in the rows the prefix finds.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_decisions_subject", "decisions")
    op.create_index("ix_decisions_subject", "decisions", [sa.text("substr(subject_key, 1, 12)")])


def downgrade() -> None:
    op.drop_index("ix_decisions_subject", "decisions")
    op.create_index("ix_decisions_subject", "decisions", ["subject_key"])
