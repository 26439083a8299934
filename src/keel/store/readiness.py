"""Readiness assessments over time: the indices for trends, each assessment whole."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import readiness_assessments as table


@dataclass(frozen=True, slots=True)
class StoredAssessment:
    """One stored assessment (the columns of ``readiness_assessments``)."""

    id: int
    created_at: datetime
    readiness: float | None
    maturity: float | None
    declared: float | None
    level: str
    tier: str | None
    ledger_index: int
    inputs: dict[str, Any]
    scores: dict[str, float | None]
    assessment: dict[str, Any]


class ReadinessRepository:
    """Reads and writes assessments on one connection.

    Args:
        conn: An open connection (inside a write transaction for :meth:`add`).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, row: StoredAssessment) -> int:
        """Store an assessment (its ``id`` is assigned here).

        Args:
            row: The assessment.

        Returns:
            Its id.
        """
        values = {
            "created_at": row.created_at,
            "readiness": row.readiness,
            "maturity": row.maturity,
            "declared": row.declared,
            "level": row.level,
            "tier": row.tier,
            "ledger_index": row.ledger_index,
            "inputs": row.inputs,
            "scores": row.scores,
            "assessment": row.assessment,
        }
        result = self.conn.execute(sa.insert(table).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def get(self, assessment_id: int | None = None) -> StoredAssessment | None:
        """One assessment, or the newest when ``assessment_id`` is ``None``.

        Args:
            assessment_id: Its id.

        Returns:
            The assessment, or ``None``.
        """
        query = sa.select(table).order_by(table.c.id.desc()).limit(1)
        if assessment_id is not None:
            query = query.where(table.c.id == assessment_id)
        row = self.conn.execute(query).first()
        return None if row is None else _stored(row)

    def trend(self, up_to: int, limit: int = 100) -> list[StoredAssessment]:
        """The assessments up to one, without their bodies, oldest first.

        Args:
            up_to: The newest id to include.
            limit: How many at most.

        Returns:
            The assessments, each with an empty ``assessment`` (the body is not read).
        """
        columns = [c for c in table.c if c.name != "assessment"]
        rows = self.conn.execute(
            sa.select(*columns, sa.literal(None).label("assessment"))
            .where(table.c.id <= up_to)
            .order_by(table.c.id.desc())
            .limit(max(limit, 0))
        ).all()
        return [_stored(r) for r in reversed(rows)]


def _stored(row: Any) -> StoredAssessment:
    created = row.created_at
    return StoredAssessment(
        id=int(row.id),
        created_at=created,
        readiness=row.readiness,
        maturity=row.maturity,
        declared=row.declared,
        level=row.level,
        tier=row.tier,
        ledger_index=int(row.ledger_index),
        inputs=dict(row.inputs),
        scores=dict(row.scores),
        assessment=dict(row.assessment or {}),
    )
