"""Large-neighbourhood search: windows of a plan re-solved as small programs.

On problems too large for the LP-guided polish, the quick local search leaves most of a plan's
distance to the Lagrangian bound on a few replicas that sit far from their cheapest option at
cost plus the bound's prices (gangs 10,000 x 1,000 seed 1: 27,269 of the 27,676 USD between
plan and bound). Moving one of them needs several others moved out of its way, which the
search's single moves and pair swaps do not find. Smaller plans get windows too when the
polish leaves them over :data:`CLOSE_ENOUGH` above the LP bound (gangs and prices at 2,000 x
200), see :func:`keel.placement.solver.solve_fast`.

A window takes the placed replicas furthest from their cheapest priced option as seeds,
opens each one's :data:`NEAR_OPTIONS` cheapest priced options, and frees every replica placed
on an opened option. Seeds may take their :data:`SEED_OPTIONS` cheapest priced options, the
others their :data:`HELD_OPTIONS`; every replica may stay where it is. The window is the cost
program with every one of its replicas placed, within the capacity the rest of the plan
leaves, solved one of two ways (:class:`Shape`):

* ``WHOLE`` (after the polish, on problems up to a million items x options): 10 windows of 20
  seeds, each program solved at its root (:func:`keel.placement.milp.root_plan`);
* ``GUIDED`` (above): 20 windows of 60 seeds. Each window's LP relaxation is solved first
  (:func:`keel.placement.milp.relax`); when it proves the window cannot get cheaper, nothing
  more is done, else the window is polished like a small problem
  (:func:`keel.placement.milp.polish`): replicas where plan and LP agree stay, the others
  choose between their option in the plan and the LP's, at the program's root.

A window's plan is kept when it costs less. A replica is a seed once. Workloads with spread or
coverage rules stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keel.placement.deadline import NEVER, Deadline
from keel.placement.milp import polish, relax, root_plan
from keel.placement.problem import UNPLACED, Problem

NEAR_OPTIONS = 4
SEED_OPTIONS = 8
HELD_OPTIONS = 3
"""A window's options (module docstring). Chosen on gangs and prices 10,000 x 1,000 seed 1,
with whole windows: 10 seeds with 3 options gained less per second; other replicas with 8
options instead of 3 made the programs slower for the same gain."""


@dataclass(frozen=True, slots=True)
class Shape:
    """How many windows, how large, and how each is solved.

    Attributes:
        windows: Windows re-solved per plan at most.
        seeds: Seeds per window.
        guided: Polish each window at its LP relaxation (``False``: solve it whole, at the
            root of its MILP).
        limit_s: Time limit of each program (a guard; past it, HiGHS returns the best plan
            found so far, which then depends on the machine's speed).
    """

    windows: int
    seeds: int
    guided: bool
    limit_s: float


WHOLE = Shape(windows=10, seeds=20, guided=False, limit_s=5.0)
"""After the polish. bench/placement.py, 2,000 x 200 seeds 1-3 (2026-12-03): 0.67-0.88%
above the LP bound on gangs and 0.37-0.80% on prices, against 1.29-1.69% and 0.80-1.02% with
:data:`GUIDED` windows; 100 seeds made programs HiGHS could not solve in 5 s. The limit is
reached on prices at 2,000 x 200."""
GUIDED = Shape(windows=20, seeds=60, guided=True, limit_s=10.0)
"""Above a million items x options. bench/placement.py, 10,000 x 1,000 seeds 1 and 2
(2026-12-03): whole windows of 20 seeds each took their 5 s limit on tight and prices; these
took the plan further on 7 of 10 instances (estate seed 2 from 2.03% to 1.24% above its
bound) and the whole solve took 0.3-0.45 of the time on tight and restricted, about 0.9 on
estate, but less far on gangs (1.91-1.96% against 1.51-1.78%) and more slowly on prices
(92-103 s against 79-86 s). The shape was chosen on tight seed 1. A window took 0.4-4.7 s on
prices seed 1, the one run timed window by window."""
CLOSE_ENOUGH = 0.01
"""No window is opened when the plan is within this share of the bound already."""


def improve(
    problem: Problem,
    assignment: npt.NDArray[np.int64],
    priced: npt.NDArray[np.float64],
    *,
    costs: npt.NDArray[np.float64],
    shape: Shape = WHOLE,
    deadline: Deadline = NEVER,
) -> npt.NDArray[np.int64]:
    """A plan placing the same replicas as ``assignment``, for at most its cost.

    Args:
        problem: The problem.
        assignment: A feasible plan (option per item, or ``UNPLACED``).
        priced: Items x options: cost plus the Lagrangian prices times demand.
        costs: Items x options: cost (``inf`` where infeasible).
        shape: How many windows, how large, solved how.
        deadline: Past it, no further window opens; HiGHS gets at most the time left.

    Returns:
        The improved plan (a new array).
    """
    plan = assignment.copy()
    cheapest = priced.min(axis=1)
    ruled = np.isin(problem.item_workload, sorted(problem.all_or_nothing()))
    movable = ~ruled
    for _ in range(shape.windows):
        if deadline.passed():
            break
        placed = plan != UNPLACED
        excess = np.full(len(plan), -1.0)
        excess[placed] = priced[np.flatnonzero(placed), plan[placed]] - cheapest[placed]
        excess[~movable] = -1.0
        seeds = np.argsort(-excess, kind="stable")[: shape.seeds]
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
        before = float(costs[free, plan[free]].sum())
        limit_s = deadline.limit_s(shape.limit_s)
        if shape.guided:
            relaxation = relax(window, len(free), limit_s)
            if not relaxation.value < before - 1e-9 * abs(before):
                continue  # the LP proves this window as cheap as it gets
            start = np.searchsorted(opened, plan[free])
            found = polish(window, start, relaxation, time_limit_s=deadline.limit_s(limit_s))
        else:
            found = root_plan(window, limit_s)
        if found is None or (found == UNPLACED).any():
            continue
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
