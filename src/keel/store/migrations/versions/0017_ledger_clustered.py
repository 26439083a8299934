"""SQLite: the ledger's entries keyed by their rowid, its nodes stored in their key's order.

``idx BIGINT PRIMARY KEY`` is not SQLite's rowid, so every entry went into two B-trees (the
table, by an implicit rowid, and an index on ``idx``); so did every node (``(level, idx)``).
Entries now use ``idx INTEGER PRIMARY KEY`` (the rowid itself) and nodes a ``WITHOUT ROWID``
table keyed by ``(level, idx)``: one B-tree each, the same rows. PostgreSQL is unchanged.

Rebuilding copies both tables once.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def _rebuild(clustered: bool) -> None:
    """Copy both tables into the layout asked for (``clustered``: the one described above)."""
    entries = op.create_table(
        "ledger_entries_new",
        sa.Column(
            "idx", sa.Integer if clustered else sa.BigInteger, primary_key=True, autoincrement=False
        ),
        sa.Column("entry", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    nodes = op.create_table(
        "ledger_nodes_new",
        sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sqlite_with_rowid=not clustered,
    )
    for table, order in ((entries, "idx"), (nodes, "level, idx")):
        name = table.name.removesuffix("_new")
        columns = ", ".join(c.name for c in table.columns)
        op.execute(
            f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {name} ORDER BY {order}"
        )
        op.drop_table(name)
        op.rename_table(table.name, name)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(clustered=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(clustered=False)
