"""Monitor runs and alerts."""

from __future__ import annotations

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
