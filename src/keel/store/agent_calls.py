"""Tool calls checked for agents (:data:`keel.store.schema.agent_calls`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import agent_calls as table
from keel.store.schema import tool_approvals as approvals


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

    def forwarded_since(self, agent: str, since: datetime) -> dict[str, int]:
        """The agent's calls not blocked since ``since``, counted per tool (results: no)."""
        query = (
            sa.select(table.c.tool, sa.func.count())
            .where(
                table.c.agent == agent,
                table.c.at >= since,
                table.c.decision != "block",
                table.c.via != "result",
            )
            .group_by(table.c.tool)
        )
        return {str(tool): int(n) for tool, n in self.conn.execute(query)}


@dataclass(frozen=True, slots=True)
class StoredApproval:
    """A tool call waiting for, or decided by, an approver (a ``tool_approvals`` row)."""

    id: int
    created_at: datetime
    agent: str
    session: str
    tool: str
    arguments: Any
    arguments_digest: str
    requested_by: str
    state: str
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    ledger_index: int


class ApprovalRepository:
    """Reads and writes tool-call approvals on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, row: StoredApproval) -> int:
        """Store a request; its id (assigned here)."""
        values = asdict(row)
        del values["id"]
        result = self.conn.execute(sa.insert(approvals).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def get(self, approval_id: int) -> StoredApproval | None:
        """One request."""
        row = self.conn.execute(sa.select(approvals).where(approvals.c.id == approval_id)).first()
        return None if row is None else StoredApproval(**row._mapping)

    def listed(self, state: str | None, limit: int) -> list[StoredApproval]:
        """Requests, newest first, of one state or all."""
        query = sa.select(approvals).order_by(approvals.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(approvals.c.state == state)
        return [StoredApproval(**row._mapping) for row in self.conn.execute(query)]

    def settle(
        self, approval_id: int, state: str, by: str | None, at: datetime, reason: str | None
    ) -> bool:
        """Decide a pending request (its arguments blanked); ``False`` if it was not pending."""
        done = self.conn.execute(
            sa.update(approvals)
            .where(approvals.c.id == approval_id, approvals.c.state == "pending")
            .values(state=state, decided_by=by, decided_at=at, reason=reason, arguments=None)
        )
        return done.rowcount == 1
