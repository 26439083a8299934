"""Runs: placed replicas handed to an engine, one row each, with their states over time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import runs


@dataclass(frozen=True, slots=True)
class StoredRun:
    """One run as stored (the columns of ``runs``; see :mod:`keel.store.schema`)."""

    key: str
    name: str
    plan_id: int
    decision_index: int | None
    workload: str
    replica: int
    digest: str
    site: str
    pool: str
    cluster: str
    engine: str
    service: bool
    wanted: bool
    state: str
    attempt: int
    message: str
    created_at: datetime
    updated_at: datetime
    engine_id: str | None = None
    node: str | None = None
    location: str | None = None
    exit_code: int | None = None
    submitted_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    retry_at: datetime | None = None
    energy_kwh: float | None = None
    energy_source: str | None = None
    history: list[list[str]] = field(default_factory=list)

    def moved_to(self, state: str, at: datetime, **changes: Any) -> StoredRun:
        """This run in a new state (its history extended when the state changed).

        Args:
            state: The new state.
            at: When.
            **changes: Other columns to change.

        Returns:
            The changed run.
        """
        history = self.history
        if state != self.state:
            history = [*history, [state, at.isoformat()]]
        return replace(self, state=state, updated_at=at, history=history, **changes)

    @property
    def duration_s(self) -> float | None:
        """How long it ran, once it finished (``None`` before or when unknown)."""
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())


_COLUMNS = tuple(f.name for f in fields(StoredRun))


class RunRepository:
    """Reads and writes runs on one connection.

    Args:
        conn: An open connection (inside a write transaction for changes).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def all(self, *, workload: str | None = None) -> list[StoredRun]:
        """Every run (of one workload), oldest first.

        Args:
            workload: Only this workload's runs, when given.

        Returns:
            The runs.
        """
        query = sa.select(*(runs.c[c] for c in _COLUMNS)).order_by(runs.c.created_at, runs.c.key)
        if workload is not None:
            query = query.where(runs.c.workload == workload)
        return [StoredRun(*row) for row in self.conn.execute(query)]

    def keys(self) -> set[str]:
        """The key of every stored run."""
        return set(self.conn.execute(sa.select(runs.c.key)).scalars())

    def add(self, made: Iterable[StoredRun]) -> None:
        """Insert new runs.

        Args:
            made: The runs (keys not stored yet).
        """
        rows = [{c: getattr(run, c) for c in _COLUMNS} for run in made]
        if rows:
            self.conn.execute(sa.insert(runs), rows)

    def save(self, changed: Iterable[StoredRun]) -> None:
        """Write runs back.

        Args:
            changed: Runs already stored, with their new values.
        """
        rows = [{"b_" + c: getattr(run, c) for c in _COLUMNS} for run in changed]
        if not rows:
            return
        statement = (
            sa.update(runs)
            .where(runs.c.key == sa.bindparam("b_key"))
            .values({c: sa.bindparam("b_" + c) for c in _COLUMNS if c != "key"})
        )
        self.conn.execute(statement, rows)
