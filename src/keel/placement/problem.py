"""Compiling an estate and its workloads into arrays: options, items, masks and costs.

An **option** is a (site, pool) pair at an available site. An **item** is one replica of a
workload; a training job is one item that needs all of its devices in one pool (a gang). Every
hard constraint and every cost term is computed with numpy over workloads x options (or x
sites), never in a Python loop over pairs.

Cost terms, per item (one replica):

* ``compute_usd = devices x usd_per_hour x hours`` (jobs: their run length; services: a month
  of 730 hours); owned hardware is priced at its amortised rate, never 0. So a job's costs,
  energy and carbon are **per run** and a service's **per month** (``service`` says which);
  totals add each period on its own;
* ``egress_usd``, ``egress_gb`` and ``transfer_h`` for every input not replicated at the site,
  moved from its cheapest replica at ``DEFAULT_BANDWIDTH_GBPS`` ("compute goes to data");
* ``energy_kwh = power_w x devices x hours x utilisation x pue / 1000`` and
  ``carbon_kgco2e = energy_kwh x grid intensity / 1000``;
* ``latency_ms``: for services, the round trip to the nearest served user region plus service
  time. A service serving several regions must have, for every region, a replica whose site
  meets the SLO from there.

The objective is ``cost_usd + carbon_usd_per_t x tCO2e + latency_usd_per_ms x latency_ms``,
with the weights of the workload's objective preset.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from keel.estate.catalog import jurisdiction_members
from keel.estate.estate import Estate, ResolvedSite, resolve_model_versions
from keel.estate.resources import (
    CLASSIFICATION_ORDER,
    SERVICE_KINDS,
    DatasetSpec,
    ModelSpec,
    WorkloadSpec,
    split_model_ref,
)
from keel.placement.reasons import Reason
from keel.placement.terms import Term

UNPLACED = -1
"""The option of an item no option takes."""
HOURS_PER_MONTH = 730.0
DEFAULT_BANDWIDTH_GBPS = 10.0

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

PolicyDenials = Callable[[list[str], list[str]], Bools]
"""Compliance denials: given workload and site names, a workloads x sites mask of denials."""


@dataclass(frozen=True, slots=True)
class Objective:
    """Weights that turn carbon and latency into dollars."""

    carbon_usd_per_t: float
    latency_usd_per_ms: float


PRESETS: dict[str, Objective] = {
    "cost": Objective(0.0, 0.0),
    "balanced": Objective(100.0, 1.0),
    "carbon": Objective(1000.0, 0.0),
    "latency": Objective(0.0, 100.0),
}
"""Objective presets; a workload may name its own with ``objective``."""


@dataclass
class Problem:
    """The compiled placement problem.

    Attributes:
        workloads: Workload names (rows of the W x O matrices).
        sites: Site names.
        site_kind: Site kind (``on_prem``, ...) per site.
        option_site: Site index of each option.
        option_pool: Pool name of each option.
        option_accelerator: Accelerator of each option.
        capacity: Devices per option.
        item_workload: Workload index of each item.
        item_replica: Replica number of each item within its workload.
        demand: Devices each item needs (per workload).
        min_sites: Distinct sites the first replicas of each workload must use.
        reasons: Bitmask of :class:`Reason` per workload x option; 0 means feasible.
        compute_usd, egress_usd, egress_gb, transfer_h, energy_kwh, carbon_kgco2e, latency_ms:
            Cost terms per workload x option, for one replica.
        objective: The weighted objective per workload x option (``inf`` where infeasible).
        service: Whether each workload is a service (its terms are per month) or a job (per
            run).
        latency_estimated: Whether a workload x site latency used the distance estimate.
        coverage: For services with several user regions: regions x sites meeting the SLO.
            Each region needs a replica at a site that covers it; every replica's site must
            cover at least one region (else its reason is ``latency``).
    """

    workloads: list[str]
    sites: list[str]
    site_kind: list[str]
    option_site: Ints
    option_pool: list[str]
    option_accelerator: list[str]
    capacity: Ints
    item_workload: Ints
    item_replica: Ints
    demand: Ints
    min_sites: Ints
    reasons: npt.NDArray[np.int64]
    compute_usd: Term
    egress_usd: Term
    egress_gb: Term
    transfer_h: Term
    energy_kwh: Term
    carbon_kgco2e: Term
    latency_ms: Term
    objective: Floats
    service: Bools
    latency_estimated: Bools
    coverage: dict[int, Bools]
    relaxed: dict[int, list[str]] = field(default_factory=dict, repr=False, compare=False)
    """Relaxations already worked out, by workload (see ``placement.plan.relaxations``)."""

    @property
    def feasible(self) -> Bools:
        """Workloads x options that pass every hard constraint."""
        return np.asarray(self.reasons == 0, dtype=bool)

    def item_costs(self) -> Floats:
        """Objective per item x option (``inf`` where infeasible)."""
        return self.objective[self.item_workload]

    @classmethod
    def from_costs(
        cls,
        objective: Floats,
        capacity: Ints,
        demand: Ints,
        replicas: Ints,
        pools_per_site: int = 1,
    ) -> Problem:
        """An abstract problem: objective per workload x option (``inf`` where infeasible).

        As in :func:`compile_problem`, a pool with fewer devices than a replica asks for is no
        option for it (``inf``, reason ``CAPACITY``): no plan can use it, and leaving it in
        weakens the LP and Lagrangian bounds, which could put a share of a 64-device gang on
        an 8-device pool.

        For solving or benchmarking problems that do not come from an estate: options are
        ``pools_per_site`` consecutive pools per site, workloads are jobs without spread or
        coverage rules, and the objective is all compute cost.

        Args:
            objective: USD per replica, workloads x options.
            capacity: Devices per option.
            demand: Devices per replica of each workload.
            replicas: Replicas of each workload.
            pools_per_site: Consecutive options that share a site.

        Returns:
            The problem.
        """
        n_w, n_o = objective.shape
        n_sites = -(-n_o // pools_per_site)
        item_workload, item_replica = _items(np.asarray(replicas, dtype=np.int64))
        capacity = np.asarray(capacity, dtype=np.int64)
        demand = np.asarray(demand, dtype=np.int64)
        reasons = np.where(np.isfinite(objective), 0, int(Reason.POLICY)).astype(np.int64)
        reasons[demand[:, None] > capacity[None, :]] |= Reason.CAPACITY  # as compile_problem
        objective = np.where(reasons == 0, np.asarray(objective, dtype=np.float64), np.inf)
        zeros = Term((n_w, n_o), lambda w, o: np.zeros(np.broadcast(w, o).shape))
        return cls(
            workloads=[f"w{w}" for w in range(n_w)],
            sites=[f"s{s}" for s in range(n_sites)],
            site_kind=["on_prem"] * n_sites,
            option_site=np.arange(n_o, dtype=np.int64) // pools_per_site,
            option_pool=[f"p{o % pools_per_site}" for o in range(n_o)],
            option_accelerator=[f"a{o % pools_per_site}" for o in range(n_o)],
            capacity=capacity,
            item_workload=item_workload,
            item_replica=item_replica,
            demand=demand,
            min_sites=np.ones(n_w, dtype=np.int64),
            reasons=reasons,
            compute_usd=Term.dense(np.where(np.isfinite(objective), objective, 0.0)),
            egress_usd=zeros,
            egress_gb=zeros,
            transfer_h=zeros,
            energy_kwh=zeros,
            carbon_kgco2e=zeros,
            latency_ms=zeros,
            objective=objective,
            service=np.zeros(n_w, dtype=bool),
            latency_estimated=np.zeros((n_w, n_sites), dtype=bool),
            coverage={},
        )

    def workload_index(self, name: str) -> int | None:
        """The row of a workload, or ``None`` if it is not in the problem.

        A dict lookup: a plan explains every workload, and a list search for each was
        quadratic (1.8 s of a 10,000-workload commit).
        """
        return self._positions.get(name)

    @functools.cached_property
    def _positions(self) -> dict[str, int]:
        return {w: i for i, w in enumerate(self.workloads)}

    def placeable_items(self) -> Bools:
        """Items with at least one feasible option (no plan places the others)."""
        rows = np.asarray(np.isfinite(self.objective).any(axis=1), dtype=bool)
        return np.asarray(rows[self.item_workload], dtype=bool)

    @property
    def cells(self) -> int:
        """Items x options: the size of the problem the solvers see."""
        return len(self.item_workload) * len(self.capacity)

    def all_or_nothing(self) -> set[int]:
        """Workloads whose rules make a partial placement invalid (spread or several regions)."""
        spread = {w for w in range(len(self.workloads)) if self.min_sites[w] > 1}
        return spread | set(self.coverage)


def _items(replicas: Ints) -> tuple[Ints, Ints]:
    """Each item's workload and replica number, given the replicas of each workload."""
    item_workload = np.repeat(np.arange(len(replicas), dtype=np.int64), replicas)
    starts = np.cumsum(replicas) - replicas
    item_replica = np.arange(len(item_workload), dtype=np.int64) - np.repeat(starts, replicas)
    return item_workload, item_replica


