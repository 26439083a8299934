"""Demand forecasts with prediction intervals, and their rolling-origin backtest.

Models come from ``statsforecast`` (Nixtla), never written here:

* **AutoETS** with the daily season: exponential smoothing whose error, trend and season
  components are chosen by AICc per class;
* **SeasonalNaive**, the baseline: each step repeats the same step one season earlier.

Both give prediction intervals at the level asked for (90% by default).

**Backtest.** :func:`backtest` cuts the last ``windows x horizon`` steps into ``windows``
origins; at each, both models are fitted on what precedes it and forecast ``horizon`` steps.
Per class it reports:

* **MASE**: the mean absolute error over those forecasts, divided by the in-sample mean
  absolute error of the one-season naive forecast (Hyndman and Koehler, 2006). Below 1 beats
  the naive method on average;
* **coverage**: the share of held-out points inside the model's interval (a 90% interval
  should cover close to 90%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from keel.errors import TraceError

if TYPE_CHECKING:
    from keel.capacity.demand import Demand, Floats

MODELS = ("AutoETS", "SeasonalNaive")


@dataclass(frozen=True, slots=True)
class ClassForecast:
    """One class's forecast: mean and interval per step ahead."""

    name: str
    mean: Floats
    low: Floats
    high: Floats


@dataclass(frozen=True, slots=True)
class Score:
    """One model's backtest on one class."""

    mase: float
    coverage: float
    mae: float


@dataclass(frozen=True, slots=True)
class Backtest:
    """Both models' backtest on one class.

    Attributes:
        name: The class.
        points: Held-out points scored.
        scores: By model name.
    """

    name: str
    points: int
    scores: dict[str, Score]


def _season(demand: Demand) -> int:
    """Steps per day (the season), at least 1."""
    return max(1, round(86_400 / demand.step_s))


def _frame(demand: Demand, until: int | None = None) -> Any:
    import pandas as pd

    steps = demand.in_use.shape[1] if until is None else until
    start = demand.epoch or datetime(2000, 1, 1, tzinfo=UTC)
    times = pd.date_range(start.replace(tzinfo=None), periods=steps, freq=f"{demand.step_s}s")
    return pd.DataFrame(
        {
            "unique_id": np.repeat(np.array(demand.classes, dtype=object), steps),
            "ds": np.tile(times, len(demand.classes)),
            "y": demand.in_use[:, :steps].ravel(),
        }
    )


def _models(season: int) -> list[Any]:
    from statsforecast.models import AutoETS, SeasonalNaive

    return [AutoETS(season_length=season), SeasonalNaive(season_length=season)]


def _check(demand: Demand, needed: int, what: str) -> None:
    steps = demand.in_use.shape[1]
    if steps < needed:
        raise TraceError(
            f"{what} needs {needed:,} steps of history; the trace gives {steps:,} at"
            f" {demand.step_s} s",
            [],
            hint="use a shorter step, horizon or fewer windows",
        )


def forecast(demand: Demand, horizon: int, *, level: int = 90) -> list[ClassForecast]:
    """AutoETS forecasts of every class for ``horizon`` steps after the trace.

    Raises:
        TraceError: If the trace is shorter than two seasons.
    """
    from statsforecast import StatsForecast

    season = _season(demand)
    _check(demand, 2 * season, "a forecast")
    from statsforecast.models import AutoETS

    found: Any = StatsForecast(
        models=[AutoETS(season_length=season)], freq=f"{demand.step_s}s"
    ).forecast(df=_frame(demand), h=horizon, level=[level])
    result = []
    for name in demand.classes:
        mine = found[found["unique_id"] == name]
        result.append(
            ClassForecast(
                name,
                np.maximum(mine["AutoETS"].to_numpy(dtype=float), 0.0),
                np.maximum(mine[f"AutoETS-lo-{level}"].to_numpy(dtype=float), 0.0),
                np.maximum(mine[f"AutoETS-hi-{level}"].to_numpy(dtype=float), 0.0),
            )
        )
    return result


def backtest(demand: Demand, horizon: int, windows: int, *, level: int = 90) -> list[Backtest]:
    """Rolling-origin backtest of AutoETS and the seasonal-naive baseline on every class.

    Raises:
        TraceError: If the history before the first origin is shorter than two seasons.
    """
    from statsforecast import StatsForecast

    season = _season(demand)
    _check(demand, 2 * season + windows * horizon, "a backtest")
    found: Any = StatsForecast(models=_models(season), freq=f"{demand.step_s}s").cross_validation(
        df=_frame(demand), h=horizon, n_windows=windows, step_size=horizon, level=[level]
    )
    first_origin = demand.in_use.shape[1] - windows * horizon
    results = []
    for row, name in enumerate(demand.classes):
        mine = found[found["unique_id"] == name]
        actual = mine["y"].to_numpy(dtype=float)
        history = demand.in_use[row, :first_origin]
        scale = float(np.mean(np.abs(history[season:] - history[:-season])))
        scores = {}
        for model in MODELS:
            predicted = mine[model].to_numpy(dtype=float)
            low = mine[f"{model}-lo-{level}"].to_numpy(dtype=float)
            high = mine[f"{model}-hi-{level}"].to_numpy(dtype=float)
            mae = float(np.mean(np.abs(actual - predicted)))
            inside = float(np.mean((actual >= low - 1e-9) & (actual <= high + 1e-9)))
            mase = mae / scale if scale > 0 else math.nan
            scores[model] = Score(mase, inside, mae)
        results.append(Backtest(name, len(actual), scores))
    return results


def step_times(demand: Demand, first: int, count: int) -> list[datetime | None]:
    """The wall-clock time of steps ``first`` to ``first + count`` (``None`` without one)."""
    if demand.epoch is None:
        return [None] * count
    return [demand.epoch + timedelta(seconds=(first + k) * demand.step_s) for k in range(count)]
