"""Plans: placements with their costs, latency and SLO; explanations; re-planning moves."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from keel.wire.base import Wire
from keel.wire.policy import Finding


class Placement(Wire):
    """Where (some replicas of) a workload runs, and what it costs."""

    workload: str
    site: str
    pool: str
    devices: int
    replicas: int
    cost_usd: float
    compute_usd: float
    egress_usd: float
    egress_gb: float
    transfer_h: float
    energy_kwh: float
    carbon_kgco2e: float
    latency_ms: float = Field(description="Round trip from its users plus service time.")
    latency_slo_ms: float | None = Field(default=None, description="The workload's SLO.")
    objective_usd: float
    reasons: list[str]
    period: Literal["month", "run"] | None = Field(
        default=None,
        description="What cost, energy and carbon cover: a month of a service, or one run of a"
        " job (none in plans stored before Keel said so).",
    )


class Unplaced(Wire):
    """Replicas no option could take, why, and what would let them run."""

    workload: str
    replicas: int
    reasons: list[str]
    relaxations: list[str]


class Baseline(Wire):
    """A naive plan on the same objective, for comparison."""

    name: str
    placed: int
    objective_usd: float
    capacity_violations: int


class Move(Wire):
    """What happened to one workload between the last committed plan and this one."""

    workload: str
    change: str
    before: list[str]
    after: list[str]
    why: str


class ScheduledRun(Wire):
    """One replica of a job in a plan made over a horizon: where, when, and why then."""

    workload: str
    replica: int
    site: str | None
    pool: str | None
    start: str | None = Field(description="ISO 8601, UTC; none when not scheduled.")
    end: str | None
    earliest: str | None = Field(description="Its window's start, cut to the horizon.")
    deadline: str | None = Field(description="Its window's deadline, cut to the horizon.")
    carbon_kgco2e: float = Field(description="On the hourly signal.")
    at_once_kgco2e: float = Field(
        description="The same run at the same pool, started at its earliest start."
    )
    objective_usd: float
    why: str
    chunks: list[list[str]] | None = Field(
        default=None,
        description="An interruptible job run in several stretches: [start, end] of each.",
    )
    electricity_usd: float | None = Field(
        default=None,
        description="With energy_price: its electricity at the site's hourly price; none where"
        " the site's electricity is not priced by the hour.",
    )
    at_once_electricity_usd: float | None = Field(
        default=None, description="The same run's electricity, started at its earliest start."
    )


class SiteSignal(Wire):
    """The hourly carbon intensity a site was scheduled on, and where it came from."""

    site: str
    zone: str | None
    source: str = Field(description="The series file, or 'annual figure' (a fallback).")
    digest: str = Field(description="SHA-256 of the zone, signal, start, step and values.")
    intensity_g_per_kwh: list[float]
    annual_g_per_kwh: float
    note: str | None = Field(
        description="Why the site fell back to its annual figure (source 'annual figure'),"
        " or what was filled."
    )
    price_usd_per_mwh: list[float] | None = Field(
        default=None,
        description="With energy_price: the zone's hourly day-ahead price at an owned site.",
    )
    price_source: str | None = Field(default=None, description="The price series' file.")
    price_digest: str | None = Field(
        default=None, description="SHA-256 of the zone, signal, start, step and prices."
    )
    price_note: str | None = Field(
        default=None,
        description="Why the site's electricity is not priced by the hour, or what was filled.",
    )


class ScheduleBaseline(Wire):
    """A way of timing the same jobs, scored on the same horizon."""

    name: str
    carbon_kgco2e: float
    objective_usd: float | None = Field(
        default=None, description="The same objective as the plan's (none in older plans)."
    )
    ran: int
    late: int = Field(description="Runs that finish after their deadline.")
    overfilled_pool_hours: int = Field(description="Pool-hours holding more than the pool has.")


class Schedule(Wire):
    """When each job runs over a horizon of hourly grid signals (``keel plan --horizon``)."""

    start: str
    hours: int
    signal: str
    energy_price: bool = Field(
        default=False,
        description="Owned sites' electricity priced by the hour too (its deviation from the"
        " horizon's mean price is in the objective).",
    )
    electricity_usd: float | None = Field(
        default=None, description="With energy_price: the priced runs' electricity."
    )
    runs: list[ScheduledRun]
    signals: list[SiteSignal]
    carbon_kgco2e: float = Field(description="The scheduled runs' emissions.")
    at_once_kgco2e: float = Field(description="Theirs, each started at its earliest start.")
    objective_usd: float
    bound_usd: float | None = Field(
        description="The LP bound on the jobs' objective; none if not solved in time."
    )
    baselines: list[ScheduleBaseline]
    totals_withheld: bool = Field(
        default=False,
        description="The caller may not read every job: totals, bound and baselines, which"
        " cover them all, are withheld (zero and empty).",
    )

    def signal_notes(self) -> list[str]:
        """Each fallback or fill once, with the sites it concerns (not a line per site)."""
        sites: dict[tuple[str, str], list[str]] = {}
        for signal in self.signals:
            if signal.note:
                fell_back = signal.source == "annual figure"
                then = "; they keep their annual figures" if fell_back else ""
                sites.setdefault((signal.note, then), []).append(signal.site)
            if signal.price_note:
                sites.setdefault((f"price: {signal.price_note}", ""), []).append(signal.site)
        return [f"{note}{then} ({', '.join(names)})" for (note, then), names in sites.items()]


class Plan(Wire):
    """A plan: placements, totals, the solver's bound and gap, the digests it was made from."""

    placements: list[Placement]
    unplaced: list[Unplaced]
    totals: dict[str, float] = Field(
        description="Like with like: cost_usd, energy_kwh, carbon_kgco2e and egress_gb, each"
        " _per_month (services) and _per_run (one run of each job)."
    )
    solver: str
    objective: str
    objective_usd: float
    bound: float | None = Field(
        description="A lower bound on the objective of any plan placing at least as many"
        " replicas as this one, USD."
    )
    gap: float | None = Field(
        description="How far the objective may be above the cheapest plan placing as many"
        " replicas, as a share: (objective - bound) / objective; none when the bound is too"
        " weak to support a figure."
    )
    bound_method: str = Field(
        default="none",
        description="milp (the exact solver's own bound), lp (LP relaxation), lagrangian"
        " (large problems) or none.",
    )
    placeable_at_most: int | None = Field(
        default=None,
        description="The most replicas any plan can place, as far as proven (none when not"
        " computed, or withheld from a caller who may not read every workload); more than"
        " placed_replicas means the plan may leave placeable ones out.",
    )
    unplaceable: int | None = Field(
        default=0,
        description="Replicas no option can take: no plan places them (none when withheld from"
        " a caller who may not read every workload).",
    )
    solve_s: float
    budget_s: float | None = Field(
        default=None,
        description="The fast solver's time budget, seconds: the plan is the best it found in"
        " that time, so it depends on the machine's speed (none: no budget).",
    )
    estate_digest: str
    policy_digest: str
    plan_id: int | None = Field(default=None, description="Set once committed.")
    ledger_index: int | None = Field(default=None, description="Its plan.committed entry.")
    placed_replicas: int | None = None
    baselines: list[Baseline] | None = None
    previous_plan_id: int | None = None
    same_as_plan_id: int | None = Field(
        default=None, description="The committed plan that decided the same; nothing recorded."
    )
    moves: list[Move] | None = Field(default=None, description="With diff: what moved and why.")
    measured_hours: dict[str, float] | None = Field(
        default=None,
        description="Jobs whose hours per run came from measured runs (the median of the"
        " latest successful ones), not from the manifest.",
    )
    schedule: Schedule | None = Field(
        default=None, description="With a horizon: when each job runs, and why then."
    )