def _rank(classification: str) -> int:
    return CLASSIFICATION_ORDER.index(classification)  # type: ignore[arg-type,unused-ignore]


@dataclass
class _Options:
    site: Ints
    pool: list[str]
    accelerator: list[str]
    capacity: Ints
    usd_per_hour: Floats
    power_w: Floats
    memory_gb: Floats


def _options(sites: list[ResolvedSite]) -> _Options:
    rows = [(s, pool) for s, site in enumerate(sites) for pool in site.pools]
    return _Options(
        site=np.array([s for s, _ in rows], dtype=np.int64),
        pool=[pool.name for _, pool in rows],
        accelerator=[pool.accelerator for _, pool in rows],
        capacity=np.array([pool.count for _, pool in rows], dtype=np.int64),
        usd_per_hour=np.array([pool.usd_per_hour for _, pool in rows], dtype=np.float64),
        power_w=np.array([pool.power_w for _, pool in rows], dtype=np.float64),
        memory_gb=np.array([pool.memory_gb for _, pool in rows], dtype=np.float64),
    )


@dataclass
class _Data:
    index: dict[str, int]
    specs: list[DatasetSpec]
    replicated: Bools
    resident_ok: Bools
    size_gb: Floats
    source_price: Floats


def _data(estate: Estate, sites: list[ResolvedSite]) -> _Data:
    names = sorted(estate.of_kind("Dataset"))
    site_index = {site.name: i for i, site in enumerate(sites)}
    specs: list[DatasetSpec] = []
    replicated = np.zeros((len(names), len(sites)), dtype=bool)
    resident_ok = np.ones((len(names), len(sites)), dtype=bool)
    size_gb = np.zeros(len(names))
    source_price = np.zeros(len(names))
    for d, name in enumerate(names):
        spec = estate.of_kind("Dataset")[name].spec
        assert isinstance(spec, DatasetSpec)
        specs.append(spec)
        size_gb[d] = spec.size_gb
        holders = [site_index[r] for r in spec.replicas if r in site_index]
        replicated[d, holders] = True
        source_price[d] = min((sites[h].egress_usd_per_gb for h in holders), default=0.0)
        if spec.residency:
            allowed: set[str] = set()
            for jurisdiction in spec.residency:
                allowed |= jurisdiction_members(estate.catalog, jurisdiction)
            resident_ok[d] = [site.country in allowed for site in sites]
    index = {name: i for i, name in enumerate(names)}
    return _Data(index, specs, replicated, resident_ok, size_gb, source_price)


