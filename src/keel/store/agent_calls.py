"""Tool calls checked for agents (:data:`keel.store.schema.agent_calls`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import agent_calls as table


@dataclass(frozen=True, slots=True)
class StoredCall:
    """One checked tool call (the columns of ``agent_calls`` but the id)."""

    at: datetime
    agent: str
    session: str | None
    call_id: str
    tool: str
    via: str
    decision: str
    reasons: list[str]
    found: dict[str, int]
    outcome: str
    duration_ms: float | None
    ledger_index: int


class AgentCallRepository:
    """Reads and writes checked tool calls on one connection.

    Args:
        conn: An open connection (inside a write transaction for :meth:`add`).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, rows: list[StoredCall]) -> None:
        """Store calls (one statement)."""
        if rows:
            self.conn.execute(sa.insert(table), [asdict(r) for r in rows])

    def recent(
        self, agent: str, *, limit: int, before: int | None = None
    ) -> list[tuple[int, StoredCall]]:
        """An agent's calls, newest first, with their ids (``before`` an id, for paging)."""
        query = sa.select(table).where(table.c.agent == agent)
        if before is not None:
            query = query.where(table.c.id < before)
        query = query.order_by(table.c.id.desc()).limit(limit)
        found = []
        for row in self.conn.execute(query):
            values: dict[str, Any] = dict(row._mapping)
            found.append((int(values.pop("id")), StoredCall(**values)))
        return found

    def summary(self, agent: str) -> dict[str, Any]:
        """Counts of an agent's calls by decision, tool and reason."""
        by_decision = {
            str(d): int(n)
            for d, n in self.conn.execute(
                sa.select(table.c.decision, sa.func.count())
                .where(table.c.agent == agent)
                .group_by(table.c.decision)
            )
        }
        by_tool = {
            str(t): int(n)
            for t, n in self.conn.execute(
                sa.select(table.c.tool, sa.func.count())
                .where(table.c.agent == agent)
                .group_by(table.c.tool)
            )
        }
        return {"decisions": by_decision, "tools": by_tool}
