"""Grid signals: hourly carbon intensity and electricity price per grid zone, read from files.

A :class:`GridSeries` is one signal of one zone at a fixed step. Three signals are kept apart
and never mixed in one number:

* ``carbon_location``: the average (location-based) intensity of the electricity consumed,
  gCO2e/kWh, as Electricity Maps publishes it (its *direct* figure: combustion only, not
  life-cycle);
* ``carbon_marginal``: the intensity of the plant that answers one more kWh (WattTime's MOER),
  gCO2e/kWh;
* ``price``: the day-ahead price, USD/MWh (it may be negative).

Files read (the format is recognised by its header):

* **Electricity Maps** hourly exports (``Datetime (UTC), ..., Carbon Intensity gCO₂eq/kWh
  (direct), ..., Data Estimated``): hours the source estimated are flagged;
* **prices** (``Datetime (UTC), Datetime (Local), Price (USD/MWh)``);
* **Let's Wait Awhile** series (``Time, Carbon Intensity``; times in UTC);
* **MOER** series (``time, moer, f1...``: kg CO2/kWh, converted to g);
* **Keel's own** ``time, <signal>_<unit>[, estimated]``: ``carbon_location_gco2e_per_kwh``,
  ``carbon_marginal_gco2e_per_kwh`` or ``price_usd_per_mwh``; every time carries its UTC
  offset.

Nothing is invented: an hour absent from the file is *missing* (``NaN``), and filling it is an
explicit step (:meth:`GridSeries.filled`) whose note the caller must show. Unsorted or duplicate
times, times without a UTC offset where one is needed, unknown headers and values out of range
are errors naming the file and line.
"""

from __future__ import annotations

import csv
import gzip
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from keel.errors import GridError, Problem

Signal = Literal["carbon_location", "carbon_marginal", "price"]
UNITS: dict[str, str] = {
    "carbon_location": "gCO2e/kWh",
    "carbon_marginal": "gCO2e/kWh",
    "price": "USD/MWh",
}
KEEL_COLUMNS: dict[str, Signal] = {
    "carbon_location_gco2e_per_kwh": "carbon_location",
    "carbon_marginal_gco2e_per_kwh": "carbon_marginal",
    "price_usd_per_mwh": "price",
}
RANGES: dict[str, tuple[float, float]] = {
    "carbon_location": (0.0, 2000.0),
    "carbon_marginal": (0.0, 3000.0),
    "price": (-10_000.0, 100_000.0),
}
"""Plausible values per signal; outside them a value is an error (a unit mix-up, usually)."""

MAX_ROWS = 2_000_000
"""More rows than this in one file is refused (over 20 years of 5-minute steps)."""

MAX_STEPS = 4 * MAX_ROWS
"""A series spanning more steps than this (times far apart at a fine step) is refused before
its grid is built, so that two rows cannot ask for gigabytes."""

EM_CARBON = "Carbon Intensity gCO₂eq/kWh (direct)"


