"""Demand history: accelerator usage read from traces, and per-class demand series.

A trace is a list of **usages**: one class of work held ``devices`` accelerators from
``start_s`` to ``end_s`` (seconds from the trace's start). Four formats are read:

=====================  ==================================================================
format                 what a row is, and how it becomes a usage
=====================  ==================================================================
``alibaba-gpu-2025``   an inference instance (``disaggregated_DLRM_trace.csv``, NSDI '25):
                       class ``app_name``, devices ``gpu_request``, from ``creation_time``
                       to ``deletion_time``; an empty creation time means it ran before the
                       trace began (it starts at 0), an empty deletion time that it ran past
                       its end (it ends at the last time the trace knows)
``alibaba-gpu-2023``   a pod (``openb_pod_list_*.csv``, ATC '23): class ``qos``, devices
                       ``num_gpu x gpu_milli / 1000`` (fractional GPUs), from
                       ``creation_time`` to ``deletion_time``
``alibaba-genai-2026`` a request (``lora_request_trace.csv``): class ``predict_type``, one
                       GPU from ``gmt_create`` for ``exec_time_seconds``
``keel``               Keel's own: ``start`` (ISO 8601 with offset), ``class``,
                       ``devices``, ``duration_s``; rows in time order
=====================  ==================================================================

Rows without accelerators are skipped and counted; so are requests that never ran (no
execution time). Nothing else is dropped: an unreadable value, a negative duration, a time out
of order in the ``keel`` format, or a header that lacks a column is a ``TraceError`` naming
the file, row and column.

:func:`demand` turns usages into per-class series at a fixed step: the **devices in use** (the
time-weighted mean over each step, so a 90-second request counts for 90 seconds) and the
**arrivals** in each step.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from keel.errors import Problem, TraceError

Floats = npt.NDArray[np.float64]

TraceFormat = Literal["alibaba-gpu-2025", "alibaba-gpu-2023", "alibaba-genai-2026", "keel"]
FORMATS: tuple[TraceFormat, ...] = (
    "alibaba-gpu-2025",
    "alibaba-gpu-2023",
    "alibaba-genai-2026",
    "keel",
)

COLUMNS: dict[TraceFormat, tuple[str, ...]] = {
    "alibaba-gpu-2025": ("app_name", "gpu_request", "creation_time", "deletion_time"),
    "alibaba-gpu-2023": ("qos", "num_gpu", "gpu_milli", "creation_time", "deletion_time"),
    "alibaba-genai-2026": ("gmt_create", "predict_type", "exec_time_seconds"),
    "keel": ("start", "class", "devices", "duration_s"),
}
"""The columns each format needs (others are ignored)."""

MAX_ROWS = 5_000_000
MAX_STEPS = 1_000_000
MAX_CELLS = 20_000_000
"""Classes x steps a demand series may hold (8 bytes each): bounds the memory a request takes."""
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class Trace:
    """Usages read from one file.

    Attributes:
        source: The file.
        format: Its format.
        epoch: The wall-clock time of second 0, when the format has one (the Alibaba GPU
            traces count seconds from an unnamed start).
        classes: Class per usage.
        devices: Devices per usage.
        start_s: Start per usage, seconds from second 0.
        end_s: End per usage.
        skipped: Rows left out, by reason (counted, never silent).
        clipped: Usages whose start or end lay outside the trace, by which side.
    """

    source: str
    format: TraceFormat
    epoch: datetime | None
    classes: list[str]
    devices: Floats
    start_s: Floats
    end_s: Floats
    skipped: dict[str, int] = field(default_factory=dict)
    clipped: dict[str, int] = field(default_factory=dict)


def _rows(path: Path) -> Iterator[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.reader(handle)


def _number(cell: str) -> float | None:
    text = cell.strip()
    if not text or text.lower() == "nan":
        return None
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def read_trace(path: Path, trace_format: str) -> Trace:
    """Read a trace file in one of :data:`FORMATS`.

    Raises:
        TraceError: If the format is unknown, a needed column is missing, or rows are bad
            (each named with its line and column, up to 20).
    """
    if trace_format not in COLUMNS:
        raise TraceError(
            f"unknown trace format {trace_format!r}: use one of {', '.join(FORMATS)}", []
        )
    fmt: TraceFormat = trace_format
    name = str(path)
    try:
        rows = _rows(path)
        header = [cell.strip() for cell in next(rows, [])]
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{name}: cannot be read: {exc}", []) from None
    missing = [c for c in COLUMNS[fmt] if c not in header]
    if missing:
        raise TraceError(
            f"{name} is not a {fmt} trace: no column {', '.join(missing)}",
            [Problem(name, 1, "", "header", f"found {', '.join(header[:12]) or 'nothing'}")],
            hint=f"formats: {', '.join(FORMATS)} (docs/capacity.md)",
        )
    read = _Reading(name, fmt, {column: header.index(column) for column in COLUMNS[fmt]})
    try:
        for line, row in enumerate(rows, start=2):
            read.row(line, row)
    except UnicodeDecodeError as exc:
        raise TraceError(f"{name}: cannot be read: {exc}", []) from None
    return read.trace()


class _Reading:
    """The rows of one trace as they are read."""

    def __init__(self, name: str, fmt: TraceFormat, at: dict[str, int]) -> None:
        self.name, self.fmt, self.at = name, fmt, at
        self.reader = _READERS[fmt]
        self.classes: list[str] = []
        self.values: list[tuple[float, float | None, float | None]] = []
        self.problems: list[Problem] = []
        self.skipped: Counter[str] = Counter()
        self.epoch: datetime | None = None
        self.last: float | None = None

    def row(self, line: int, row: list[str]) -> None:
        if not row or not any(cell.strip() for cell in row) or len(self.problems) >= MAX_PROBLEMS:
            return
        if len(self.classes) + self.skipped.total() >= MAX_ROWS:
            raise TraceError(f"{self.name}: more than {MAX_ROWS:,} rows", [])
        try:
            found = self.reader({c: row[i] if i < len(row) else "" for c, i in self.at.items()})
        except _BadRowError as bad:
            self.problems.append(Problem(self.name, line, "", bad.column, bad.message))
            return
        if isinstance(found, str):
            self.skipped[found] += 1
            return
        cls, devices, start, end, when = found
        if when is not None:  # formats with wall-clock times count from the first row's
            self.epoch = self.epoch or when
            start = (when - self.epoch).total_seconds()
            if self.fmt == "keel" and self.last is not None and start < self.last:
                message = "comes before the row above: sort the rows by start"
                self.problems.append(Problem(self.name, line, "", "start", message))
            self.last = start
            end = None if end is None else start + end
        self.classes.append(cls)
        self.values.append((devices, start, end))

    def trace(self) -> Trace:
        if self.problems:
            raise TraceError(f"{len(self.problems)} bad row(s) in {self.name}", self.problems)
        if not self.classes:
            raise TraceError(
                f"{self.name}: no usage with accelerators", [], hint=_skips(self.skipped)
            )
        known = [t for v in self.values for t in v[1:] if t is not None]
        first, last = min(known), max(known)
        starts = np.array([first if v[1] is None else v[1] for v in self.values])
        ends = np.array([last if v[2] is None else v[2] for v in self.values])
        clipped = {
            "began before the trace": sum(1 for v in self.values if v[1] is None),
            "ran past the trace's end": sum(1 for v in self.values if v[2] is None),
        }
        epoch = self.epoch
        if epoch is not None:  # second 0 is the first row's time; make it the earliest start
            shift = float(starts.min())
            starts, ends = starts - shift, ends - shift
            epoch = epoch + timedelta(seconds=shift)
        return Trace(
            self.name,
            self.fmt,
            epoch,
            self.classes,
            np.array([v[0] for v in self.values]),
            starts,
            ends,
            dict(self.skipped),
            {k: v for k, v in clipped.items() if v},
        )


def from_usages(
    source: str,
    usages: list[tuple[str, float, datetime, datetime]],
    *,
    skipped: dict[str, int] | None = None,
) -> Trace:
    """A trace from usages already known (class, devices, start, end; times with offsets).

    Raises:
        TraceError: If there is none, or one ends before it starts.
    """
    if not usages:
        raise TraceError(f"{source}: no usage to count", [], hint=_skips(Counter(skipped or {})))
    epoch = min(u[2] for u in usages).replace(microsecond=0)
    bad = [u for u in usages if u[3] < u[2]]
    if bad:
        raise TraceError(f"{source}: {len(bad)} usage(s) end before they start", [])
    return Trace(
        source,
        "keel",
        epoch,
        [u[0] for u in usages],
        np.array([u[1] for u in usages], dtype=np.float64),
        np.array([(u[2] - epoch).total_seconds() for u in usages]),
        np.array([(u[3] - epoch).total_seconds() for u in usages]),
        dict(skipped or {}),
    )


def _skips(skipped: Counter[str]) -> str:
    return "; ".join(f"{n:,} {why}" for why, n in skipped.most_common()) or "the file has no rows"


class _BadRowError(Exception):
    def __init__(self, column: str, message: str) -> None:
        super().__init__(message)
        self.column, self.message = column, message


Row = dict[str, str]
Read = tuple[str, float, float | None, float | None, datetime | None] | str
"""A usage (class, devices, start, end or duration, wall-clock start) or why it is skipped."""


def _value(row: Row, column: str, *, required: bool = True) -> float | None:
    try:
        found = _number(row[column])
    except ValueError:
        raise _BadRowError(column, f"{row[column]!r} is not a number") from None
    if found is None and required:
        raise _BadRowError(column, "is empty")
    return found


def _interval(row: Row) -> tuple[float | None, float | None]:
    start = _value(row, "creation_time", required=False)
    end = _value(row, "deletion_time", required=False)
    if start is not None and end is not None and end < start:
        raise _BadRowError("deletion_time", f"{end:g} is before creation_time {start:g}")
    if (start is not None and start < 0) or (end is not None and end < 0):
        raise _BadRowError(
            "creation_time", "times are seconds from the trace's start: not negative"
        )
    return start, end


def _alibaba_2025(row: Row) -> Read:
    devices = _value(row, "gpu_request") or 0.0
    if devices < 0:
        raise _BadRowError("gpu_request", f"{devices:g} is negative")
    if devices == 0:
        return "rows without GPUs (CPU nodes)"
    start, end = _interval(row)
    return row["app_name"].strip() or "-", devices, start, end, None


def _alibaba_2023(row: Row) -> Read:
    gpus, milli = _value(row, "num_gpu") or 0.0, _value(row, "gpu_milli") or 0.0
    if gpus < 0 or not 0 <= milli <= 1000:
        raise _BadRowError("gpu_milli", f"num_gpu {gpus:g}, gpu_milli {milli:g}: out of range")
    if gpus == 0 or milli == 0:
        return "rows without GPUs"
    start, end = _interval(row)
    if start is None:
        raise _BadRowError("creation_time", "is empty")
    return row["qos"].strip() or "-", gpus * milli / 1000, start, end, None


def _wall(row: Row, column: str) -> datetime:
    text = row[column].strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise _BadRowError(column, f"{text!r} is not a time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _genai_2026(row: Row) -> Read:
    seconds = _value(row, "exec_time_seconds", required=False)
    if seconds is None:
        return "requests that never ran (no execution time)"
    if seconds < 0:
        raise _BadRowError("exec_time_seconds", f"{seconds:g} is negative")
    return row["predict_type"].strip() or "-", 1.0, None, seconds, _wall(row, "gmt_create")


def _keel(row: Row) -> Read:
    devices, seconds = _value(row, "devices") or 0.0, _value(row, "duration_s") or 0.0
    if devices < 0:
        raise _BadRowError("devices", f"{devices:g} is negative")
    if seconds < 0:
        raise _BadRowError("duration_s", f"{seconds:g} is negative")
    text = row["start"].strip()
    if not text.endswith("Z") and "+" not in text[10:] and "-" not in text[10:]:
        raise _BadRowError("start", f"{text!r} has no UTC offset")
    if devices == 0:
        return "rows without devices"
    return row["class"].strip() or "-", devices, None, seconds, _wall(row, "start")


_READERS = {
    "alibaba-gpu-2025": _alibaba_2025,
    "alibaba-gpu-2023": _alibaba_2023,
    "alibaba-genai-2026": _genai_2026,
    "keel": _keel,
}


@dataclass(frozen=True, slots=True)
class Demand:
    """Per-class demand at a fixed step.

    Attributes:
        step_s: Seconds per step.
        epoch: Wall-clock time of step 0, if the trace has one.
        classes: Class names, largest device-hours first (then ``other`` if grouped).
        in_use: Devices in use per class (rows) and step (columns): time-weighted means.
        arrivals: Usages starting per class and step.
        grouped: Classes folded into ``other``.
    """

    step_s: int
    epoch: datetime | None
    classes: list[str]
    in_use: Floats
    arrivals: npt.NDArray[np.int64]
    grouped: int = 0


def demand(trace: Trace, step_s: int, *, top: int | None = None) -> Demand:
    """The trace's demand per class at ``step_s`` steps (the last step may be partial).

    Args:
        trace: The trace.
        step_s: Seconds per step (at least 60).
        top: Keep the ``top`` largest classes by device-hours and fold the rest into
            ``other`` (``None``: keep every class).

    Raises:
        TraceError: If the step is under a minute, or makes more than :data:`MAX_STEPS`.
    """
    if step_s < 60:
        raise TraceError(f"a step of {step_s} s: use at least 60 s", [])
    origin = float(trace.start_s.min())
    steps = max(1, math.ceil((float(trace.end_s.max()) - origin) / step_s))
    if steps > MAX_STEPS:
        raise TraceError(f"{steps:,} steps of {step_s} s: use a longer step", [])
    names, index = np.unique(np.array(trace.classes), return_inverse=True)
    hours = np.bincount(index, weights=trace.devices * (trace.end_s - trace.start_s))
    order = np.argsort(-hours, kind="stable")
    keep = order if top is None or top >= len(order) else order[:top]
    row_of = np.full(len(names), len(keep), dtype=np.int64)
    row_of[keep] = np.arange(len(keep))
    labels = [str(names[k]) for k in keep]
    grouped = len(names) - len(keep)
    if grouped:
        labels.append("other")
    if len(labels) * steps > MAX_CELLS:
        raise TraceError(
            f"{len(labels):,} classes x {steps:,} steps of {step_s} s is over the"
            f" {MAX_CELLS:,} values a series may hold",
            [],
            hint="use a longer step or a smaller --top",
        )
    rows = row_of[index]
    edges = origin + step_s * np.arange(steps + 1, dtype=np.float64)
    in_use = np.zeros((len(labels), steps))
    for row in range(len(labels)):
        mine = rows == row
        in_use[row] = _mean_in_use(
            trace.start_s[mine], trace.end_s[mine], trace.devices[mine], edges
        )
    arrivals = np.zeros((len(labels), steps), dtype=np.int64)
    slot = np.minimum(((trace.start_s - origin) // step_s).astype(np.int64), steps - 1)
    np.add.at(arrivals, (rows, slot), 1)
    epoch = trace.epoch + timedelta(seconds=origin) if trace.epoch is not None else None
    return Demand(step_s, epoch, labels, in_use, arrivals, grouped)


def _mean_in_use(starts: Floats, ends: Floats, devices: Floats, edges: Floats) -> Floats:
    """The time-weighted mean of devices in use over each interval between ``edges``.

    The usage is piecewise constant between events, so its integral is piecewise linear: the
    integral at every edge, interpolated from the events, is exact.
    """
    times = np.concatenate([starts, ends])
    change = np.concatenate([devices, -devices])
    order = np.argsort(times, kind="stable")
    times, change = times[order], change[order]
    level = np.cumsum(change)  # in use just after each event
    integral = np.concatenate([[0.0], np.cumsum(level[:-1] * np.diff(times))])
    at_edges = np.interp(edges, times, integral, left=0.0, right=float(integral[-1]))
    widths = np.diff(edges)
    result: Floats = np.diff(at_edges) / widths
    return result
