"""Plans: placements with their costs, the unplaced with reasons and relaxations, explanations.

A plan is plain data (JSON-compatible via :meth:`Plan.to_json`). For every workload it can say
which option was chosen and what it costs, the next best alternatives with the deltas, every
rejected site with the reason codes that removed it, and for a workload that cannot be placed
the smallest relaxation that would place it.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from keel.placement.problem import UNPLACED, Problem
from keel.placement.reasons import Reason, reason_codes
from keel.placement.solver import Solution

ALTERNATIVES = 3

Period = Literal["month", "run"]
"""What a placement's figures cover: a month of a service, or one run of a job."""
PERIODS: tuple[Period, ...] = ("month", "run")
TOTALLED = ("cost_usd", "energy_kwh", "carbon_kgco2e", "egress_gb")
"""The quantities a plan totals per period."""


@dataclass(frozen=True, slots=True)
class Placement:
    """One replica group of a workload on one pool."""

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
    latency_ms: float
    objective_usd: float
    reasons: list[str]
    period: Period

    def to_json(self) -> dict[str, Any]:
        """JSON form (``reasons`` says why this option won; ``period`` what the costs cover)."""
        return {
            "workload": self.workload,
            "site": self.site,
            "pool": self.pool,
            "devices": self.devices,
            "replicas": self.replicas,
            "cost_usd": round(self.cost_usd, 4),
            "compute_usd": round(self.compute_usd, 4),
            "egress_usd": round(self.egress_usd, 4),
            "egress_gb": round(self.egress_gb, 3),
            "transfer_h": round(self.transfer_h, 4),
            "energy_kwh": round(self.energy_kwh, 4),
            "carbon_kgco2e": round(self.carbon_kgco2e, 4),
            "latency_ms": round(self.latency_ms, 3),
            "objective_usd": round(self.objective_usd, 4),
            "reasons": self.reasons,
            "period": self.period,
        }


@dataclass(frozen=True, slots=True)
class Unplaced:
    """A workload (or some of its replicas) that no option could take."""

    workload: str
    replicas: int
    reasons: list[str]
    relaxations: list[str]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "workload": self.workload,
            "replicas": self.replicas,
            "reasons": self.reasons,
            "relaxations": self.relaxations,
        }


