"""Capacity advice runs, each whole (:data:`keel.store.schema.capacity_advice`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import capacity_advice as table


@dataclass(frozen=True, slots=True)
class StoredAdvice:
    """One advice run (the columns of ``capacity_advice``)."""

    id: int
    created_at: datetime
    created_by: str
    digest: str
    ledger_index: int
    advice: dict[str, Any]


class AdviceRepository:
    """Reads and writes advice runs on one connection.

    Args:
        conn: An open connection (inside a write transaction for :meth:`add`).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, row: StoredAdvice) -> int:
        """Store an advice run; returns its id (assigned here)."""
        values = {
            "created_at": row.created_at,
            "created_by": row.created_by,
            "digest": row.digest,
            "ledger_index": row.ledger_index,
            "advice": row.advice,
        }
        result = self.conn.execute(sa.insert(table).values(**values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def get(self, advice_id: int | None = None) -> StoredAdvice | None:
        """One run, or the newest when ``advice_id`` is ``None``."""
        query = sa.select(table).order_by(table.c.id.desc()).limit(1)
        if advice_id is not None:
            query = query.where(table.c.id == advice_id)
        row = self.conn.execute(query).first()
        return None if row is None else StoredAdvice(**row._mapping)

    def recent(self, limit: int) -> list[StoredAdvice]:
        """The newest runs first, at most ``limit``."""
        query = sa.select(table).order_by(table.c.id.desc()).limit(limit)
        return [StoredAdvice(**row._mapping) for row in self.conn.execute(query)]
