"""Monitor state: the reference sketch per monitor, every check result, alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import monitor_alerts, monitor_checks, monitor_sketches


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert as stored.

    Attributes:
        id: Its id.
        monitor: The monitor.
        condition: What fired (``drift``, ``performance:accuracy``, ``latency:p99``...).
        state: ``firing`` or ``resolved``.
        message: The latest message.
        raised_at: When it started firing.
        last_seen_at: The latest check that saw the condition.
        resolved_at: When it cleared, or ``None``.
        checks: Checks that saw it.
    """

    id: int
    monitor: str
    condition: str
    state: str
    message: str
    raised_at: datetime
    last_seen_at: datetime
    resolved_at: datetime | None
    checks: int


class MonitorRepository:
    """Reads and writes monitor state on one connection.

    Args:
        conn: An open connection (in a write transaction for the writing methods).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def sketch(self, monitor: str) -> tuple[str, dict[str, Any]] | None:
        """The stored reference sketch of a monitor.

        Args:
            monitor: The monitor's name.

        Returns:
            ``(source_key, sketch JSON)``, or ``None``.
        """
        row = self.conn.execute(
            sa.select(monitor_sketches.c.source_key, monitor_sketches.c.sketch).where(
                monitor_sketches.c.monitor == monitor
            )
        ).first()
        return None if row is None else (str(row[0]), dict(row[1]))

    def save_sketch(
        self, monitor: str, source_key: str, sketch: dict[str, Any], now: datetime
    ) -> None:
        """Store (or replace) a monitor's reference sketch.

        Args:
            monitor: The monitor's name.
            source_key: What the sketch was built from (path, size, modification time).
            sketch: The sketch's JSON (with its ``digest``).
            now: The time.
        """
        self.conn.execute(sa.delete(monitor_sketches).where(monitor_sketches.c.monitor == monitor))
        self.conn.execute(
            sa.insert(monitor_sketches).values(
                monitor=monitor,
                source_key=source_key,
                sketch_digest=sketch["digest"],
                sketch=sketch,
                created_at=now,
            )
        )

    def add_check(
        self,
        monitor: str,
        status: str,
        result: dict[str, Any],
        *,
        digests: tuple[str, str],
        now: datetime,
    ) -> int:
        """Store a check result.

        Args:
            monitor: The monitor's name.
            status: ``ok`` or ``firing``.
            result: The result's JSON.
            digests: The reference sketch's digest and the result's.
            now: The time.

        Returns:
            Its id.
        """
        inserted = self.conn.execute(
            sa.insert(monitor_checks).values(
                monitor=monitor,
                checked_at=now,
                status=status,
                reference_digest=digests[0],
                result_digest=digests[1],
                result=result,
            )
        )
        return int(inserted.inserted_primary_key[0])  # type: ignore[index]

    def latest_checks(self) -> dict[str, tuple[datetime, dict[str, Any]]]:
        """The latest check of every monitor.

        Returns:
            ``monitor -> (checked_at, result)``.
        """
        latest = (
            sa.select(sa.func.max(monitor_checks.c.id))
            .group_by(monitor_checks.c.monitor)
            .scalar_subquery()
        )
        rows = self.conn.execute(
            sa.select(
                monitor_checks.c.monitor, monitor_checks.c.checked_at, monitor_checks.c.result
            ).where(monitor_checks.c.id.in_(latest))
        )
        return {str(r[0]): (r[1], dict(r[2])) for r in rows}

    def check_at(self, monitor: str, moment: datetime) -> tuple[datetime, str] | None:
        """A monitor's latest check at or before a time.

        Args:
            monitor: The monitor.
            moment: The time.

        Returns:
            ``(checked_at, status)``, or ``None`` when it had not been checked yet.
        """
        row = self.conn.execute(
            sa.select(monitor_checks.c.checked_at, monitor_checks.c.status)
            .where(
                monitor_checks.c.monitor == monitor,
                monitor_checks.c.checked_at <= moment.astimezone(UTC),
            )
            .order_by(monitor_checks.c.checked_at.desc(), monitor_checks.c.id.desc())
            .limit(1)
        ).first()
        return None if row is None else (row[0], str(row[1]))

    def alerts(self, monitor: str | None = None, *, firing_only: bool = False) -> list[StoredAlert]:
        """Alerts, newest first.

        Args:
            monitor: Only this monitor's; all when ``None``.
            firing_only: Only alerts still firing.

        Returns:
            The alerts.
        """
        query = sa.select(monitor_alerts).order_by(monitor_alerts.c.id.desc())
        if monitor is not None:
            query = query.where(monitor_alerts.c.monitor == monitor)
        if firing_only:
            query = query.where(monitor_alerts.c.state == "firing")
        return [StoredAlert(*row) for row in self.conn.execute(query)]

    def raise_alert(self, monitor: str, condition: str, message: str, now: datetime) -> int:
        """Start a firing alert.

        Returns:
            Its id.
        """
        inserted = self.conn.execute(
            sa.insert(monitor_alerts).values(
                monitor=monitor,
                condition=condition,
                state="firing",
                message=message,
                raised_at=now,
                last_seen_at=now,
                resolved_at=None,
                checks=1,
            )
        )
        return int(inserted.inserted_primary_key[0])  # type: ignore[index]

    def touch_alert(self, alert_id: int, message: str, now: datetime) -> None:
        """Record that a firing alert's condition still holds (no new notification)."""
        self.conn.execute(
            sa.update(monitor_alerts)
            .where(monitor_alerts.c.id == alert_id)
            .values(message=message, last_seen_at=now, checks=monitor_alerts.c.checks + 1)
        )

    def resolve_alert(self, alert_id: int, now: datetime) -> None:
        """Mark a firing alert resolved."""
        self.conn.execute(
            sa.update(monitor_alerts)
            .where(monitor_alerts.c.id == alert_id)
            .values(state="resolved", resolved_at=now)
        )