@dataclass(frozen=True, slots=True)
class GridSeries:
    """One signal of one grid zone at a fixed step.

    Attributes:
        zone: The grid zone (``DE-LU``, ``US-CAL-CISO``).
        signal: Which signal.
        start: Time of the first value (UTC).
        step_s: Seconds between values.
        values: One value per step, ``NaN`` where the source has none.
        estimated: Whether the source estimated each value.
        source: Where it was read from.
    """

    zone: str
    signal: Signal
    start: datetime
    step_s: int
    values: npt.NDArray[np.float64]
    estimated: npt.NDArray[np.bool_]
    source: str

    @property
    def unit(self) -> str:
        """The unit of the values."""
        return UNITS[self.signal]

    @property
    def end(self) -> datetime:
        """The end of the last step."""
        return self.start + timedelta(seconds=self.step_s * len(self.values))

    @property
    def missing(self) -> npt.NDArray[np.bool_]:
        """Whether each step has no value."""
        return np.isnan(self.values)

    def index(self, when: datetime) -> int:
        """The step a time falls in (may lie outside the series)."""
        return math.floor((when - self.start).total_seconds() / self.step_s)

    def window(self, start: datetime, steps: int) -> GridSeries:
        """The steps from ``start`` on.

        Raises:
            GridError: If the series does not cover them.
        """
        first = self.index(start)
        if first < 0 or first + steps > len(self.values) or steps < 1:
            raise GridError(
                f"{self.zone} {self.signal} covers {_iso(self.start)} to {_iso(self.end)}, not"
                f" {steps} step(s) from {_iso(start)}",
                [],
                hint="load a series that covers the planning horizon",
            )
        part = slice(first, first + steps)
        return replace(
            self,
            start=self.start + timedelta(seconds=first * self.step_s),
            values=self.values[part],
            estimated=self.estimated[part],
        )

    def hourly(self) -> GridSeries:
        """The series at one-hour steps: the mean of each hour's values.

        An hour is the mean of the values it has (a source at 30-minute steps on a 15-minute
        grid has two); it is missing only if it has none, and estimated if any of its values
        is.

        Raises:
            GridError: If the step does not divide an hour or the series does not start on one.
        """
        if self.step_s == 3600:
            return self
        if 3600 % self.step_s or self.start.minute or self.start.second:
            raise GridError(
                f"{self.source}: a step of {self.step_s} s starting {_iso(self.start)} does not"
                " fold into whole hours",
                [],
            )
        per = 3600 // self.step_s
        hours = len(self.values) // per
        parts = self.values[: hours * per].reshape(hours, per)
        present = (~np.isnan(parts)).sum(axis=1)
        values = np.where(present > 0, np.nansum(parts, axis=1) / np.maximum(present, 1), np.nan)
        estimated = np.asarray(self.estimated[: hours * per].reshape(hours, per).any(axis=1))
        return replace(self, step_s=3600, values=values, estimated=estimated)

    def filled(self) -> tuple[npt.NDArray[np.float64], str | None]:
        """Values with missing steps replaced by the mean of the present ones, and a note.

        Returns:
            The values, and a note saying what was filled (``None`` if nothing was).

        Raises:
            GridError: If no value at all is present.
        """
        missing = self.missing
        if not missing.any():
            return self.values, None
        if missing.all():
            raise GridError(
                f"{self.zone} {self.signal} has no value from {_iso(self.start)} to"
                f" {_iso(self.end)}",
                [],
                hint="load a series with data for the horizon, or plan without this zone",
            )
        mean = float(np.nanmean(self.values))
        note = (
            f"{int(missing.sum())} of {len(self.values)} step(s) of {self.zone} {self.signal}"
            f" missing, filled with the mean of the rest ({mean:.1f} {self.unit})"
        )
        return np.where(missing, mean, self.values), note

    def summary(self) -> SeriesSummary:
        """Period, coverage and statistics of the values, for people and ``-o json``."""
        present = self.values[~self.missing]
        has = len(present) > 0
        return SeriesSummary(
            zone=self.zone,
            signal=self.signal,
            unit=self.unit,
            start=_iso(self.start),
            end=_iso(self.end),
            step_s=self.step_s,
            steps=len(self.values),
            missing=int(self.missing.sum()),
            estimated=int(self.estimated.sum()),
            source=self.source,
            mean=float(present.mean()) if has else None,
            min=float(present.min()) if has else None,
            p10=float(np.percentile(present, 10)) if has else None,
            p90=float(np.percentile(present, 90)) if has else None,
            max=float(present.max()) if has else None,
        )


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """What :meth:`GridSeries.summary` reports.

    The period, the coverage, and statistics of the values present (``None`` when none is).
    """

    zone: str
    signal: Signal
    unit: str
    start: str
    end: str
    step_s: int
    steps: int
    missing: int
    estimated: int
    source: str
    mean: float | None
    min: float | None
    p10: float | None
    p90: float | None
    max: float | None


