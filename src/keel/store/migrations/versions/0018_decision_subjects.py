"""The decisions' subject index as a table written in bulk, through a staging table.

An index on the decisions' random subject keys made each record of a batch write an index page
of its own once the index outgrew the page cache: at 100,000 records that cost a quarter to a
third of SQLite's intake. The index is now a table of ``(prefix, ledger_index)`` in key order,
fed on SQLite many records at a time from a small staging table of the same shape (PostgreSQL
writes it directly); rows are found from it through a new unique index on
``decisions.ledger_index``. Existing records' entries are copied into it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in ("decision_subjects", "decision_subjects_staged"):
        op.create_table(
            name,
            sa.Column("prefix", sa.String(12), primary_key=True),
            sa.Column("ledger_index", sa.BigInteger, primary_key=True, autoincrement=False),
            sqlite_with_rowid=False,
        )
    op.create_index("ix_decisions_ledger_index", "decisions", ["ledger_index"], unique=True)
    op.execute(
        "INSERT INTO decision_subjects (prefix, ledger_index)"
        " SELECT substr(subject_key, 1, 12), ledger_index FROM decisions"
        " WHERE subject_key IS NOT NULL ORDER BY 1, 2"
    )
    op.drop_index("ix_decisions_subject", "decisions")


def downgrade() -> None:
    op.create_index("ix_decisions_subject", "decisions", [sa.text("substr(subject_key, 1, 12)")])
    op.drop_index("ix_decisions_ledger_index", "decisions")
    op.drop_table("decision_subjects_staged")
    op.drop_table("decision_subjects")
