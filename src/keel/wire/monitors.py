"""Monitor runs, alerts, and the actions monitors take."""

from __future__ import annotations

from pydantic import Field

from keel.wire.base import Instant, JsonObject, Wire


class Alert(Wire):
    """An alert: a condition that fired, deduplicated across checks."""

    monitor: str
    condition: str
    state: str
    message: str
    raised_at: Instant
    checks: int


class Alerts(Wire):
    """Alerts (firing ones, or all)."""

    alerts: list[Alert]


class ConditionResult(Wire):
    """One condition a check evaluated."""

    key: str
    firing: bool
    message: str


class MonitorAction(Wire):
    """What a monitor did, or asks an approver to let it do, when an alert was raised."""

    id: int
    monitor: str
    workload: str
    alert_id: int
    conditions: list[str]
    action: str
    approval: str
    state: str
    requested_by: str
    requested_at: Instant
    due_at: Instant | None
    decided_by: str | None
    decided_at: Instant | None
    from_model: str | None = None
    to_model: str | None = None
    plan_id: int | None = None
    message: str = ""
    reason: str = ""


class MonitorActions(Wire):
    """Monitor actions, newest first."""

    actions: list[MonitorAction]


class Serving(Wire):
    """What a workload serves and whether it is paused, after monitor actions."""

    workload: str
    manifest_model: str
    model: str
    rollback_action: int | None
    paused_by_action: int | None


class MonitorRun(Wire):
    """What one monitor's run found and did."""

    monitor: str
    workload: str
    status: str
    rows: int
    conditions: list[ConditionResult]
    raised: list[str]
    resolved: list[str]
    still_firing: list[str]
    delivery_errors: list[str]
    actions: list[MonitorAction] = Field(default_factory=list)


class MonitorRuns(Wire):
    """The monitors that ran."""

    runs: list[MonitorRun]


class MonitorCheck(Wire):
    """A monitor's latest check: its full result (drift per column, metrics, conditions)."""

    monitor: str
    checked_at: Instant
    result: JsonObject


class MonitorChecks(Wire):
    """The latest check of every monitor."""

    checks: list[MonitorCheck]