def shift_potential(values: npt.NDArray[np.float64], run_steps: int, within_steps: int) -> float:
    """What waiting can save, for one job alone: the mean over every start in the series.

    For each step ``t`` with a whole look-ahead, a job of ``run_steps`` started at ``t`` is
    compared with the same job started at the best step in ``[t, t + within_steps -
    run_steps]`` (finished within ``within_steps``). Returns the mean of ``1 - best / now``
    over the starts: what a per-job optimiser saves a typical job, capacity ignored (for
    carbon intensity, the share of its emissions).

    Args:
        values: The signal, one value per step, no value missing.
        run_steps: The job's run length in steps.
        within_steps: How far ahead it may finish, in steps.

    Returns:
        The saving as a share (0.42: 42%).

    Raises:
        GridError: If the series is too short, has a missing value or a value of 0 or below.
    """
    if np.isnan(values).any():
        raise GridError("fill or drop the missing steps before computing a saving", [])
    if (values <= 0).any():  # a negative price makes 1 - best / now meaningless (over 100%)
        raise GridError("a saving as a share needs a positive signal; this one reaches 0", [])
    if not 0 < run_steps <= within_steps or len(values) < within_steps:
        raise GridError(
            f"need 0 < run ({run_steps}) <= look-ahead ({within_steps}) <= the series'"
            f" {len(values)} step(s)",
            [],
        )
    sums = np.convolve(values, np.ones(run_steps), mode="valid")  # sums[t]: a run from t
    starts = len(values) - within_steps + 1
    ahead = within_steps - run_steps + 1
    best = np.lib.stride_tricks.sliding_window_view(sums, ahead)[:starts].min(axis=1)
    return float(np.mean(1 - best / sums[:starts]))


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class _Format:
    time: str
    value: str
    signal: Signal
    scale: float
    naive_is_utc: bool
    estimated: str | None = None


def _format(header: list[str], path: str) -> _Format:
    if "Datetime (UTC)" in header and EM_CARBON in header:
        return _Format("Datetime (UTC)", EM_CARBON, "carbon_location", 1, True, "Data Estimated")
    if "Datetime (UTC)" in header and "Price (USD/MWh)" in header:
        return _Format("Datetime (UTC)", "Price (USD/MWh)", "price", 1, True)
    if header[:2] == ["Time", "Carbon Intensity"]:
        return _Format("Time", "Carbon Intensity", "carbon_location", 1, True)
    if header[:2] == ["time", "moer"]:
        return _Format("time", "moer", "carbon_marginal", 1000, False)
    if len(header) >= 2 and header[0] == "time" and header[1] in KEEL_COLUMNS:
        estimated = "estimated" if "estimated" in header else None
        return _Format("time", header[1], KEEL_COLUMNS[header[1]], 1, False, estimated)
    raise GridError(
        f"{path}: not a grid series this reader knows",
        [
            Problem(
                path,
                1,
                "",
                "header",
                f"got {', '.join(header[:4]) or 'nothing'}; expected an Electricity Maps or"
                " price export, Time,Carbon Intensity, time,moer, or time plus one of "
                + ", ".join(KEEL_COLUMNS),
            )
        ],
    )


