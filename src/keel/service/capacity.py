"""Capacity planning for people: a trace's demand history and its forecast, summarised."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keel import progress, wire
from keel.capacity import demand as demand_mod
from keel.capacity import forecast as forecast_mod
from keel.capacity.demand import Demand, Trace
from keel.errors import UserError
from keel.service.stored import estate_in
from keel.service.workspace import Workspace
from keel.store.runs import RunRepository


def _round(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


def load(path: Path, trace_format: str, step_s: int, top: int | None) -> tuple[Trace, Demand]:
    """Read a trace and aggregate it (progress shown for each part)."""
    with progress.step(f"reading {path.name} ({trace_format})"):
        trace = demand_mod.read_trace(path, trace_format)
    with progress.step(f"aggregating {len(trace.classes):,} usages into {step_s:,} s steps"):
        found = demand_mod.demand(trace, step_s, top=top)
    return trace, found


def history(path: Path, trace_format: str, *, step_s: int, top: int | None) -> wire.CapacityHistory:
    """The demand history of a trace file.

    Args:
        path: The trace file.
        trace_format: Its format (``keel.capacity.demand.FORMATS``).
        step_s: Seconds per step.
        top: Keep the ``top`` largest classes, the rest as ``other``.

    Returns:
        The summary.
    """
    trace, found = load(path, trace_format, step_s, top)
    return summarise(trace, found)


def summarise(trace: Trace, found: Demand) -> wire.CapacityHistory:
    """A trace's demand series summarised per class."""
    hours = found.in_use.sum(axis=1) * found.step_s / 3600.0
    classes = []
    for row, name in enumerate(found.classes):
        mean = float(found.in_use[row].mean())
        peak = float(found.in_use[row].max())
        classes.append(
            wire.CapacityClass(
                name=name,
                device_hours=round(float(hours[row]), 4),
                mean_devices=round(mean, 4),
                peak_devices=round(peak, 4),
                peak_to_mean=round(peak / mean, 4) if mean > 0 else None,
                arrivals=int(found.arrivals[row].sum()),
                busiest_arrivals=int(found.arrivals[row].max()),
            )
        )
    return wire.CapacityHistory(
        source=trace.source,
        format=trace.format,
        start=None if found.epoch is None else found.epoch.isoformat().replace("+00:00", "Z"),
        step_s=found.step_s,
        steps=int(found.in_use.shape[1]),
        usages=len(trace.classes),
        skipped=trace.skipped,
        clipped=trace.clipped,
        grouped=found.grouped,
        classes=classes,
    )


def runs_history(
    workspace: Workspace,
    *,
    step_s: int,
    by: str,
    top: int | None,
    hidden: Callable[[set[str]], set[str]],
) -> wire.CapacityHistory:
    """Demand from Keel's own run records.

    Each run held its workload's devices per replica from its start to its end (or to now,
    if it is still running).

    Args:
        workspace: The workspace.
        step_s: Seconds per step.
        by: Class by ``pool`` (``site/pool``) or by ``workload``.
        top: Keep the ``top`` largest classes, the rest as ``other``.
        hidden: The workloads among those given that the caller may not read; their runs are
            left out, uncounted.

    Raises:
        UserError: If ``by`` is unknown.
        TraceError: If no run has started yet.
    """
    if by not in ("pool", "workload"):
        raise UserError(f"--by {by!r}: use pool or workload")
    with workspace.unit(snapshot=True) as unit:
        runs = unit.repository(RunRepository).all()
        specs = estate_in(unit).workloads()
    secret = hidden({run.workload for run in runs})
    now = datetime.now(UTC)
    skipped: Counter[str] = Counter()
    usages = []
    for run in runs:
        spec = specs.get(run.workload)
        if run.workload in secret:  # not counted either: a count would tell they exist
            continue
        if run.started_at is None:
            skipped["runs that never started"] += 1
        elif spec is None:
            skipped["runs of workloads no longer in the estate"] += 1
        else:
            name = f"{run.site}/{run.pool}" if by == "pool" else run.workload
            usages.append((name, float(spec.compute.count), run.started_at, run.finished_at))
    running = sum(1 for u in usages if u[3] is None)
    trace = demand_mod.from_usages(
        "runs", [(n, d, s, e or now) for n, d, s, e in usages], skipped=dict(skipped)
    )
    if running:
        trace = replace(trace, clipped={"still running (counted to now)": running})
    return summarise(trace, demand_mod.demand(trace, step_s, top=top))


@dataclass(frozen=True, slots=True)
class ClassOutlook:
    """One class's forecast, and how both models did in the backtest."""

    name: str
    mean_devices: list[float]
    low_devices: list[float]
    high_devices: list[float]
    backtest_points: int
    autoets_mase: float
    autoets_coverage: float
    naive_mase: float
    naive_coverage: float


@dataclass(frozen=True, slots=True)
class Outlook:
    """Forecasts of every class after the trace, with the backtest that judges them."""

    source: str
    step_s: int
    horizon_steps: int
    level: int
    windows: int
    first: str | None
    classes: list[ClassOutlook]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {
            k: getattr(self, k)
            for k in ("source", "step_s", "horizon_steps", "level", "windows", "first")
        }
        data["classes"] = [
            {
                k: [round(v, 3) for v in getattr(c, k)]
                if isinstance(getattr(c, k), list)
                else _round(getattr(c, k))
                for k in ClassOutlook.__slots__
            }
            for c in self.classes
        ]
        return data


def outlook(
    path: Path,
    trace_format: str,
    *,
    step_s: int,
    top: int | None,
    horizon_steps: int,
    level: int,
    windows: int,
) -> Outlook:
    """Forecast every class of a trace, after backtesting the model against seasonal naive.

    Returns:
        The forecasts and the backtest's MASE and interval coverage per class.
    """
    _trace, found = load(path, trace_format, step_s, top)
    classes = len(found.classes)
    with progress.step(f"backtesting {classes} class(es) at {windows} origins"):
        tested = forecast_mod.backtest(found, horizon_steps, windows, level=level)
    with progress.step(f"forecasting {classes} class(es) {horizon_steps} steps ahead"):
        ahead = forecast_mod.forecast(found, horizon_steps, level=level)
    times = forecast_mod.step_times(found, int(found.in_use.shape[1]), 1)
    first = None if times[0] is None else times[0].isoformat().replace("+00:00", "Z")
    result = []
    for future, scored in zip(ahead, tested, strict=True):
        ets, naive = scored.scores["AutoETS"], scored.scores["SeasonalNaive"]
        result.append(
            ClassOutlook(
                future.name,
                [float(v) for v in future.mean],
                [float(v) for v in future.low],
                [float(v) for v in future.high],
                scored.points,
                ets.mase,
                ets.coverage,
                naive.mase,
                naive.coverage,
            )
        )
    return Outlook(str(path), step_s, horizon_steps, level, windows, first, result)
