"""Lagrangian lower bound on a plan's cost, for problems too large for the LP.

Relaxing the capacities (a price ``p`` per device of every option) and the number of replicas
placed (a reward ``r`` per replica), any plan placing at least ``K`` replicas within capacity
costs at least::

    L(p, r) = sum over items of min(0, min over options of cost + p x demand - r)
              + r x K - sum over options of p x capacity

for every ``p >= 0`` and ``r >= 0``. The bound is the best ``L`` found by subgradient ascent
with Polyak steps towards a known plan's cost. Its best value equals the LP relaxation's (the
relaxed problem has integral vertices); spread and coverage rules are dropped, which only
lowers it. No penalty for unplaced replicas enters it, so the step sizes are in the units of
the costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keel.placement.problem import Problem

Floats = npt.NDArray[np.float64]
MAX_ROUNDS = 300
MIN_ROUNDS = 50
PAIR_STEPS = 5e8
"""Feasible pairs x steps the two starts may take together before fewer steps are allowed.

At 10,000 x 1,000 with 5 million feasible pairs, 300 steps per start took 10-22 s; 50 took
4-5 s, and the bound was 1% weaker on the tight family, 5% on gangs and 8% on prices."""
STALE_ROUNDS = 10
"""Steps without a better bound before the step size halves."""
MIN_THETA = 1e-4
"""The ascent stops when the step size has halved this far."""
SETTLED_WINDOW = 25
SETTLED_GAIN = 1e-4
"""The ascent also stops when the bound rose by less than this share over that many steps."""


def lagrangian_bound(
    problem: Problem, placed: int, upper: float, *, rounds: int | None = None
) -> float:
    """A lower bound on the cost of plans placing at least ``placed`` replicas.

    The ascent runs twice, ``rounds`` steps each: from a zero reward (every replica starts
    unplaced) and from a reward above every cost (every replica starts placed). Either start
    alone fell short on some measured families (one by 12% on gangs at 2,000 x 200, the
    other by 1% on residency-bound ones). The better of the two was within 0.31% of the LP
    bound on 20 of 24 instances of ``bench/placement.py``'s families (seeds 1-3, which the
    two starts were chosen on), 0.94% below on one, and 2-6% below on gangs at 300 x 60; on
    held-out seeds 4-5, within 0.11% on 12 of 16, 0.4-0.6% below on restricted and 3-5% below
    on gangs at 300 x 60. Each start stops early once its bound rose by under 0.01%
    over 25 steps. (Measured before :meth:`Problem.from_costs` ruled out pools smaller than a
    replica; since, at 300 x 60, it is within 0.08% of the LP bound on gangs.)

    Args:
        problem: The problem.
        placed: Replicas the plans place at least.
        upper: The cost of a plan placing that many (steers the step size).
        rounds: Subgradient steps per start; by default 300, fewer on large problems so that
            both starts together look at about :data:`PAIR_STEPS` feasible pairs (no fewer
            than 50 steps).

    Returns:
        The best bound found (never above ``upper``).
    """
    pairs = _Pairs.of(problem)
    if placed == 0 or pairs.cost.size == 0:
        return 0.0
    if rounds is None:
        rounds = int(min(MAX_ROUNDS, max(MIN_ROUNDS, PAIR_STEPS / 2 / pairs.cost.size)))
    top = float(pairs.cost.max())
    best = max(
        _ascent(
            pairs,
            problem.capacity.astype(np.float64),
            (placed, upper),
            reward=reward,
            rounds=rounds,
        )
        for reward in (0.0, top)
    )
    return min(best, upper)


@dataclass(frozen=True, slots=True)
class _Pairs:
    """The feasible (workload, option) pairs, grouped by workload.

    Replicas of one workload are alike, so the relaxed choice is made once per workload and
    counted ``copies`` times; only feasible pairs are stored, so a step costs time in their
    number, not in workloads x options.
    """

    workload: npt.NDArray[np.int64]
    option: npt.NDArray[np.int64]
    cost: Floats
    demand: Floats
    starts: npt.NDArray[np.int64]
    copies: Floats

    @classmethod
    def of(cls, problem: Problem) -> _Pairs:
        workload, option = np.nonzero(np.isfinite(problem.objective))
        rows, starts = np.unique(workload, return_index=True)
        copies = np.bincount(problem.item_workload, minlength=len(problem.workloads))
        return cls(
            np.searchsorted(rows, workload),
            option,
            problem.objective[workload, option],
            problem.demand[rows].astype(np.float64),
            starts.astype(np.int64),
            copies[rows].astype(np.float64),
        )


def _ascent(
    pairs: _Pairs,
    capacity: Floats,
    target: tuple[int, float],
    *,
    reward: float,
    rounds: int,
) -> float:
    """Subgradient ascent with Polyak steps from zero prices and the given reward."""
    placed, upper = target
    prices = np.zeros(len(capacity))
    best, theta, stale = -np.inf, 1.0, 0
    pair_demand = pairs.demand[pairs.workload]
    history: list[float] = []
    for _ in range(rounds):
        priced = pairs.cost + pair_demand * prices[pairs.option]
        cheapest = np.minimum.reduceat(priced, pairs.starts)
        first = np.flatnonzero(priced <= cheapest[pairs.workload])
        if first.size > len(cheapest):  # ties: keep each workload's first cheapest option
            owner = pairs.workload[first]
            first = first[np.concatenate([[True], owner[1:] != owner[:-1]])]
        value = cheapest - reward
        taken = value < 0
        count = pairs.copies[taken]
        bound = float(value[taken] @ count + reward * placed - prices @ capacity)
        if bound > best + 1e-9 * max(1.0, abs(best) if np.isfinite(best) else 1.0):
            best, stale = bound, 0
        else:
            stale += 1
            if stale >= STALE_ROUNDS:
                theta, stale = theta / 2, 0
        load = np.bincount(
            pairs.option[first[taken]], weights=pairs.demand[taken] * count, minlength=len(prices)
        )
        g_prices = load - capacity
        g_prices[(prices <= 0) & (g_prices < 0)] = 0.0
        g_reward = float(placed - count.sum())
        if reward <= 0 and g_reward < 0:
            g_reward = 0.0
        norm = float(g_prices @ g_prices) + g_reward * g_reward
        history.append(best)
        if norm == 0.0 or theta < MIN_THETA or _settled(history):
            break  # norm 0: the relaxed choice is feasible and complementary, the bound exact
        step = theta * max(upper - bound, 1e-9 * abs(upper)) / norm
        prices = np.maximum(0.0, prices + step * g_prices)
        reward = max(0.0, reward + step * g_reward)
    return best


def _settled(history: list[float]) -> bool:
    """The best bound rose by under :data:`SETTLED_GAIN` of itself over the last window."""
    if len(history) <= SETTLED_WINDOW or not np.isfinite(history[-SETTLED_WINDOW - 1]):
        return False
    before, now = history[-SETTLED_WINDOW - 1], history[-1]
    return now > 0 and now - before < SETTLED_GAIN * now