def _parse_time(cell: str, naive_is_utc: bool) -> datetime:
    when = datetime.fromisoformat(cell.strip().replace("Z", "+00:00"))
    if when.tzinfo is None:
        if not naive_is_utc:
            raise ValueError(f"time {cell!r} has no UTC offset")
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _rows(path: Path) -> Iterator[list[str]]:
    """The CSV rows of a file, gzip-compressed or not; unreadable bytes are a GridError."""
    try:
        handle = (
            gzip.open(path, "rt", encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
            if path.suffix == ".gz"
            else path.open(newline="", encoding="utf-8-sig")
        )
    except OSError as exc:
        raise GridError(f"cannot read {path}: {exc.strerror}", []) from exc
    try:
        with handle:
            yield from csv.reader(handle)
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise GridError(f"cannot read {path}: {exc}", []) from exc


def zone_of(path: Path) -> str:
    """A file's zone from its name: what comes before the first ``_`` (``DE-LU_2024...``)."""
    return path.name.split("_", 1)[0].split(".", 1)[0]


def read(path: Path, *, zone: str | None = None) -> GridSeries:
    """Read one series from a CSV file.

    Args:
        path: The file.
        zone: The grid zone (by default, from the file name: see :func:`zone_of`).

    Returns:
        The series, at the file's step, missing steps as ``NaN``.

    Raises:
        GridError: Naming every bad line (up to 20): unreadable times or values, times out of
            order or repeated, a step that changes, values out of range for the signal.
    """
    name = str(path)
    rows = _rows(path)
    header = next(rows, [])
    form = _format([cell.strip() for cell in header], name)
    columns = [cell.strip() for cell in header]
    at = columns.index(form.time)
    value_at = columns.index(form.value)
    estimated_at = columns.index(form.estimated) if form.estimated in columns else None
    times: list[datetime] = []
    values: list[float] = []
    estimated: list[bool] = []
    lines: list[int] = []
    problems: list[Problem] = []
    low, high = RANGES[form.signal]
    for line, row in enumerate(rows, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(times) >= MAX_ROWS:
            raise GridError(f"{name}: more than {MAX_ROWS:,} rows", [])
        try:
            when = _parse_time(row[at], form.naive_is_utc)
            cell = row[value_at].strip()
            value = float(cell) * form.scale if cell else math.nan
        except (ValueError, IndexError) as exc:
            problems.append(Problem(name, line, "", form.value, str(exc)))
            continue
        if not math.isnan(value) and not low <= value <= high:
            problems.append(
                Problem(
                    name,
                    line,
                    "",
                    form.value,
                    f"{value:g} {UNITS[form.signal]} is outside {low:g}..{high:g}: is the"
                    " unit right?",
                )
            )
        flag = estimated_at is not None and row[estimated_at].strip().lower() == "true"
        times.append(when)
        values.append(value)
        estimated.append(flag)
        lines.append(line)
    problems += _order_problems(name, times, lines)
    if problems:
        raise GridError(f"{len(problems)} problem(s) in {name}", problems[:20])
    if not times:
        raise GridError(f"{name}: no values", [Problem(name, 2, "", "", "the file has no rows")])
    return _regular(zone or zone_of(path), form.signal, name, times, values, estimated, lines)


def from_points(  # noqa: PLR0917 (the columns of one answer, read together)
    zone: str,
    signal: Signal,
    name: str,
    times: list[datetime],
    values: list[float],
    estimated: list[bool],
) -> GridSeries:
    """A series from points an API answered (the N-th point is "line" N in errors).

    The checks a file gets: values in the signal's range, times increasing, on one step.

    Raises:
        GridError: Naming every bad point (up to 20), or when there is none.
    """
    low, high = RANGES[signal]
    lines = list(range(1, len(times) + 1))
    problems = [
        Problem(name, line, "", signal, f"{value:g} {UNITS[signal]} is outside {low:g}..{high:g}")
        for line, value in zip(lines, values, strict=True)
        if not math.isnan(value) and not low <= value <= high
    ]
    problems += _order_problems(name, times, lines)
    if problems:
        raise GridError(f"{len(problems)} problem(s) in {name}", problems[:20])
    if not times:
        raise GridError(f"{name}: no values", [])
    return _regular(zone, signal, name, times, values, estimated, lines)


def _order_problems(name: str, times: list[datetime], lines: list[int]) -> list[Problem]:
    problems = []
    for i in range(1, len(times)):
        if times[i] == times[i - 1]:
            problems.append(Problem(name, lines[i], "", "time", f"{_iso(times[i])} is repeated"))
        elif times[i] < times[i - 1]:
            problems.append(
                Problem(
                    name,
                    lines[i],
                    "",
                    "time",
                    f"{_iso(times[i])} comes after {_iso(times[i - 1])}: times must increase",
                )
            )
    return problems


def _regular(  # noqa: PLR0917 (the columns of one file, read together)
    zone: str,
    signal: Signal,
    name: str,
    times: list[datetime],
    values: list[float],
    estimated: list[bool],
    lines: list[int],
) -> GridSeries:
    """Place the values on a regular grid of steps; absent steps are missing."""
    seconds = np.array([(t - times[0]).total_seconds() for t in times])
    gaps = np.diff(seconds)
    # The step: the greatest common divisor of the spacings, so that a source that changes
    # resolution (30 then 15 minutes) reads as one series, and a hole as missing steps. Times
    # off by seconds would make that divisor meaningless: then the most common spacing is the
    # step, and the times off it are errors.
    step = 3600
    if len(gaps):
        whole = np.round(gaps).astype(np.int64)
        divisor = int(np.gcd.reduce(whole))
        spacings, counts = np.unique(whole, return_counts=True)
        exact = np.allclose(gaps, whole)
        step = divisor if exact and divisor >= 60 else int(spacings[np.argmax(counts)])
    offsets = seconds / step
    off_grid = np.flatnonzero(np.abs(offsets - np.round(offsets)) > 1e-9)
    if len(off_grid):
        problems = [
            Problem(name, lines[i], "", "time", f"{_iso(times[i])} is off the {step} s step")
            for i in off_grid[:20]
        ]
        raise GridError(f"{len(off_grid)} time(s) off the step in {name}", problems)
    slots = np.round(offsets).astype(np.int64)
    if slots[-1] >= MAX_STEPS:
        raise GridError(
            f"{name}: {_iso(times[0])} to {_iso(times[-1])} at a {step} s step is"
            f" {int(slots[-1]) + 1:,} steps, over the {MAX_STEPS:,} a series may have",
            [Problem(name, lines[-1], "", "time", "this time is too far from the first")],
        )
    full = np.full(int(slots[-1]) + 1, math.nan)
    full[slots] = values
    flags = np.zeros(len(full), dtype=np.bool_)
    flags[slots] = estimated
    return GridSeries(zone, signal, times[0], step, full, flags, name)


@dataclass(frozen=True, slots=True)
class GridForecast:
    """Forecasts of a signal, issued at every step for the steps that follow.

    Attributes:
        actual: The signal as it happened (its ``start`` and ``step_s`` are the issue times').
        ahead: ``ahead[t, k]``: the value forecast at step ``t`` for step ``t + k + 1``.
    """

    actual: GridSeries
    ahead: npt.NDArray[np.float64]

    def issued(self, step: int, steps: int) -> npt.NDArray[np.float64]:
        """The forecast made at ``step`` for the ``steps`` steps from it on.

        The step it is made in is forecast too (by the one-step-ahead value made a step
        earlier, as a planner running at that moment would hold it).

        Raises:
            GridError: If the forecast does not reach that far.
        """
        if not 0 < step < len(self.ahead) or not 0 < steps <= self.ahead.shape[1] + 1:
            raise GridError(
                f"{self.actual.source}: forecasts cover {self.ahead.shape[1] + 1} step(s)"
                f" from steps 1..{len(self.ahead) - 1}; asked for {steps} from step {step}",
                [],
            )
        return np.concatenate([[self.ahead[step - 1, 0]], self.ahead[step, : steps - 1]])


def read_forecast(path: Path, *, zone: str | None = None) -> GridForecast:
    """Read a MOER file with forecast columns (``time, moer, f1, ..., fN``).

    Column ``fK`` of the row at time ``t`` is taken as the forecast for ``t + K`` steps (its
    error against the actuals is smallest at that lag in the CAISO files). Values are
    converted from kg to g per kWh like the actuals.

    Raises:
        GridError: As :func:`read` does, or if the forecast columns are missing or hold a
            value that is not a number.
    """
    actual = read(path, zone=zone)
    rows = _rows(path)
    header = [cell.strip() for cell in next(rows, [])]
    columns = [i for i, name in enumerate(header) if re.fullmatch(r"f\d+", name)]
    if header[:2] != ["time", "moer"] or not columns:
        raise GridError(
            f"{path}: no forecast columns",
            [Problem(str(path), 1, "", "header", "expected time, moer, f1, f2, ...")],
        )
    ahead = np.full((len(actual.values), len(columns)), math.nan)
    for line, row in enumerate(rows, start=2):
        step = actual.index(_parse_time(row[0], False))
        try:
            ahead[step] = [float(row[i]) * 1000 for i in columns]
        except (ValueError, IndexError) as exc:
            raise GridError(
                f"{path}:{line}: a forecast is not a number",
                [Problem(str(path), line, "", "f1..", str(exc))],
            ) from None
    return GridForecast(actual, ahead)


def find(folder: Path, zone: str, signal: Signal) -> GridSeries:
    """The series of a zone and signal among the CSV files of a folder (by file name).

    Files are named ``<ZONE>_...csv`` or ``.csv.gz`` (as the shared data are); the first whose
    header holds the signal is read.

    Raises:
        GridError: If no file there has the zone's signal.
    """
    candidates = (
        sorted([*folder.rglob(f"{zone}_*.csv"), *folder.rglob(f"{zone}_*.csv.gz")])
        if folder.is_dir()
        else []
    )
    for path in candidates:
        header = [cell.strip() for cell in next(_rows(path), [])]
        try:
            if _format(header, str(path)).signal == signal:
                return read(path, zone=zone)
        except GridError:
            continue
    raise GridError(
        f"no {signal} series for zone {zone} under {folder}",
        [],
        hint=f"add a file named {zone}_<anything>.csv (see docs/carbon.md for the formats)",
    )