@dataclass
class _Demands:
    uses: Floats
    """Workloads x datasets, 1.0 where the workload reads it (float: it multiplies through BLAS)."""
    need_rank: Ints
    count: Ints
    replicas: Ints
    min_sites: Ints
    hours: Floats
    service: Bools
    utilisation: Floats
    model_memory: Floats
    slo: Floats
    service_ms: Floats
    carbon_weight: Floats
    latency_weight: Floats
    wants: Bools
    served: dict[tuple[str, ...], list[int]]


def model_memory_gb(estate: Estate, spec: WorkloadSpec) -> float:
    """The memory a workload's model needs in all (weights; optimizer state for training)."""
    model_name, version = split_model_ref(spec.model)
    model = estate.of_kind("Model").get(model_name)
    if model is None:
        return 0.0
    assert isinstance(model.spec, ModelSpec)
    versions = resolve_model_versions(model.spec)
    chosen = next((v for v in versions if v.version == version), versions[-1])
    training = spec.kind in ("training", "fine_tuning")
    return chosen.training_memory_gb if training else chosen.memory_gb


def _demands(
    estate: Estate,
    specs: list[WorkloadSpec],
    data: _Data,
    *,
    accelerators: dict[str, int],
    objective: str,
) -> _Demands:
    n_w = len(specs)
    out = _Demands(
        uses=np.zeros((n_w, len(data.specs))),
        need_rank=np.zeros(n_w, dtype=np.int64),
        count=np.array([s.compute.count for s in specs], dtype=np.int64),
        replicas=np.array([s.compute.replicas for s in specs], dtype=np.int64),
        min_sites=np.array([s.min_sites for s in specs], dtype=np.int64),
        hours=np.zeros(n_w),
        service=np.zeros(n_w, dtype=bool),
        utilisation=np.array([s.compute.utilisation for s in specs], dtype=np.float64),
        model_memory=np.array([model_memory_gb(estate, s) for s in specs], dtype=np.float64),
        slo=np.full(n_w, np.inf),
        service_ms=np.zeros(n_w),
        carbon_weight=np.zeros(n_w),
        latency_weight=np.zeros(n_w),
        wants=np.zeros((n_w, len(accelerators)), dtype=bool),
        served={},
    )
    for w, spec in enumerate(specs):
        inputs = [data.index[i] for i in spec.inputs if i in data.index]
        out.uses[w, inputs] = 1
        out.need_rank[w] = max((_rank(data.specs[i].classification) for i in inputs), default=0)
        service = spec.kind in SERVICE_KINDS
        out.service[w] = service
        out.hours[w] = HOURS_PER_MONTH if service else (spec.compute.hours or 0.0)
        weights = PRESETS[spec.objective or objective]
        out.carbon_weight[w] = weights.carbon_usd_per_t
        out.latency_weight[w] = weights.latency_usd_per_ms if service else 0.0
        out.wants[w, [accelerators[a] for a in spec.compute.accelerators]] = True
        if spec.latency_slo_ms is not None:
            out.slo[w] = spec.latency_slo_ms
            out.service_ms[w] = spec.service_time_ms
            out.served.setdefault(tuple(sorted(spec.serves)), []).append(w)
    return out


