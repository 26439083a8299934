"""Capacity planning for people: a trace's demand history and its forecast, summarised."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keel import progress
from keel.capacity import demand as demand_mod
from keel.capacity import forecast as forecast_mod
from keel.capacity.demand import Demand, Trace


@dataclass(frozen=True, slots=True)
class ClassHistory:
    """One class's demand over the trace.

    Attributes:
        name: The class.
        device_hours: Devices x hours it used.
        mean_devices: Devices in use, mean over the steps.
        peak_devices: The busiest step's mean.
        peak_to_mean: How bursty it is.
        arrivals: Usages that started.
        busiest_arrivals: Arrivals in the busiest step.
    """

    name: str
    device_hours: float
    mean_devices: float
    peak_devices: float
    peak_to_mean: float | None
    arrivals: int
    busiest_arrivals: int


@dataclass(frozen=True, slots=True)
class History:
    """A trace's demand: per class, and what was skipped or clipped on the way."""

    source: str
    format: str
    start: str | None
    step_s: int
    steps: int
    usages: int
    skipped: dict[str, int]
    clipped: dict[str, int]
    grouped: int
    classes: list[ClassHistory]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        data: dict[str, Any] = {
            k: getattr(self, k)
            for k in (
                "source", "format", "start", "step_s", "steps", "usages", "skipped",
                "clipped", "grouped",
            )
        }  # fmt: skip
        data["classes"] = [
            {k: _round(getattr(c, k)) for k in ClassHistory.__slots__} for c in self.classes
        ]
        return data


def _round(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


def load(path: Path, trace_format: str, step_s: int, top: int | None) -> tuple[Trace, Demand]:
    """Read a trace and aggregate it (progress shown for each part)."""
    with progress.step(f"reading {path.name} ({trace_format})"):
        trace = demand_mod.read_trace(path, trace_format)
    with progress.step(f"aggregating {len(trace.classes):,} usages into {step_s:,} s steps"):
        found = demand_mod.demand(trace, step_s, top=top)
    return trace, found


def history(path: Path, trace_format: str, *, step_s: int, top: int | None) -> History:
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
    hours = found.in_use.sum(axis=1) * step_s / 3600.0
    classes = []
    for row, name in enumerate(found.classes):
        mean = float(found.in_use[row].mean())
        peak = float(found.in_use[row].max())
        classes.append(
            ClassHistory(
                name,
                float(hours[row]),
                mean,
                peak,
                peak / mean if mean > 0 else None,
                int(found.arrivals[row].sum()),
                int(found.arrivals[row].max()),
            )
        )
    return History(
        trace.source,
        trace.format,
        None if found.epoch is None else found.epoch.isoformat().replace("+00:00", "Z"),
        step_s,
        int(found.in_use.shape[1]),
        len(trace.classes),
        trace.skipped,
        trace.clipped,
        found.grouped,
        classes,
    )


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