class WorkloadPlacement(Wire):
    """One workload in the latest committed plan."""

    plan_id: int
    workload: str
    placements: list[Placement]
    unplaced: list[Unplaced]


class Option(Wire):
    """A site and pool a workload could use, with its costs."""

    site: str
    pool: str
    objective_usd: float
    compute_usd: float
    egress_usd: float
    carbon_kgco2e: float
    latency_ms: float


class Alternative(Option):
    """An option not chosen, and how much more it would cost."""

    delta_usd: float


class Verdict(Wire):
    """The compliance decision inside an explanation."""

    policy_digest: str
    allowed: bool
    deny: list[Finding]
    warn: list[Finding]


class Rejection(Wire):
    """One reason a site, or one of its pools, cannot take a workload."""

    site: str
    pool: str | None = Field(description="Set when the reason is the pool's, not the site's.")
    reason: str = Field(description="capacity, accelerator, memory, latency, residency, ...")
    detail: str = Field(description="The numbers: devices needed vs held, RTT vs SLO in ms...")
    dataset: str | None = Field(
        default=None, description="The input dataset that forbids the site, if one does."
    )


class Explanation(Wire):
    """Why a workload is placed where it is."""

    workload: str
    chosen: list[Option]
    alternatives: list[Alternative]
    rejected: dict[str, list[str]] = Field(description="Site -> reason codes.")
    rejections: list[Rejection] = Field(
        default_factory=list,
        description="Every reason each rejected site or pool turns the workload away, with"
        " the numbers behind it (derived from the same problem; the ledger's"
        " explanation_digest covers every other field).",
    )
    relaxations: list[str]
    policy: Verdict | None = None
