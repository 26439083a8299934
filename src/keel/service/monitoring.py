"""Monitoring as a service: run monitors, keep their reference sketches, alert, export metrics.

A run checks each monitor's current window against its stored reference sketch (rebuilt when
the reference file changes), stores the result, turns firing conditions into alerts, and records
``monitor.checked`` (with the digests of the sketch and of the result), ``alert.raised`` and
``alert.resolved`` in the ledger, all in one transaction. Alerts are deduplicated: a condition
that keeps firing updates its alert without notifying again; one that clears resolves it and
notifies once. Notifications go out after the commit. Then each alert raised takes the
monitor's actions declared on its condition (:mod:`keel.service.corrections`: rollback,
replan, pause, notify, with their approvals); a run first marks ``overdue`` the actions whose
confirmation is late.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from keel.errors import NotFoundError, UserError
from keel.estate import Estate
from keel.estate.resources import MonitorSpec, WorkloadSpec
from keel.estate.spelling import did_you_mean
from keel.monitor.check import CheckResult, Condition, run_check
from keel.monitor.drift import DRIFT_SHARE, METHODS, DriftReport, compare
from keel.monitor.report import render
from keel.monitor.sketch import DatasetSketch, SketchError
from keel.monitor.synthetic import write_demo_windows
from keel.monitor.window import WindowError, sketch_reference, sketch_window
from keel.service import corrections, ledger, notifications
from keel.service.actor import Actor
from keel.service.stored import load_estate
from keel.service.workspace import Workspace
from keel.store.actions import StoredAction
from keel.store.monitors import MonitorRepository, StoredAlert

__all__ = [
    "MonitorRun",
    "alerts",
    "drift",
    "load_sketch",
    "metrics_text",
    "reference_for",
    "render",
    "run_monitors",
    "save_sketch",
    "serve_metrics",
    "write_demo_windows",
]

SKETCH_SUFFIX = ".sketch.json"
NO_REFERENCE = "none"
"""The reference digest recorded when the reference could not be read."""


@dataclass
class MonitorRun:
    """What one monitor's run did.

    Attributes:
        result: The check's result.
        check_id: The stored check's id.
        raised: Conditions that started firing (notified).
        resolved: Conditions that cleared (notified).
        still_firing: Conditions that keep firing (not notified again).
        delivery_errors: Notifications that failed, with why.
        alert_ids: The ids of the alerts raised, by condition.
        actions: The monitor actions the raised alerts took or asked for.
    """

    result: CheckResult
    check_id: int
    raised: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    still_firing: list[str] = field(default_factory=list)
    delivery_errors: list[str] = field(default_factory=list)
    alert_ids: dict[str, int] = field(default_factory=dict)
    actions: list[StoredAction] = field(default_factory=list)


def _monitors(estate: Estate) -> dict[str, MonitorSpec]:
    return dict(sorted(estate.specs(MonitorSpec).items()))


def load_sketch(path: str | Path) -> DatasetSketch:
    """Read a saved reference sketch.

    Args:
        path: A ``.sketch.json`` file.

    Returns:
        The sketch.

    Raises:
        UserError: If it cannot be read, is not a sketch, or its digest does not match.
    """
    try:
        return DatasetSketch.from_json(json.loads(Path(path).read_text("utf-8")))
    except (OSError, ValueError, KeyError, SketchError) as error:
        raise UserError(f"{path}: not a readable Keel sketch: {error}") from None


def reference_for(source: str | Path) -> DatasetSketch:
    """A reference sketch from a data file or a saved sketch.

    Args:
        source: A ``.sketch.json`` file, or data (Parquet, CSV, Arrow).

    Returns:
        The sketch.

    Raises:
        UserError: If it cannot be read.
    """
    if str(source).endswith(SKETCH_SUFFIX):
        return load_sketch(source)
    try:
        return sketch_reference(source)
    except WindowError as error:
        raise UserError(str(error)) from None


def _stored_reference(workspace: Workspace, name: str, spec: MonitorSpec) -> DatasetSketch:
    path = Path(spec.reference)
    if spec.reference.endswith(SKETCH_SUFFIX):
        return load_sketch(path)
    try:
        info = path.stat()
    except OSError as error:
        raise UserError(f"Monitor/{name}: reference {path}: {error.strerror}") from None
    key = f"{path}|{info.st_size}|{info.st_mtime_ns}"
    with workspace.unit() as unit:
        stored = unit.repository(MonitorRepository).sketch(name)
    if stored is not None and stored[0] == key:
        try:
            return DatasetSketch.from_json(stored[1])
        except (SketchError, KeyError, ValueError):
            pass  # a stored sketch that no longer checks out is rebuilt from the file
    sketch = reference_for(path)
    with workspace.unit(write=True) as unit:
        unit.repository(MonitorRepository).save_sketch(
            name, key, sketch.to_json(), datetime.now(UTC)
        )
    return sketch


def _due(last: datetime | None, spec: MonitorSpec, now: datetime) -> bool:
    if last is None:
        return True
    return now - last >= timedelta(minutes=spec.every_minutes)


def run_monitors(
    workspace: Workspace,
    names: Iterable[str] | None = None,
    *,
    due_only: bool = False,
    now: datetime | None = None,
    actor: Actor,
) -> list[MonitorRun]:
    """Run monitors now.

    Args:
        workspace: The workspace.
        names: Monitors to run; all of them when ``None``.
        due_only: Only those whose ``every_minutes`` has passed since their last check.
        now: The time to record (tests pass one).
        actor: Who runs them (recorded with the checks and alerts in the ledger).

    Returns:
        One run per monitor that ran.

    Raises:
        NotFoundError: If a named monitor does not exist.
    """
    estate = load_estate(workspace)
    monitors = _monitors(estate)
    chosen = list(monitors) if names is None else list(names)
    for name in chosen:
        if name not in monitors:
            raise NotFoundError(f"Monitor/{name} does not exist{did_you_mean(name, monitors)}")
    now = now or datetime.now(UTC)
    corrections.expire(workspace, actor=actor, now=now)
    with workspace.unit() as unit:
        latest = unit.repository(MonitorRepository).latest_checks()
    runs = []
    for name in chosen:
        spec = monitors[name]
        if due_only and not _due(latest.get(name, (None, {}))[0], spec, now):
            continue
        workload = estate.of_kind("Workload")[spec.workload].spec
        assert isinstance(workload, WorkloadSpec)
        try:
            reference = _stored_reference(workspace, name, spec)
        except UserError as error:  # one monitor's broken reference must not stop the others
            result = CheckResult(name, spec.workload, NO_REFERENCE)
            result.conditions.append(Condition("reference", True, error.message))
        else:
            result = run_check(name, spec, reference, spec.current, workload.latency_slo_ms)
        run = _record(workspace, result, now, actor)
        _notify(workspace, spec, run)
        run.actions = corrections.take(workspace, spec, name, run.alert_ids, actor=actor, now=now)
        runs.append(run)
    return runs


def _record(workspace: Workspace, result: CheckResult, now: datetime, actor: Actor) -> MonitorRun:
    firing = {c.key: c.message for c in result.firing}
    with workspace.unit(actor.principal, write=True) as unit:
        repo = unit.repository(MonitorRepository)
        check_id = repo.add_check(
            result.monitor,
            result.status,
            result.to_json(),
            digests=(result.reference_digest, result.digest),
            now=now,
        )
        run = MonitorRun(result, check_id)
        open_alerts = {a.condition: a for a in repo.alerts(result.monitor, firing_only=True)}
        entries: list[dict[str, Any]] = [
            {
                "type": "monitor.checked",
                "monitor": result.monitor,
                "workload": result.workload,
                "check_id": check_id,
                "status": result.status,
                "reference_digest": result.reference_digest,
                "result_digest": result.digest,
            }
        ]
        for condition, message in firing.items():
            alert = open_alerts.get(condition)
            if alert is None:
                alert_id = repo.raise_alert(result.monitor, condition, message, now)
                run.raised.append(condition)
                run.alert_ids[condition] = alert_id
                entries.append(_alert_entry("alert.raised", result, condition, alert_id, message))
            else:
                repo.touch_alert(alert.id, message, now)
                run.still_firing.append(condition)
        for condition, alert in open_alerts.items():
            if condition not in firing:
                repo.resolve_alert(alert.id, now)
                run.resolved.append(condition)
                entries.append(_alert_entry("alert.resolved", result, condition, alert.id, ""))
        ledger.record(unit, entries)
    return run


def _alert_entry(
    kind: str, result: CheckResult, condition: str, alert_id: int, message: str
) -> dict[str, Any]:
    entry = {
        "type": kind,
        "monitor": result.monitor,
        "workload": result.workload,
        "condition": condition,
        "alert_id": alert_id,
        "reference_digest": result.reference_digest,
        "result_digest": result.digest,
    }
    return {**entry, "message": message} if message else entry


def _notify(workspace: Workspace, spec: MonitorSpec, run: MonitorRun) -> None:
    if not run.raised and not run.resolved:
        return
    messages = {c.key: c.message for c in run.result.conditions}
    payload = {
        "monitor": run.result.monitor,
        "workload": run.result.workload,
        "check_id": run.check_id,
        "raised": [{"condition": c, "message": messages.get(c, "")} for c in run.raised],
        "resolved": run.resolved,
        "result_digest": run.result.digest,
    }
    for route in spec.alerts:
        if route.type == "log":
            notifications.log_alert(workspace, payload)
            continue
        assert route.url is not None
        try:
            notifications.post(route.url, payload)
        except UserError as error:
            run.delivery_errors.append(error.message)


def alerts(workspace: Workspace, *, firing_only: bool = True) -> list[StoredAlert]:
    """Alerts, newest first.

    Args:
        workspace: The workspace.
        firing_only: Only those still firing.

    Returns:
        The alerts.
    """
    with workspace.unit() as unit:
        return unit.repository(MonitorRepository).alerts(firing_only=firing_only)


class MonitorCollector(Collector):
    """Prometheus collector that reads the latest monitor results from the store at each scrape.

    Args:
        workspace: The workspace.
    """

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def collect(self) -> Iterator[Metric]:
        """The metric families (read fresh from the store)."""
        with self.workspace.unit() as unit:
            repo = unit.repository(MonitorRepository)
            latest = repo.latest_checks()
            firing = repo.alerts(firing_only=True)
        checked = GaugeMetricFamily(
            "keel_monitor_last_check_timestamp_seconds",
            "Time of the latest check.",
            labels=["monitor"],
        )
        status = GaugeMetricFamily(
            "keel_monitor_firing", "1 when any condition fires.", labels=["monitor"]
        )
        share = GaugeMetricFamily(
            "keel_monitor_drift_share", "Share of drifted columns.", labels=["monitor"]
        )
        column = GaugeMetricFamily(
            "keel_monitor_column_drift",
            "Per-column drift statistic (p-value or distance).",
            labels=["monitor", "column", "method"],
        )
        metric = GaugeMetricFamily(
            "keel_monitor_metric",
            "Model quality and serving metrics.",
            labels=["monitor", "metric"],
        )
        alert = GaugeMetricFamily(
            "keel_monitor_alert_firing", "Firing alerts.", labels=["monitor", "condition"]
        )
        for name, (at, result) in sorted(latest.items()):
            checked.add_metric([name], at.timestamp())
            status.add_metric([name], 1 if result["status"] == "firing" else 0)
            drift = result.get("drift")
            if drift:
                share.add_metric([name], drift["drifted_share"])
                for c in drift["columns"]:
                    column.add_metric([name, c["column"], c["method"]], c["statistic"])
            for section in ("model", "serving"):
                for key, value in (result.get(section) or {}).items():
                    metric.add_metric([name, f"{section}_{key}"], value)
        for a in firing:
            alert.add_metric([a.monitor, a.condition], 1)
        yield from (checked, status, share, column, metric, alert)


def _registry(workspace: Workspace) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(MonitorCollector(workspace))
    return registry


def metrics_text(workspace: Workspace) -> str:
    """The latest monitor results in the Prometheus text exposition format.

    Args:
        workspace: The workspace.

    Returns:
        The exposition (what a ``/metrics`` endpoint serves).
    """
    return generate_latest(_registry(workspace)).decode()


def serve_metrics(workspace: Workspace, host: str, port: int) -> None:
    """Serve ``/metrics`` over HTTP in a background thread (each scrape reads the store).

    Args:
        workspace: The workspace.
        host: Address to bind.
        port: Port to bind.

    Raises:
        UserError: If the address cannot be bound.
    """
    try:
        start_http_server(port, addr=host, registry=_registry(workspace))
    except OSError as error:
        raise UserError(f"cannot serve metrics on {host}:{port}: {error.strerror}") from None


def save_sketch(source: str, output: str) -> DatasetSketch:
    """Sketch a reference window and write the sketch to a file.

    Args:
        source: Data (Parquet, CSV, Arrow).
        output: Where to write it (``.sketch.json`` by convention).

    Returns:
        The sketch.

    Raises:
        UserError: If the data cannot be read or the file written.
    """
    sketch = reference_for(source)
    try:
        Path(output).write_text(json.dumps(sketch.to_json()), encoding="utf-8")
    except OSError as error:
        raise UserError(f"{output}: {error.strerror}") from None
    return sketch


def drift(
    reference: str,
    current: str,
    *,
    overrides: dict[str, tuple[str | None, float | None]] | None = None,
    drift_share: float = DRIFT_SHARE,
) -> tuple[DriftReport, DatasetSketch, DatasetSketch]:
    """Compare a window with a reference (data or a saved sketch), column by column.

    Args:
        reference: Reference data, or a ``.sketch.json``.
        current: Current data.
        overrides: ``column -> (method, threshold)``.
        drift_share: Share of drifted columns at which the dataset drifts.

    Returns:
        The report and both sketches.

    Raises:
        UserError: If a file cannot be read, or an override names an unknown column or method.
    """
    ref = reference_for(reference)
    for column, (method, _) in (overrides or {}).items():
        if column not in ref.columns:
            known = list(ref.columns)
            raise UserError(f"no column '{column}' in the reference{did_you_mean(column, known)}")
        if method is not None and method not in METHODS:
            raise UserError(f"unknown method '{method}'{did_you_mean(method, METHODS)}")
    try:
        window, problems = sketch_window(current, ref)
    except WindowError as error:
        raise UserError(str(error)) from None
    if window.rows == 0:
        raise UserError(f"{current}: the current window is empty")
    report = compare(ref, window, problems=problems, overrides=overrides, drift_share=drift_share)
    return report, ref, window


def latest_results(workspace: Workspace) -> dict[str, tuple[datetime, dict[str, Any]]]:
    """The latest check result of every monitor.

    Args:
        workspace: The workspace.

    Returns:
        ``monitor -> (checked_at, result JSON)``.
    """
    with workspace.unit() as unit:
        return unit.repository(MonitorRepository).latest_checks()
