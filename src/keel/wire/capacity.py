"""Capacity planning: demand per class, from a trace or from Keel's own runs."""

from __future__ import annotations

from pydantic import Field

from keel.wire.base import Wire


class CapacityClass(Wire):
    """One class's demand over the period."""

    name: str
    device_hours: float
    mean_devices: float = Field(description="Devices in use, time-weighted, mean over steps.")
    peak_devices: float = Field(description="The busiest step's devices in use.")
    peak_to_mean: float | None = Field(description="How bursty: peak over mean.")
    arrivals: int
    busiest_arrivals: int = Field(description="Arrivals in the busiest step.")


class CapacityHistory(Wire):
    """Demand per class at a fixed step, and what was skipped or clipped on the way."""

    source: str = Field(description="The trace file, or 'runs' (Keel's own run records).")
    format: str
    start: str | None = Field(description="Wall-clock time of the first step, if known.")
    step_s: int
    steps: int
    usages: int
    skipped: dict[str, int] = Field(description="Rows or runs left out, by reason.")
    clipped: dict[str, int] = Field(description="Usages cut at the period's edges, by side.")
    grouped: int = Field(description="Smaller classes folded into 'other'.")
    classes: list[CapacityClass]
