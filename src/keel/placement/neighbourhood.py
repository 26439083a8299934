"""Large-neighbourhood search: windows of a plan re-solved as small MILPs.

On problems too large for the LP-guided polish, the quick local search leaves most of a plan's
distance to the Lagrangian bound on a few replicas that sit far from their cheapest option at
cost plus the bound's prices (gangs 10,000 x 1,000 seed 1: 27,269 of the 27,676 USD between
plan and bound). Moving one of them needs several others moved out of its way, which the
search's single moves and pair swaps do not find. Smaller plans get windows too when the
polish leaves them over :data:`CLOSE_ENOUGH` above the LP bound (gangs and prices at 2,000 x
200), see :func:`keel.placement.solver.solve_fast`.

A window takes the :data:`WINDOW_SEEDS` placed replicas furthest from their cheapest priced
option, opens each one's :data:`NEAR_OPTIONS` cheapest priced options, and frees every
replica placed on an opened option. Seeds may take their :data:`SEED_OPTIONS` cheapest priced
options, the others their :data:`HELD_OPTIONS`; every replica may stay where it is. The window
is solved as the cost program with every one of its replicas placed, within the capacity the
rest of the plan leaves (:func:`keel.placement.milp.root_plan`), and its plan is kept when it
costs less. A replica is a seed once. Workloads with spread or coverage rules stay as they are.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from keel.placement.milp import root_plan
from keel.placement.problem import UNPLACED, Problem

WINDOWS = 10
"""Windows re-solved per plan at most."""
WINDOW_SEEDS = 20
NEAR_OPTIONS = 4
SEED_OPTIONS = 8
HELD_OPTIONS = 3
"""A window's shape (module docstring). Chosen on gangs and prices 10,000 x 1,000 seed 1:
100 seeds made programs HiGHS could not solve in :data:`WINDOW_LIMIT_S`; 10 seeds with 3
options gained less per second; other replicas with 8 options instead of 3 made the programs
slower for the same gain."""
WINDOW_LIMIT_S = 5.0
"""Time limit of one window's program (its root only). It is often reached (on a slow day
most windows on tight, prices and restricted at 10,000 x 1,000 took all of it), so a plan
with windows may depend on the machine's speed; see :mod:`keel.placement.solver`."""
CLOSE_ENOUGH = 0.01
"""No window is opened when the plan is within this share of the bound already."""


def improve(
    problem: Problem,
    assignment: npt.NDArray[np.int64],
    priced: npt.NDArray[np.float64],
    *,
    costs: npt.NDArray[np.float64],
    windows: int = WINDOWS,
) -> npt.NDArray[np.int64]:
    """A plan placing the same replicas as ``assignment``, for at most its cost.

    Args:
        problem: The problem.
        assignment: A feasible plan (option per item, or ``UNPLACED``).
        priced: Items x options: cost plus the Lagrangian prices times demand.
        costs: Items x options: cost (``inf`` where infeasible).
        windows: Windows re-solved at most.

    Returns:
        The improved plan (a new array).
    """
    plan = assignment.copy()
    cheapest = priced.min(axis=1)
    ruled = np.isin(problem.item_workload, sorted(problem.all_or_nothing()))
    movable = ~ruled
    for _ in range(windows):
        placed = plan != UNPLACED
        excess = np.full(len(plan), -1.0)
        excess[placed] = priced[np.flatnonzero(placed), plan[placed]] - cheapest[placed]
        excess[~movable] = -1.0
        seeds = np.argsort(-excess, kind="stable")[:WINDOW_SEEDS]
        seeds = seeds[excess[seeds] > 1e-9 * np.maximum(1.0, cheapest[seeds])]
        if seeds.size == 0:
            break
        movable[seeds] = False  # a seed once
        near = np.argsort(priced[seeds], axis=1, kind="stable")[:, :NEAR_OPTIONS]
        opened = np.unique(np.concatenate([near.ravel(), plan[seeds]]))
        free = np.union1d(seeds, np.flatnonzero(placed & np.isin(plan, opened) & ~ruled))
        window = _window(
            problem, plan, free=free, opened=opened, seeds=seeds, priced=priced, costs=costs
        )
        found = root_plan(window, WINDOW_LIMIT_S)
        if found is None or (found == UNPLACED).any():
            continue
        before = float(costs[free, plan[free]].sum())
        after = float(window.objective[np.arange(len(free)), found].sum())
        if after < before - 1e-9 * abs(before):
            plan[free] = opened[found]
    return plan


def _window(
    problem: Problem,
    plan: npt.NDArray[np.int64],
    *,
    free: npt.NDArray[np.int64],
    opened: npt.NDArray[np.int64],
    seeds: npt.NDArray[np.int64],
    priced: npt.NDArray[np.float64],
    costs: npt.NDArray[np.float64],
) -> Problem:
    """The window as a problem of its own.

    One workload per freed replica and one option per opened one, with the capacity that the
    rest of the plan leaves.
    """
    demand = problem.demand[problem.item_workload]
    held = plan != UNPLACED
    held[free] = False
    load = np.bincount(plan[held], weights=demand[held], minlength=len(problem.capacity))
    capacity = problem.capacity[opened] - load[opened].astype(np.int64)
    rank = np.argsort(np.argsort(priced[np.ix_(free, opened)], axis=1, kind="stable"), axis=1)
    allowed = rank < np.where(np.isin(free, seeds), SEED_OPTIONS, HELD_OPTIONS)[:, None]
    allowed[np.arange(len(free)), np.searchsorted(opened, plan[free])] = True
    objective = np.where(allowed, costs[np.ix_(free, opened)], np.inf)
    return Problem.from_costs(objective, capacity, demand[free], np.ones(len(free), np.int64))
