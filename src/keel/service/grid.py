"""Grid signals for people: a zone's series summarised, with what waiting could save."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from keel.energy import grid
from keel.energy.grid import Signal


def summary(
    folder: Path,
    zone: str,
    signal: Signal = "carbon_location",
    *,
    start: datetime | None = None,
    hours: int | None = None,
    run_hours: int = 4,
    within_hours: int = 24,
) -> dict[str, object]:
    """A zone's series from the CSV files in a folder, summarised.

    Args:
        folder: Where the series files are (``<ZONE>_*.csv``).
        zone: The grid zone.
        signal: Which signal.
        start: First hour to summarise (the whole series by default).
        hours: How many hours from ``start`` (to the end by default).
        run_hours: The run length of the job whose shift potential is reported.
        within_hours: How far ahead that job may finish.

    Returns:
        The series' summary (period, coverage, statistics) and ``shift_saving``: the mean
        share a job of ``run_hours`` saves by starting at the best hour that finishes within
        ``within_hours`` instead of at once (missing hours filled, as ``filled`` says).

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
    found = series.summary()
    found["filled"] = note
    found["shift_run_hours"] = run_hours
    found["shift_within_hours"] = within_hours
    found["shift_saving"] = grid.shift_potential(values, run_hours, within_hours)
    return found
