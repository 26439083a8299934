"""Monitor actions in the store, and what they changed about workloads (served version, pause).

Invariants:
    * An action row is never deleted; its state only moves forward (see
      :data:`keel.store.schema.monitor_actions`).
    * A workload has at most one control row; a row with neither a served model nor a pause is
      removed, so "no row" always means "the manifest rules".
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import monitor_actions, workload_controls


@dataclass(frozen=True, slots=True)
class StoredAction:
    """A monitor action as stored.

    Attributes:
        id: Its id.
        monitor: The monitor that took it.
        workload: The workload it acts on.
        alert_id: The alert that caused it.
        conditions: The raised conditions it answered.
        action: ``rollback``, ``replan``, ``pause`` or ``notify``.
        approval: ``before``, ``after`` or ``none``.
        state: Where it stands.
        requested_by: The principal of the monitor run that raised the alert.
        requested_at: When.
        due_at: With ``approval: after``, when its confirmation is due.
        decided_by: The approver who approved or rejected it.
        decided_at: When.
        detail: Its facts (versions, plan, message).
        updated_at: Its last change.
    """

    id: int
    monitor: str
    workload: str
    alert_id: int
    conditions: list[str]
    action: str
    approval: str
    state: str
    requested_by: str
    requested_at: datetime
    due_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    detail: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Control:
    """What monitor actions changed about one workload.

    Attributes:
        workload: The workload.
        manifest_model: The manifest's ``model`` when the served version was set.
        served_model: The version served instead, or ``None``.
        rollback_action: The action that set it.
        paused_by_action: The action that paused the workload, or ``None``.
    """

    workload: str
    manifest_model: str | None = None
    served_model: str | None = None
    rollback_action: int | None = None
    paused_by_action: int | None = None


class ActionRepository:
    """Reads and writes monitor actions and workload controls on one connection.

    Args:
        conn: An open connection (in a write transaction for the writing methods).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, action: StoredAction) -> int:
        """Store a new action (its ``id`` is ignored).

        Returns:
            Its id.
        """
        values = {f.name: getattr(action, f.name) for f in fields(StoredAction) if f.name != "id"}
        inserted = self.conn.execute(sa.insert(monitor_actions).values(**values))
        return int(inserted.inserted_primary_key[0])  # type: ignore[index]

    def update(self, action: StoredAction) -> None:
        """Store an action's new state, decision, due time and facts."""
        self.conn.execute(
            sa.update(monitor_actions)
            .where(monitor_actions.c.id == action.id)
            .values(
                state=action.state,
                due_at=action.due_at,
                decided_by=action.decided_by,
                decided_at=action.decided_at,
                detail=action.detail,
                updated_at=action.updated_at,
            )
        )

    def get(self, action_id: int, *, for_update: bool = False) -> StoredAction | None:
        """One action, or ``None``.

        Args:
            action_id: Its id.
            for_update: Lock its row until the transaction ends (PostgreSQL), so that two
                approvers deciding at once are serialised.
        """
        query = sa.select(monitor_actions).where(monitor_actions.c.id == action_id)
        if for_update:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return None if row is None else _action(row)

    def list(
        self, *, workload: str | None = None, states: tuple[str, ...] = (), limit: int = 1000
    ) -> list[StoredAction]:
        """Actions, newest first.

        Args:
            workload: Only this workload's.
            states: Only actions in these states (all when empty).
            limit: At most this many.
        """
        query = sa.select(monitor_actions).order_by(monitor_actions.c.id.desc()).limit(limit)
        if workload is not None:
            query = query.where(monitor_actions.c.workload == workload)
        if states:
            query = query.where(monitor_actions.c.state.in_(states))
        return [_action(row) for row in self.conn.execute(query)]

    def control(self, workload: str) -> Control:
        """What actions changed about a workload (an empty control when nothing)."""
        row = self.conn.execute(
            sa.select(workload_controls).where(workload_controls.c.workload == workload)
        ).first()
        if row is None:
            return Control(workload)
        return Control(row[0], row[1], row[2], row[3], row[4])

    def controls(self) -> dict[str, Control]:
        """Every workload's control row, by workload."""
        rows = self.conn.execute(sa.select(workload_controls))
        return {str(r[0]): Control(r[0], r[1], r[2], r[3], r[4]) for r in rows}

    def set_control(self, control: Control, now: datetime) -> None:
        """Store a workload's control (removing the row when it changes nothing)."""
        self.conn.execute(
            sa.delete(workload_controls).where(workload_controls.c.workload == control.workload)
        )
        if control.served_model is None and control.paused_by_action is None:
            return
        self.conn.execute(
            sa.insert(workload_controls).values(
                workload=control.workload,
                manifest_model=control.manifest_model,
                served_model=control.served_model,
                rollback_action=control.rollback_action,
                paused_by_action=control.paused_by_action,
                updated_at=now,
            )
        )


def _action(row: Any) -> StoredAction:
    return StoredAction(
        int(row.id),
        row.monitor,
        row.workload,
        int(row.alert_id),
        list(row.conditions),
        row.action,
        row.approval,
        row.state,
        row.requested_by,
        row.requested_at,
        row.due_at,
        row.decided_by,
        row.decided_at,
        dict(row.detail),
        row.updated_at,
    )
