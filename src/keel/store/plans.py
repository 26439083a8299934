"""Committed plans: each with the digests of the estate and policy set it was computed from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import plans


class PlanRepository:
    """Reads and writes plans on one connection.

    Args:
        conn: An open connection (inside a write transaction for :meth:`add`).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(
        self,
        plan: dict[str, Any],
        digest: str,
        now: datetime,
    ) -> int:
        """Store a plan.

        Args:
            plan: The plan's JSON form (with ``solver``, ``objective``, digests).
            digest: Digest of the plan's canonical JSON.
            now: Commit time.

        Returns:
            The plan's id.
        """
        result = self.conn.execute(
            sa.insert(plans).values(
                created_at=now,
                solver=plan["solver"],
                objective=plan["objective"],
                estate_digest=plan["estate_digest"],
                policy_digest=plan["policy_digest"],
                plan_digest=digest,
                plan=plan,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def latest_id(self) -> int | None:
        """The id of the most recently committed plan, or ``None``."""
        found = self.conn.execute(sa.select(sa.func.max(plans.c.id))).scalar()
        return None if found is None else int(found)

    def latest(self) -> tuple[int, dict[str, Any]] | None:
        """The most recently committed plan.

        Returns:
            ``(id, plan)``, or ``None`` when none was committed.
        """
        row = self.conn.execute(
            sa.select(plans.c.id, plans.c.plan).order_by(plans.c.id.desc()).limit(1)
        ).first()
        return None if row is None else (int(row[0]), dict(row[1]))

    def record_decisions(self, plan_id: int, decisions: dict[str, int]) -> None:
        """Remember the ledger index of each workload's ``placement.decided`` entry.

        Args:
            plan_id: The plan.
            decisions: Workload name -> ledger index.
        """
        self.conn.execute(sa.update(plans).where(plans.c.id == plan_id).values(decisions=decisions))

    def decisions(self, plan_id: int) -> dict[str, int]:
        """The ledger index of each workload's ``placement.decided`` entry in a plan.

        Args:
            plan_id: The plan.

        Returns:
            Workload name -> ledger index; empty for plans committed before Keel kept them.
        """
        found = self.conn.execute(
            sa.select(plans.c.decisions).where(plans.c.id == plan_id)
        ).scalar()
        return {str(k): int(v) for k, v in (found or {}).items()}
