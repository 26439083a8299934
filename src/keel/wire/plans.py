"""Plans: placements with their costs, latency and SLO; explanations; re-planning moves."""

from __future__ import annotations

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


class Plan(Wire):
    """A plan: placements, totals, the solver's bound and gap, the digests it was made from."""

    placements: list[Placement]
    unplaced: list[Unplaced]
    totals: dict[str, float]
    solver: str
    objective: str
    objective_usd: float
    bound: float | None
    gap: float
    solve_s: float
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


class Explanation(Wire):
    """Why a workload is placed where it is."""

    workload: str
    chosen: list[Option]
    alternatives: list[Alternative]
    rejected: dict[str, list[str]] = Field(description="Site -> reason codes.")
    relaxations: list[str]
    policy: Verdict | None = None