def _latency(
    estate: Estate, sites: list[ResolvedSite], demands: _Demands
) -> tuple[Floats, Bools, dict[int, Bools]]:
    """Round trip plus service time to the nearest served region, per workload x site.

    Returns the latency, whether it was estimated from distance, and for workloads serving
    several regions which sites meet the SLO for each region (regions x sites).
    """
    n_w, n_s = len(demands.slo), len(sites)
    latency = np.zeros((n_w, n_s))
    estimated = np.zeros((n_w, n_s), dtype=bool)
    coverage: dict[int, Bools] = {}
    for regions, rows in demands.served.items():
        rtt = np.zeros((len(regions), n_s))
        guessed = np.zeros((len(regions), n_s), dtype=bool)
        for s, site in enumerate(sites):
            for r, region in enumerate(regions):
                rtt[r, s], guessed[r, s] = estate.rtt_ms(site.name, region)
        nearest = rtt.argmin(axis=0)
        latency[rows] = rtt.min(axis=0)
        estimated[rows] = guessed[nearest, np.arange(n_s)]
        if len(regions) > 1:
            for w in rows:
                coverage[w] = rtt + demands.service_ms[w] <= demands.slo[w]
    slo_set = np.isfinite(demands.slo)[:, None]
    return np.where(slo_set, latency + demands.service_ms[:, None], 0.0), estimated, coverage


def _costs(
    sites: list[ResolvedSite],
    options: _Options,
    data: _Data,
    demands: _Demands,
    latency_site: Floats,
) -> tuple[dict[str, Term], Floats]:
    """Cost terms per replica, workloads x options, and the objective.

    The terms keep their factors and compute cells on access (:mod:`keel.placement.terms`).
    The objective is stored whole, as the solver reads every cell; it is built in place, with
    the operations of the terms' own cells.
    """
    uses = demands.uses
    pue = np.array([s.pue for s in sites])[options.site]
    carbon = np.array([s.carbon_intensity_gco2e_per_kwh for s in sites])[options.site]
    device_hours = demands.count * demands.hours
    active_hours = device_hours * demands.utilisation
    power = options.power_w * pue
    price = options.usd_per_hour
    site_of = options.site
    missing = (~data.replicated).astype(np.float64)
    egress_site = uses @ (missing * (data.size_gb * data.source_price)[:, None])
    gb_site = uses @ (missing * data.size_gb[:, None])
    shape = (len(device_hours), len(site_of))
    compute_usd = Term(shape, lambda w, o: device_hours[w] * price[o])
    egress_usd = Term(shape, lambda w, o: egress_site[w, site_of[o]])
    egress_gb = Term(shape, lambda w, o: gb_site[w, site_of[o]])
    transfer_h = Term(
        shape, lambda w, o: gb_site[w, site_of[o]] * 8.0 / DEFAULT_BANDWIDTH_GBPS / 3600.0
    )
    energy_kwh = Term(shape, lambda w, o: active_hours[w] * power[o] / 1000)
    carbon_kg = Term(shape, lambda w, o: active_hours[w] * power[o] / 1000 * carbon[o] / 1000.0)
    latency_ms = Term(shape, lambda w, o: latency_site[w, site_of[o]])
    # The objective is stored whole (the solver reads every cell), built in place.
    objective_usd = np.asarray(compute_usd)
    objective_usd += np.asarray(egress_usd)
    weighted = np.asarray(carbon_kg)
    weighted *= demands.carbon_weight[:, None]
    weighted /= 1000.0
    objective_usd += weighted
    weighted = np.asarray(latency_ms)
    weighted *= demands.latency_weight[:, None]
    objective_usd += weighted
    del weighted
    terms = {
        "compute_usd": compute_usd,
        "egress_usd": egress_usd,
        "egress_gb": egress_gb,
        "transfer_h": transfer_h,
        "energy_kwh": energy_kwh,
        "carbon_kgco2e": carbon_kg,
        "latency_ms": latency_ms,
    }
    return terms, objective_usd


