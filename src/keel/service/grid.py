"""Grid signals for people: a zone's series summarised, with what waiting could save."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from keel.energy import grid
from keel.energy.grid import SeriesSummary, Signal


@dataclass(frozen=True, slots=True)
class ZoneSummary:
    """A zone's series summarised, and what a job saves by waiting for its best start.

    Attributes:
        series: Period, coverage and statistics.
        filled: What was filled to compute the saving (``None`` if nothing was).
        shift_run_hours: The example job's run length.
        shift_within_hours: How far ahead it may finish.
        shift_saving: The mean share it saves by starting at its best hour instead of at once;
            ``None`` where the signal reaches 0 or below (negative prices), which makes a
            share meaningless.
    """

    series: SeriesSummary
    filled: str | None
    shift_run_hours: int
    shift_within_hours: int
    shift_saving: float | None

    def to_json(self) -> dict[str, Any]:
        """One flat object, the series' fields first."""
        found = asdict(self)
        return {**found.pop("series"), **found}


def summary(
    folder: Path,
    zone: str,
    signal: Signal = "carbon_location",
    *,
    start: datetime | None = None,
    hours: int | None = None,
    run_hours: int = 4,
    within_hours: int = 24,
) -> ZoneSummary:
    """A zone's series from the CSV files in a folder, summarised.

    Args:
        folder: Where the series files are (``<ZONE>_*.csv``).
        zone: The grid zone.
        signal: Which signal.
        start: First hour to summarise (the whole series by default).
        hours: How many hours from ``start`` (to the end by default).
        run_hours: The run length of the job whose shift saving is reported.
        within_hours: How far ahead that job may finish.

    Returns:
        The summary (missing hours filled for the saving, as ``filled`` says).

    Raises:
        GridError: If no file has the series, a file is malformed or the period is not
            covered.
    """
    series = grid.find(folder, zone, signal).hourly()
    if start is not None or hours is not None:
        first = start or series.start
        steps = hours if hours is not None else len(series.values) - series.index(first)
        series = series.window(first, steps)
    values, note = series.filled()
    positive = bool((values > 0).all())
    saving = grid.shift_potential(values, run_hours, within_hours) if positive else None
    return ZoneSummary(series.summary(), note, run_hours, within_hours, saving)