@dataclass
class Plan:
    """Placements for a set of workloads, with totals, solver, bound and gap.

    ``schedule``: with a horizon, when each job runs (:mod:`keel.service.timing`).
    """

    placements: list[Placement]
    unplaced: list[Unplaced]
    solver: str
    objective_preset: str
    objective_usd: float
    bound_usd: float
    gap: float | None
    solve_s: float
    estate_digest: str = ""
    policy_digest: str = ""
    totals: dict[str, float] = field(default_factory=dict)
    bound_method: str = "none"
    schedule: dict[str, Any] | None = None
    placeable_at_most: int | None = None
    unplaceable: int = 0
    budget_s: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The plan as ``keel plan -o json`` prints it (``budget_s`` only when set)."""
        budget = {} if self.budget_s is None else {"budget_s": self.budget_s}
        return {
            "placements": [p.to_json() for p in self.placements],
            "unplaced": [u.to_json() for u in self.unplaced],
            "totals": {k: round(v, 4) for k, v in self.totals.items()},
            "solver": self.solver,
            "objective": self.objective_preset,
            "objective_usd": round(self.objective_usd, 4),
            "bound": round(self.bound_usd, 4) if np.isfinite(self.bound_usd) else None,
            "gap": None if self.gap is None else round(self.gap, 6),
            "bound_method": self.bound_method,
            "placeable_at_most": self.placeable_at_most,
            "unplaceable": self.unplaceable,
            "solve_s": round(self.solve_s, 4),
            "estate_digest": self.estate_digest,
            "policy_digest": self.policy_digest,
            "schedule": self.schedule,
        } | budget


def _why_chosen(problem: Problem, w: int, o: int) -> list[str]:
    costs = problem.objective[w]
    rank = int((costs < costs[o] - 1e-9).sum())  # o is feasible: infeasible (inf) never count
    why = [
        "cheapest feasible option"
        if rank == 0
        else f"cheapest with capacity left (rank {rank + 1})"
    ]
    if problem.egress_gb[w, o] == 0 and problem.egress_gb[w].max() > 0:
        why.append("data already there")
    return why


def build_plan(problem: Problem, solution: Solution, objective_preset: str) -> Plan:
    """Turn a solution into a plan with costs, unplaced workloads and relaxations.

    Args:
        problem: The problem that was solved.
        solution: The solver's result.
        objective_preset: The default objective preset used.

    Returns:
        The plan.
    """
    groups: dict[tuple[int, int], int] = defaultdict(int)
    missing: dict[int, int] = defaultdict(int)
    for item, option in enumerate(solution.assignment):
        w = int(problem.item_workload[item])
        if option == UNPLACED:
            missing[w] += 1
        else:
            groups[(w, int(option))] += 1
    placements = []
    for (w, o), n in sorted(groups.items()):
        compute = float(problem.compute_usd[w, o]) * n
        egress = float(problem.egress_usd[w, o]) * n
        placements.append(
            Placement(
                workload=problem.workloads[w],
                site=problem.sites[problem.option_site[o]],
                pool=problem.option_pool[o],
                devices=int(problem.demand[w]) * n,
                replicas=n,
                cost_usd=compute + egress,
                compute_usd=compute,
                egress_usd=egress,
                egress_gb=float(problem.egress_gb[w, o]) * n,
                transfer_h=float(problem.transfer_h[w, o]),
                energy_kwh=float(problem.energy_kwh[w, o]) * n,
                carbon_kgco2e=float(problem.carbon_kgco2e[w, o]) * n,
                latency_ms=float(problem.latency_ms[w, o]),
                objective_usd=float(problem.objective[w, o]) * n,
                reasons=_why_chosen(problem, w, o),
                period="month" if problem.service[w] else "run",
            )
        )
    unplaced = [
        Unplaced(
            problem.workloads[w],
            n,
            reason_codes(_blocking(problem, w)) or ["capacity"],
            relaxations(problem, w),
        )
        for w, n in sorted(missing.items())
    ]
    totals = period_totals(placements)
    return Plan(
        placements,
        unplaced,
        solution.solver,
        objective_preset,
        solution.objective,
        solution.bound,
        solution.gap,
        solution.seconds,
        totals=totals,
        bound_method=solution.bound_method,
        placeable_at_most=solution.placed_bound,
        unplaceable=solution.unplaceable,
        budget_s=solution.budget_s,
    )


def period_totals(placements: list[Placement]) -> dict[str, float]:
    """Costs, energy, carbon and egress added like with like: services per month, jobs per run.

    Keys are ``{quantity}_per_{period}``: ``cost_usd_per_month``, ``cost_usd_per_run``, and so
    on for ``energy_kwh``, ``carbon_kgco2e`` and ``egress_gb``. A job's "per run" is one run of
    each job in the plan.
    """
    totals = {f"{q}_per_{period}": 0.0 for q in TOTALLED for period in PERIODS}
    for p in placements:
        for quantity in TOTALLED:
            totals[f"{quantity}_per_{p.period}"] += getattr(p, quantity)
    return totals


def _blocking(problem: Problem, w: int) -> int:
    """Reasons present on every option (what a single option change cannot fix)."""
    row = problem.reasons[w]
    if row.size == 0 or (row == 0).any():
        return 0
    return int(np.bitwise_or.reduce(row))


def site_rejections(problem: Problem, w: int) -> dict[str, list[str]]:
    """Every site none of whose options is feasible for a workload, with the reasons.

    Args:
        problem: The problem.
        w: Workload index.

    Returns:
        Reason codes by site name; the codes common to all of the site's options first.
    """
    result: dict[str, list[str]] = {}
    row = problem.reasons[w]
    sites_with = problem.option_site
    if row.size:
        # Options are laid out site by site, so per-site reductions are one reduceat each.
        starts = np.flatnonzero(np.r_[True, sites_with[1:] != sites_with[:-1]])
        blocked = np.minimum.reduceat(row, starts) > 0
        common = np.bitwise_and.reduceat(row, starts)
        every = np.bitwise_or.reduceat(row, starts)
        for k in np.flatnonzero(blocked).tolist():
            first = reason_codes(int(common[k]))
            rest = [c for c in reason_codes(int(every[k])) if c not in first]
            result[problem.sites[int(sites_with[starts[k]])]] = first + rest
    with_options = set(sites_with.tolist())
    for s, site in enumerate(problem.sites):
        if s not in with_options:
            result[site] = ["capacity"]
    return result


def relaxations(problem: Problem, w: int) -> list[str]:
    """The smallest changes that would make a workload placeable, cheapest site first.

    An option blocked by exactly one reason suggests the matching relaxation: more devices,
    a looser SLO, a dataset allowed at the site, and so on.

    Args:
        problem: The problem.
        w: Workload index.

    Returns:
        Human-readable suggestions (at most three; worked out once per problem and workload,
        as a plan and each explanation of it ask for them).
    """
    known = problem.relaxed.get(w)
    if known is None:
        known = problem.relaxed[w] = _relaxations(problem, w)
    return list(known)


def _relaxations(problem: Problem, w: int) -> list[str]:
    row = problem.reasons[w]
    candidates = np.flatnonzero((row == 0) | np.isin(row, SINGLE_REASONS))
    costs = problem.compute_usd[w, candidates] + problem.egress_usd[w, candidates]
    order = np.argsort(costs, kind="stable")
    ordered = costs[order]
    # Only the cheapest candidates can give the first distinct suggestions: text them one cost
    # level at a time until there are enough, the last level whole (sorting then breaks ties
    # by text, as a sort of every option would).
    seen: list[str] = []
    start = 0
    while start < len(order) and len(seen) < ALTERNATIVES:
        end = int(np.searchsorted(ordered, ordered[start], side="right"))  # > start
        level = set(_texts(problem, w, candidates[order[start:end]]))
        seen += heapq.nsmallest(ALTERNATIVES - len(seen), level.difference(seen))
        start = end
    return seen


SINGLE_REASONS = [
    int(r)
    for r in (
        Reason.CAPACITY,
        Reason.LATENCY,
        Reason.RESIDENCY,
        Reason.CLASSIFICATION,
        Reason.ACCELERATOR,
        Reason.SITE_DOWN,
    )
]
"""Reasons that one change can lift; an option blocked by exactly one suggests that change."""


def _texts(problem: Problem, w: int, options: npt.NDArray[np.int64]) -> list[str]:
    """Per option of a workload, the change lifting the one reason blocking it (or free capacity).

    Called with one cost level at a time, often hundreds of options.
    """
    demand = int(problem.demand[w])
    sites = problem.sites
    accelerators = problem.option_accelerator
    texts = []
    for o, mask, s in zip(
        options.tolist(),
        problem.reasons[w, options].tolist(),
        problem.option_site[options].tolist(),
        strict=True,
    ):
        site = sites[s]
        if mask == 0:
            texts.append(f"free capacity: {demand} {accelerators[o]} at site {site}")
        elif mask == Reason.CAPACITY:
            more = int(demand - problem.capacity[o])
            texts.append(f"add {more} {accelerators[o]} at site {site}")
        elif mask == Reason.LATENCY:
            texts.append(f"raise the SLO to {problem.latency_ms[w, o]:.0f} ms (site {site})")
        elif mask == Reason.RESIDENCY:
            texts.append(f"allow the inputs' data at site {site} (residency)")
        elif mask == Reason.CLASSIFICATION:
            texts.append(f"raise max_classification of site {site}")
        elif mask == Reason.ACCELERATOR:
            texts.append(f"accept {accelerators[o]} (available at site {site})")
        else:
            assert mask == Reason.SITE_DOWN, mask
            texts.append(f"bring site {site} back up")
    return texts


def explain(problem: Problem, solution: Solution, workload: str) -> dict[str, Any]:
    """Why a workload is where it is: chosen options, alternatives, rejected sites.

    Args:
        problem: The problem.
        solution: The solution.
        workload: The workload's name.

    Returns:
        ``chosen`` (options with cost terms), ``alternatives`` (next best options with the
        delta in USD), ``rejected`` (sites with reason codes) and ``relaxations``.

    Raises:
        KeyError: If the workload is not in the problem.
    """
    w = problem.workload_index(workload)
    if w is None:
        raise KeyError(workload)
    items = np.flatnonzero(problem.item_workload == w)
    chosen = sorted({int(o) for o in solution.assignment[items] if o != UNPLACED})
    best = min((float(problem.objective[w, o]) for o in chosen), default=float("inf"))
    row = problem.objective[w]
    candidates = np.flatnonzero(np.isfinite(row))
    if chosen:
        candidates = candidates[~np.isin(candidates, chosen)]
    nearest = candidates[np.argsort(row[candidates], kind="stable")[:ALTERNATIVES]]
    feasible = [int(o) for o in nearest]

    def option(o: int) -> dict[str, Any]:
        return {
            "site": problem.sites[problem.option_site[o]],
            "pool": problem.option_pool[o],
            "objective_usd": round(float(problem.objective[w, o]), 4),
            "compute_usd": round(float(problem.compute_usd[w, o]), 4),
            "egress_usd": round(float(problem.egress_usd[w, o]), 4),
            "carbon_kgco2e": round(float(problem.carbon_kgco2e[w, o]), 4),
            "latency_ms": round(float(problem.latency_ms[w, o]), 3),
        }

    return {
        "workload": workload,
        "chosen": [option(o) for o in chosen],
        "alternatives": [
            {**option(o), "delta_usd": round(float(problem.objective[w, o]) - best, 4)}
            for o in feasible[:ALTERNATIVES]
        ],
        "rejected": site_rejections(problem, w),
        "relaxations": relaxations(problem, w) if len(chosen) == 0 else [],
    }
