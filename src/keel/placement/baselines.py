"""Naive baselines that show what joint, capacity-aware placement buys.

* **cheapest per workload, ignoring shared capacity** (what SkyPilot-like per-task optimisers
  do): every replica takes its cheapest feasible option as if it were alone; options end up
  over capacity.
* **on-premises first, then cloud, in a fixed order** (what ordered cluster groups in Karmada
  and similar schedulers do): replicas go, in workload order, to the first feasible option with
  room, trying on-premises, private cloud, edge, then public cloud sites.

Both are scored with the same objective as Keel, and their violations are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keel.placement.problem import UNPLACED, Problem

SITE_KIND_ORDER = ("on_prem", "private_cloud", "edge", "public_cloud")


@dataclass(frozen=True, slots=True)
class Baseline:
    """A baseline assignment, its cost and how many replicas break capacity."""

    name: str
    assignment: npt.NDArray[np.int64]
    objective_usd: float
    placed: int
    capacity_violations: int


def _score(name: str, problem: Problem, assignment: npt.NDArray[np.int64]) -> Baseline:
    placed = assignment != UNPLACED
    rows = problem.item_workload[placed]
    cost = float(problem.objective[rows, assignment[placed]].sum())
    demand = problem.demand[problem.item_workload]
    violations = 0
    used = np.zeros(len(problem.capacity), dtype=np.int64)
    for item in np.flatnonzero(placed):
        option = assignment[item]
        used[option] += demand[item]
        if used[option] > problem.capacity[option]:
            violations += 1
    return Baseline(name, assignment, cost, int(placed.sum()), violations)


def cheapest_ignoring_capacity(problem: Problem) -> Baseline:
    """Every replica on its cheapest feasible option, capacity ignored.

    Args:
        problem: The problem.

    Returns:
        The baseline, with the replicas that overflow an option counted as violations.
    """
    costs = problem.item_costs()
    assignment = np.full(costs.shape[0], UNPLACED, dtype=np.int64)
    if costs.size:
        best = np.argmin(costs, axis=1)
        ok = np.isfinite(costs[np.arange(costs.shape[0]), best])
        assignment[ok] = best[ok]
    return _score("cheapest per workload, capacity ignored", problem, assignment)


def on_prem_first(problem: Problem) -> Baseline:
    """Replicas in workload order to the first feasible option with room, owned sites first.

    Args:
        problem: The problem.

    Returns:
        The baseline.
    """
    rank = [SITE_KIND_ORDER.index(problem.site_kind[s]) for s in problem.option_site]
    order = sorted(
        range(len(problem.option_site)),
        key=lambda o: (rank[o], problem.sites[problem.option_site[o]], o),
    )
    ordered = np.asarray(order, dtype=np.int64)
    feasible = np.isfinite(problem.item_costs())[:, ordered]  # items x options, in fixed order
    demand = problem.demand[problem.item_workload]
    left = problem.capacity[ordered].copy()
    assignment = np.full(feasible.shape[0], UNPLACED, dtype=np.int64)
    for item in range(feasible.shape[0]):
        fits = np.flatnonzero(feasible[item] & (left >= demand[item]))
        if fits.size:
            first = fits[0]
            assignment[item] = ordered[first]
            left[first] -= demand[item]
    return _score("on-premises first, then cloud, fixed order", problem, assignment)