def compile_problem(
    estate: Estate,
    workloads: list[str] | None = None,
    *,
    objective: str = "balanced",
    policy: PolicyDenials | None = None,
) -> Problem:
    """Compile an estate into a placement problem.

    Args:
        estate: A valid estate.
        workloads: Names of the workloads to place; all of them when ``None``.
        objective: Default objective preset (a workload's own ``objective`` wins).
        policy: Compliance denials (the policy engine plugs in here); none when ``None``.

    Returns:
        The problem.

    Raises:
        KeyError: If an objective preset is unknown.
    """
    chosen = {
        name: resource.spec
        for name, resource in sorted(estate.of_kind("Workload").items())
        if workloads is None or name in workloads
    }
    names = list(chosen)
    specs = [spec for spec in chosen.values() if isinstance(spec, WorkloadSpec)]
    sites = list(estate.sites.values())
    options = _options(sites)
    data = _data(estate, sites)
    acc_names = sorted(
        set(options.accelerator) | {a for s in specs for a in s.compute.accelerators}
    )
    acc_index = {a: i for i, a in enumerate(acc_names)}
    demands = _demands(estate, specs, data, accelerators=acc_index, objective=objective)
    latency_site, estimated, coverage = _latency(estate, sites, demands)
    site_rank = np.array([_rank(s.max_classification) for s in sites], dtype=np.int64)
    available = np.array([s.available for s in sites], dtype=bool)
    n_w, n_s = len(specs), len(sites)

    # Hard constraints, workloads x sites, then workloads x options.
    by_site = np.zeros((n_w, n_s), dtype=np.int64)
    by_site |= np.where(demands.need_rank[:, None] > site_rank[None, :], Reason.CLASSIFICATION, 0)
    uses = demands.uses
    outside = (uses @ (~data.resident_ok).astype(np.float64)) > 0
    by_site |= np.where(outside, Reason.RESIDENCY, 0)
    by_site |= np.where(latency_site > demands.slo[:, None], Reason.LATENCY, 0)
    by_site |= np.where(~available[None, :], Reason.SITE_DOWN, 0)
    if policy is not None and n_w and n_s:
        by_site |= np.where(policy(names, [s.name for s in sites]), Reason.POLICY, 0)
    reasons = by_site[:, options.site]
    option_acc = np.array([acc_index[a] for a in options.accelerator], dtype=np.int64)
    reasons[~demands.wants[:, option_acc]] |= Reason.ACCELERATOR
    per_device = demands.model_memory / np.maximum(demands.count, 1)
    reasons[per_device[:, None] > options.memory_gb[None, :]] |= Reason.MEMORY
    reasons[demands.count[:, None] > options.capacity[None, :]] |= Reason.CAPACITY

    terms, objective_usd = _costs(sites, options, data, demands, latency_site)
    objective_usd[reasons != 0] = np.inf
    item_workload, item_replica = _items(demands.replicas)
    return Problem(
        workloads=names,
        sites=[s.name for s in sites],
        site_kind=[s.kind for s in sites],
        option_site=options.site,
        option_pool=options.pool,
        option_accelerator=options.accelerator,
        capacity=options.capacity,
        item_workload=item_workload,
        item_replica=item_replica,
        demand=demands.count,
        min_sites=demands.min_sites,
        reasons=reasons,
        compute_usd=terms["compute_usd"],
        egress_usd=terms["egress_usd"],
        egress_gb=terms["egress_gb"],
        transfer_h=terms["transfer_h"],
        energy_kwh=terms["energy_kwh"],
        carbon_kgco2e=terms["carbon_kgco2e"],
        latency_ms=terms["latency_ms"],
        objective=objective_usd,
        service=demands.service,
        latency_estimated=estimated[:, options.site],
        coverage=coverage,
    )
