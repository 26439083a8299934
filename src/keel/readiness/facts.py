"""What readiness is computed from: plain facts the service layer gathers from the store.

Every fact is a count, a name or a time Keel recorded itself (the estate, the latest committed
plan, the registry, lineage, monitors, runs and the ledger), so every score can point at its
evidence. Nothing here reads a database: :mod:`keel.readiness.index` is pure computation over
these objects and is tested without one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

SITE_KINDS = ("on_prem", "private_cloud", "public_cloud", "edge")
"""The report's environments: on premises, private cloud, public cloud, edge."""

SERVING_KINDS = ("online_inference", "batch_inference", "agent")
"""Workloads whose outputs reach people or systems, so they are watched in production."""


@dataclass(frozen=True, slots=True)
class PoolFacts:
    """One accelerator pool: its accelerator, size and price now."""

    name: str
    accelerator: str
    devices: int
    usd_per_device_hour: float


@dataclass(frozen=True, slots=True)
class SiteFacts:
    """One site as the estate declares it now.

    Attributes:
        energy_published: Whether its PUE is stated or published for that site (not a
            generic default).
        clusters: Engines (Cluster resources) that serve it.
    """

    name: str
    kind: str
    provider: str | None
    available: bool
    pools: tuple[PoolFacts, ...]
    pue: float
    carbon_gco2e_per_kwh: float
    energy_published: bool
    clusters: tuple[str, ...] = ()

    @property
    def devices(self) -> int:
        """Accelerator devices at the site."""
        return sum(p.devices for p in self.pools)


@dataclass(frozen=True, slots=True)
class WorkloadFacts:
    """One workload: what it may use, where the latest plan put it, how it is watched.

    Attributes:
        feasible_sites: How many sites it passes every hard rule at (data, security,
            latency, compute); 0 when a compliance rule denies it outright.
        feasible_kinds: The kinds of those sites.
        denied: Whether a compliance rule denies it outright.
        monitors: Monitors that watch it.
        latency_met: ``True``/``False`` from its latest latency check, ``None`` without one.
        measured: Whether any monitor measures its model's quality or its latency.
        placed: Devices the latest plan holds for it, per ``(site, pool)``.
        replicas: Replicas it asks for; ``unplaced``: those the latest plan left out.
    """

    name: str
    kind: str
    model: str
    feasible_sites: int
    feasible_kinds: tuple[str, ...]
    denied: bool
    monitors: tuple[str, ...] = ()
    latency_met: bool | None = None
    measured: bool = False
    placed: dict[tuple[str, str], int] = field(default_factory=dict)
    replicas: int = 1
    unplaced: int = 0


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """One registered model version.

    Attributes:
        approvers: Distinct principals who approved it (recorded or declared).
        evaluations: Evaluation results recorded for it.
        lineage: Whether its lineage node has an edge (data it was trained on, jobs).
        through_keel: Whether it reached its state through Keel's lifecycle (not declared so
            at its first apply).
    """

    model: str
    version: str
    state: str
    approvers: tuple[str, ...]
    evaluations: int
    lineage: bool
    through_keel: bool

    @property
    def ref(self) -> str:
        """``model@version``."""
        return f"{self.model}@{self.version}"


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """One model's governance facts."""

    name: str
    risk_tier: str
    owner: bool
    oversight: bool
    risk_assessment: str
    logging: bool
    versions: tuple[VersionFacts, ...]


@dataclass(frozen=True, slots=True)
class DatasetFacts:
    """One dataset: who owns it and whether its lineage is known."""

    name: str
    owner: bool
    lineage: bool


@dataclass(frozen=True, slots=True)
class MonitorFacts:
    """One monitor and how current it is.

    Attributes:
        overdue: Whether its latest check is older than twice its period (or it never ran).
    """

    name: str
    workload: str
    overdue: bool


@dataclass(frozen=True, slots=True)
class Outage:
    """A site marked unavailable, from the ledger.

    Attributes:
        index: Ledger index of the change that took it down.
        replanned_index: The first plan committed after it, or ``None``.
        recovered_index: The change that brought it back, or ``None`` while it is down.
        moved: Workloads whose runs at the site were cancelled while it was down.
        resumed: Those of them that started again at another site.
        resumed_index / resumed_at: The last of those starts (the work is back).
    """

    site: str
    index: int
    at: datetime
    replanned_index: int | None = None
    replanned_at: datetime | None = None
    recovered_index: int | None = None
    recovered_at: datetime | None = None
    moved: int = 0
    resumed: int = 0
    resumed_index: int | None = None
    resumed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PriceChange:
    """A pool's price changed, from the ledger."""

    site: str
    pool: str
    index: int
    at: datetime
    before_usd: float
    after_usd: float


@dataclass(frozen=True, slots=True)
class LedgerFacts:
    """What the ledger shows.

    Attributes:
        size: Entries in the log.
        verified: Whether the whole log verified (every leaf, the tree, every checkpoint).
        checkpoint_size: Entries covered by the latest signed checkpoint (0: none).
        plan_index: Ledger index of the latest ``plan.committed``.
        alerts_raised / alerts_resolved: Indices of alert entries.
    """

    size: int
    verified: bool
    checkpoint_size: int = 0
    plan_index: int | None = None
    outages: tuple[Outage, ...] = ()
    price_changes: tuple[PriceChange, ...] = ()
    alerts_raised: tuple[int, ...] = ()
    alerts_resolved: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RunFacts:
    """One run handed to an engine.

    Attributes:
        wait_s: Seconds from submission to start (``None`` before it started).
        energy_kwh: Energy it used; ``measured``: from a meter, not estimated.
    """

    workload: str
    site: str
    state: str
    decision_index: int | None
    wait_s: float | None
    energy_kwh: float | None
    measured: bool


@dataclass(frozen=True, slots=True)
class Answers:
    """The questionnaire's answers (what Keel cannot see), already validated."""

    name: str
    answered_by: str
    as_of: str
    trained_share_pct: float
    roadmap: str
    infrastructure_engineers: int
    coe_exists: bool
    coe_cross_functional: bool
    coe_shares_practices: bool
    partnership_model: str
    judged_on_execution: bool


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a readiness assessment is computed from.

    Attributes:
        now: When the facts were gathered.
        plan_id: The latest committed plan, or ``None``.
        packs: Regulation packs in force.
    """

    now: datetime
    sites: tuple[SiteFacts, ...]
    workloads: tuple[WorkloadFacts, ...]
    models: tuple[ModelFacts, ...]
    datasets: tuple[DatasetFacts, ...]
    monitors: tuple[MonitorFacts, ...]
    runs: tuple[RunFacts, ...]
    ledger: LedgerFacts
    packs: tuple[str, ...] = ()
    plan_id: int | None = None
    answers: Answers | None = None
