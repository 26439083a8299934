"""Capacity planning: demand per class, from a trace or from Keel's own runs."""

from __future__ import annotations

from typing import Any

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


class AdviceMix(Wire):
    """Owned and reserved devices of one pool type, and what they cost and emit per month."""

    owned: int
    reserved: int
    usd_per_month: float = Field(description="Owned and reserved devices, and on-demand use.")
    kgco2e_per_month: float
    on_demand_devices_mean: float = Field(description="Devices rented on demand, mean.")
    unserved_devices_mean: float = Field(
        description="Demand this pool type alone cannot serve (no public-cloud pool to rent)."
    )


class AdviceBand(Wire):
    """A forecast per step ahead: mean and interval."""

    mean: list[float]
    low: list[float]
    high: list[float]


class PoolTypeAdvice(Wire):
    """The advice for one pool type (an accelerator)."""

    accelerator: str
    classes: list[str] = Field(description="Classes of the trace that may use this type.")
    owned_pools: list[str]
    cloud_pool: str | None = Field(description="Where it is rented (the cheapest allowed).")
    owned_today: int
    prices: dict[str, float | None] = Field(description="Per device-hour: USD and kgCO2e.")
    demand_mean: float = Field(description="Devices of this type in use in today's replay.")
    demand_peak: float
    planned_peak: float = Field(description="The peak of the series the mixes were priced on.")
    analytic: AdviceMix | None = Field(description="The best mix for this type on its own.")
    recommended: AdviceMix | None = Field(description="The advised mix (after the replays).")
    baselines: dict[str, AdviceMix]
    frontier: list[AdviceMix] = Field(description="No other mix is both cheaper and greener.")
    history: list[float]
    forecast: AdviceBand | None


class AdviceCheck(Wire):
    """A replay of the trace with one strategy's mixes in place."""

    slo_attainment: float | None
    wait_p95_s: float | None
    never_started: int
    span_h: float
    usd_per_month: float = Field(description="Every pool of the estate, committed and rented.")
    types_usd_per_month: float = Field(description="The pools of the advised types alone.")
    kgco2e_per_month: float


class CapacityAdvice(Wire):
    """One ``keel capacity advise`` run: the evidence, the advice, and the replays."""

    id: int
    ledger_index: int
    digest: str
    created_at: str | None = None
    created_by: str | None = None
    source: str
    format: str
    trace_digest: str
    estate_digest: str
    prices_digest: str
    first: str | None
    step_s: int
    basis: str
    level: int
    horizon_steps: int | None
    objective: str
    carbon_usd_per_t: float
    usages: int
    skipped: dict[str, int]
    scenario: dict[str, Any]
    slo: float
    replays: int
    pool_types: list[PoolTypeAdvice]
    checks: dict[str, AdviceCheck]


class AdviceSummary(Wire):
    """One advice run in a list."""

    id: int
    created_at: str
    created_by: str
    source: str
    basis: str
    objective: str
    ledger_index: int
    recommended: dict[str, AdviceMix | None]


class AdviceList(Wire):
    """Recorded advice runs, newest first."""

    advice: list[AdviceSummary]
