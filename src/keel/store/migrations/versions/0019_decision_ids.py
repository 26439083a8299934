"""Decisions keyed by their ledger index; SQLite finds ids through an id index written in bulk.

Clients' record ids may be random (UUIDs are), and SQLite's index on ``decisions.id`` then took
a page write per record once it outgrew the page cache: with UUID ids the intake ran at
12,100-13,308 records/s against about 20,000 with ids in sending order. The table is now keyed
by ``ledger_index`` (on SQLite the rowid, which also drops the separate unique index on it).
SQLite keeps ids in ``decision_ids`` (each id with its ledger index), fed many records at a
time from ``decision_ids_staged``, as the subject index is. PostgreSQL keeps a unique index on
``id`` instead, and both tables stay empty there. Existing records' ids are copied.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_TABLES = ("decision_ids", "decision_ids_staged")


def _rebuild(by_ledger_index: bool) -> None:
    """SQLite: copy ``decisions`` into a table keyed as asked (``by_ledger_index``: the rowid)."""
    new = op.create_table(
        "decisions_new",
        sa.Column("id", sa.String(64), primary_key=not by_ledger_index, nullable=False),
        sa.Column(
            "ledger_index",
            sa.Integer if by_ledger_index else sa.BigInteger,
            primary_key=by_ledger_index,
            nullable=False,
            autoincrement=False,
        ),
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
    columns = ", ".join(c.name for c in new.columns)
    op.execute(
        f"INSERT INTO decisions_new ({columns}) SELECT {columns} FROM decisions"
        " ORDER BY ledger_index"
    )
    op.drop_table("decisions")
    op.rename_table("decisions_new", "decisions")
    op.create_index("ix_decisions_model_time", "decisions", ["model", "decided_at"])
    op.create_index("ix_decisions_expiry", "decisions", ["expires_at"])
    if not by_ledger_index:
        op.create_index("ix_decisions_ledger_index", "decisions", ["ledger_index"], unique=True)


def upgrade() -> None:
    for name in _TABLES:
        op.create_table(
            name,
            sa.Column("id", sa.String(64), primary_key=True),
            sa.Column("ledger_index", sa.BigInteger, nullable=False),
            sqlite_with_rowid=False,
        )
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint("decisions_pkey", "decisions", type_="primary")
        op.execute(
            "ALTER TABLE decisions ADD CONSTRAINT decisions_pkey"
            " PRIMARY KEY USING INDEX ix_decisions_ledger_index"
        )
        op.create_index("ix_decisions_id", "decisions", ["id"], unique=True)
        return
    _rebuild(by_ledger_index=True)
    op.execute(
        "INSERT INTO decision_ids (id, ledger_index) SELECT id, ledger_index FROM decisions"
        " ORDER BY id"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(by_ledger_index=False)
    else:
        op.drop_index("ix_decisions_id", "decisions")
        op.create_index("ix_decisions_ledger_index", "decisions", ["ledger_index"], unique=True)
        op.drop_constraint("decisions_pkey", "decisions", type_="primary")
        op.create_primary_key("decisions_pkey", "decisions", ["id"])
    for name in reversed(_TABLES):
        op.drop_table(name)
