"""Readiness: the index computed from the estate, each sub-score with its evidence."""

from __future__ import annotations

from pydantic import Field

from keel.wire.base import Instant, Wire


class ReadinessComponent(Wire):
    """One measured part of a sub-score."""

    key: str
    label: str
    value: float | None = Field(description="0-100; null when there is nothing to measure.")
    detail: str = Field(description="The counts behind the value.")
    refs: list[str] = Field(
        description="Evidence: resources (Workload/x), ledger entries (ledger:172), the plan"
        " (plan:3). Resources the caller may not read are withheld."
    )
    gaps: list[str] = Field(description="What holds it back (resources, kinds of site).")
    withheld: int = Field(default=0, description="Names withheld from the caller.")


class ReadinessScore(Wire):
    """One sub-score: the mean of its components that measure something."""

    key: str
    label: str
    axis: str = Field(description="readiness or maturity.")
    source: str = Field(description="measured (from Keel's records) or declared (answers).")
    tier: str = Field(description="The capability tier it belongs to.")
    value: float | None
    components: list[ReadinessComponent]


class ReadinessTier(Wire):
    """One capability tier (foundational, enabling, accelerating)."""

    name: str
    reached: bool
    weak: list[str]
    unanswered: list[str]


class ReadinessStep(Wire):
    """A next step: the report's guide for the stage, and the Keel change to make."""

    score: str
    component: str
    value: float | None
    stage: str = Field(description="beginner or mature.")
    guide: str
    action: str
    gaps: list[str]


class SiteScorecard(Wire):
    """A site's record as Keel saw it: outages, prices, SLOs, time to capacity, carbon."""

    provider: str
    site: str
    kind: str
    available: bool
    outages: int
    downtime_h: float
    usd_per_device_hour: float | None
    price_changes: int
    price_change_pct: float | None = Field(description="The latest price change, in percent.")
    slo_met: int
    slo_checked: int
    wait_s_p50: float | None = Field(description="Median seconds from submission to start.")
    runs: int
    carbon_gco2e_per_kwh: float
    pue: float
    refs: list[str]


class TrendPoint(Wire):
    """One past assessment's indices and sub-scores."""

    id: int
    at: Instant
    readiness: float | None
    maturity: float | None
    declared: float | None
    level: str
    tier: str | None
    scores: dict[str, float | None]


class Readiness(Wire):
    """A readiness assessment, with the trend of those before it."""

    id: int = Field(description="The stored assessment.")
    at: Instant
    ledger_index: int = Field(description="Its readiness.assessed ledger entry.")
    readiness: float | None = Field(description="Measured readiness index, 0-100.")
    maturity: float | None = Field(description="Measured maturity index, 0-100.")
    declared: float | None = Field(
        description="Declared maturity (talent, partnerships, centre of excellence), kept"
        " apart from the measured indices."
    )
    level: str = Field(description="nascent, developing, established or leading.")
    tier: str | None = Field(description="The highest capability tier reached.")
    scores: list[ReadinessScore]
    tiers: list[ReadinessTier]
    steps: list[ReadinessStep]
    sites: list[SiteScorecard]
    inputs: dict[str, str | int | None] = Field(
        description="Digests and sizes of what it was computed from."
    )
    trend: list[TrendPoint]
