"""One monitor check: drift, model quality and serving conditions on a window (pure).

A check yields **conditions**, each firing or not: ``drift`` (the dataset drifted), ``schema``
(reference columns the window lacks or has with another type), ``window:<step>`` (the window
cannot be read or is empty), ``performance:<metric>`` (a bound crossed), ``latency:<pNN>``
(above the workload's SLO) and ``errors`` (the error rate above its bound). Alerting turns firing
conditions into alerts (:mod:`keel.service.monitoring`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from keel.estate.resources import MonitorSpec
from keel.monitor.drift import DriftReport, compare
from keel.monitor.performance import model_metrics, serving_metrics
from keel.monitor.sketch import DatasetSketch
from keel.monitor.window import WindowError, sketch_window


@dataclass(frozen=True, slots=True)
class Condition:
    """One condition a check evaluated.

    Attributes:
        key: Stable name (``drift``, ``performance:f1``, ``latency:p99``...).
        firing: Whether it holds (an alert is due).
        message: What was measured against what.
    """

    key: str
    firing: bool
    message: str


@dataclass
class CheckResult:
    """The outcome of one check.

    Attributes:
        monitor: The monitor's name.
        workload: The monitored workload.
        reference_digest: Digest of the reference sketch the window was compared with.
        rows: Rows in the window.
        drift: The drift report, when drift is checked and the window could be read.
        model: Quality metrics, when checked.
        serving: Serving metrics, when checked.
        conditions: Every condition evaluated.
    """

    monitor: str
    workload: str
    reference_digest: str
    rows: int = 0
    drift: DriftReport | None = None
    model: dict[str, float] | None = None
    serving: dict[str, float] | None = None
    conditions: list[Condition] = field(default_factory=list)

    @property
    def firing(self) -> list[Condition]:
        """The conditions that hold."""
        return [c for c in self.conditions if c.firing]

    @property
    def status(self) -> str:
        """``firing`` when any condition holds, else ``ok``."""
        return "firing" if self.firing else "ok"

    def to_json(self) -> dict[str, Any]:
        """The result as JSON."""
        return {
            "monitor": self.monitor,
            "workload": self.workload,
            "status": self.status,
            "reference_digest": self.reference_digest,
            "rows": self.rows,
            "drift": None if self.drift is None else self.drift.to_json(),
            "model": self.model,
            "serving": self.serving,
            "conditions": [
                {"key": c.key, "firing": c.firing, "message": c.message} for c in self.conditions
            ],
        }

    @property
    def digest(self) -> str:
        """``sha256:`` of the result's canonical JSON."""
        canonical = orjson.dumps(self.to_json(), option=orjson.OPT_SORT_KEYS)
        return "sha256:" + hashlib.sha256(canonical).hexdigest()


def _drift(result: CheckResult, spec: MonitorSpec, reference: DatasetSketch, current: Any) -> None:
    assert spec.drift is not None
    window, problems = sketch_window(current, reference)
    result.rows = window.rows
    if window.rows == 0:
        result.conditions.append(Condition("window:drift", True, "the current window is empty"))
        return
    overrides: dict[str, tuple[str | None, float | None]] = {
        c: (t.method, t.threshold) for c, t in spec.drift.columns.items()
    }
    report = compare(
        reference, window, problems=problems, overrides=overrides, drift_share=spec.drift.share
    )
    result.drift = report
    drifted = [c.column for c in report.columns if c.drifted]
    result.conditions.append(
        Condition(
            "drift",
            report.dataset_drift,
            f"{len(drifted)} of {len(report.columns)} columns drifted"
            f" (share {report.drifted_share:.2f}, alert at {report.drift_share:.2f})"
            + (f": {', '.join(drifted[:10])}" if drifted else ""),
        )
    )
    result.conditions.append(
        Condition(
            "schema",
            bool(problems),
            "; ".join(f"{k}: {v}" for k, v in sorted(problems.items())) or "every column present",
        )
    )


def _model(result: CheckResult, spec: MonitorSpec, current: Any) -> None:
    assert spec.performance is not None
    check = spec.performance
    metrics = model_metrics(current, check.task, check.label, check.prediction)
    result.model = metrics
    for floor_name, floor in check.min.items():
        value = metrics.get(floor_name)
        key = f"performance:{floor_name}"
        if value is None:
            message = f"{floor_name} cannot be computed on this window"
            result.conditions.append(Condition(key, True, message))
            continue
        message = f"{floor_name} {value:.4f} (min {floor})"
        result.conditions.append(Condition(key, value < floor, message))
    for ceiling_name, ceiling in check.max.items():
        value = metrics[ceiling_name]
        message = f"{ceiling_name} {value:.4f} (max {ceiling})"
        result.conditions.append(Condition(f"performance:{ceiling_name}", value > ceiling, message))


def _serving(result: CheckResult, spec: MonitorSpec, current: Any, slo_ms: float) -> None:
    assert spec.latency is not None
    check = spec.latency
    metrics = serving_metrics(current, check.column, check.error_column, check.timestamp_column)
    result.serving = metrics
    value = metrics[check.percentile]
    result.conditions.append(
        Condition(
            f"latency:{check.percentile}",
            value > slo_ms,
            f"{check.percentile} {value:.1f} ms (SLO {slo_ms:g} ms)",
        )
    )
    if check.max_error_rate is not None and "error_rate" in metrics:
        rate = metrics["error_rate"]
        result.conditions.append(
            Condition(
                "errors",
                rate > check.max_error_rate,
                f"error rate {rate:.4f} (max {check.max_error_rate})",
            )
        )


def run_check(
    name: str,
    spec: MonitorSpec,
    reference: DatasetSketch,
    current: Any,
    slo_ms: float | None = None,
) -> CheckResult:
    """Check a window against a monitor's conditions.

    A window that cannot be read is a firing ``window`` condition, never an exception and never
    a silent "no drift".

    Args:
        name: The monitor's name.
        spec: Its spec.
        reference: The reference sketch.
        current: The window (a path or a data frame).
        slo_ms: The workload's latency SLO (needed when latency is checked).

    Returns:
        The result.
    """
    result = CheckResult(name, spec.workload, reference.digest)
    if spec.drift is not None:
        _guarded(result, "drift", lambda: _drift(result, spec, reference, current))
    if spec.performance is not None:
        _guarded(result, "performance", lambda: _model(result, spec, current))
    if spec.latency is not None and slo_ms is not None:
        _guarded(result, "latency", lambda: _serving(result, spec, current, slo_ms))
    return result


def _guarded(result: CheckResult, step: str, run: Callable[[], None]) -> None:
    try:
        run()
    except WindowError as error:
        result.conditions.append(Condition(f"window:{step}", True, str(error)))
