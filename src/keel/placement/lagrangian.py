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

The prices at the best bound are near the LP's duals: the fast solver places replicas at cost
plus these prices on large problems (:func:`keel.placement.solver.solve_fast`). Polyak steps
aim at the cost of a known plan, so a plan far above the optimum makes the ascent stop short;
:func:`tightened` continues it from its prices towards a better plan's cost.

On problems with more than :data:`NEAR_PAIRS` feasible pairs, between full evaluations
(every :data:`FULL_EVERY` steps), a step looks only at each workload's options near its
cheapest at the current prices (:data:`NEAR_SHARE`): most options of a workload are far from
being its cheapest, and a full step over 5-10 million feasible pairs at 10,000 x 1,000 took
45-70 ms. Only full evaluations count as bounds, so every bound stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from keel.placement.deadline import NEVER, Deadline
from keel.placement.problem import Problem

Floats = npt.NDArray[np.float64]
MAX_ROUNDS = 300
"""Subgradient steps per start at most."""
NEAR_PAIRS = 1_000_000
"""Feasible pairs above which steps between full evaluations look at near options only
(below, every step is a full evaluation: at 300 x 60 near steps left the bound 1-5% below
the LP's, against 0.01-0.09% with full steps)."""
FULL_EVERY = 10
"""Steps between full evaluations over every feasible pair above :data:`NEAR_PAIRS` (the
first step is one)."""
NEAR_SHARE = 0.3
"""Between full evaluations, a step looks at a workload's options priced within this share
of the way from its cheapest to its average option at the last full evaluation."""
MIN_THETA = 1e-4
"""The ascent stops when the step size has halved this far."""
SETTLED_GAIN = 1e-4
"""The ascent also stops when the bound rose by less than this share over a window of full
evaluations (:class:`_Schedule`)."""


@dataclass(frozen=True, slots=True)
class _Schedule:
    """How often the ascent evaluates every pair, and how it reads those evaluations.

    Attributes:
        every: Steps from one full evaluation to the next.
        stale: Full evaluations without a better bound before the step size halves.
        window: Full evaluations over which a rise under :data:`SETTLED_GAIN` stops the ascent.
    """

    every: int
    stale: int
    window: int


EVERY_STEP = _Schedule(every=1, stale=10, window=25)
"""Up to :data:`NEAR_PAIRS` feasible pairs: every step is a full evaluation."""
SPACED = _Schedule(every=FULL_EVERY, stale=2, window=5)
"""Above :data:`NEAR_PAIRS`: full evaluations :data:`FULL_EVERY` steps apart, near steps between
(about 20 and 50 steps, where every step was 10 and 25)."""


@dataclass(frozen=True, slots=True)
class Lagrange:
    """A Lagrangian bound and the capacity prices that gave it.

    Attributes:
        bound: A lower bound on the cost of plans placing at least the given replicas.
        prices: USD per device of each option at that bound (zeros if none was computed).
        reward: USD per replica placed at that bound.
        placed: The replicas the plans place at least.
    """

    bound: float
    prices: Floats = field(repr=False)
    reward: float = 0.0
    placed: int = 0


def lagrangian(
    problem: Problem,
    placed: int,
    upper: float,
    *,
    rounds: int = MAX_ROUNDS,
    deadline: Deadline = NEVER,
) -> Lagrange:
    """A lower bound on the cost of plans placing at least ``placed`` replicas, with its prices.

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
        rounds: Subgradient steps per start.
        deadline: Past it, the ascent takes no further step (its first, a full evaluation,
            always runs), and the second start does not begin (the bound is then weaker,
            never invalid).

    Returns:
        The best bound found (never above ``upper``) and its prices.
    """
    pairs = _Pairs.of(problem)
    if placed == 0 or pairs.cost.size == 0:
        return Lagrange(0.0, np.zeros(len(problem.capacity)), placed=placed)
    top = float(pairs.cost.max())
    capacity = problem.capacity.astype(np.float64)
    found = [
        _ascent(pairs, capacity, (placed, upper), reward=reward, rounds=rounds, deadline=deadline)
        for reward in (0.0, top)
        if reward == 0.0 or not deadline.passed()
    ]
    best = max(found, key=lambda one: one.bound)
    return Lagrange(min(best.bound, upper), best.prices, best.reward, placed)


@dataclass(frozen=True, slots=True)
class _Pairs:
    """The feasible (workload, option) pairs, grouped by workload.

    Replicas of one workload are alike, so the relaxed choice is made once per workload and
    counted ``copies`` times; only feasible pairs are stored, so a step costs time in their
    number, not in workloads x options.

    Attributes:
        workload: Each pair's workload (its row among the workloads with a pair).
        option: Each pair's option.
        cost: Each pair's cost per replica.
        pair_demand: Each pair's devices per replica (its workload's).
        demand: Devices per replica of each workload.
        starts: Where each workload's pairs begin.
        copies: Replicas of each workload.
    """

    workload: npt.NDArray[np.int64]
    option: npt.NDArray[np.int64]
    cost: Floats
    pair_demand: Floats
    demand: Floats
    starts: npt.NDArray[np.int64]
    copies: Floats

    @classmethod
    def of(cls, problem: Problem) -> _Pairs:
        # np.nonzero lists pairs row by row, so each workload's pairs are already together:
        # a pass over them groups them (np.unique sorted all 5 million again at 10,000 x 1,000).
        workload, option = np.nonzero(np.isfinite(problem.objective))
        first = np.ones(len(workload), dtype=bool)
        first[1:] = workload[1:] != workload[:-1]
        starts = np.flatnonzero(first)
        rows = workload[starts]
        demand = problem.demand[rows].astype(np.float64)
        copies = np.bincount(problem.item_workload, minlength=len(problem.workloads))
        compact = np.cumsum(first) - 1
        return cls(
            compact,
            option,
            problem.objective[workload, option],
            demand[compact],
            demand,
            starts.astype(np.int64),
            copies[rows].astype(np.float64),
        )

    def priced(self, prices: Floats, out: Floats) -> Floats:
        """Every pair's cost plus its demand at ``prices``, written into ``out``'s start.

        ``out`` is reused from step to step: at 10,000 x 1,000 a step's temporaries were
        each 40 MB of fresh memory, and fresh memory is slow to get on this machine.
        """
        priced = np.take(prices, self.option, out=out[: self.cost.size], mode="clip")
        priced *= self.pair_demand
        priced += self.cost
        return priced

    def spread(self, per_workload: Floats, out: Floats) -> Floats:
        """A value per workload repeated for each of its pairs, written into ``out``'s start."""
        return np.take(per_workload, self.workload, out=out[: self.cost.size], mode="clip")

    def near(self, priced: Floats, cheapest: Floats, scratch: Floats) -> _Pairs:
        """Each workload's options within :data:`NEAR_SHARE` of the way to its average option.

        Args:
            priced: Every pair's cost plus prices.
            cheapest: Each workload's cheapest priced pair (always kept).
            scratch: Room for a value per pair (overwritten).
        """
        counts = np.diff(np.append(self.starts, len(self.cost)))
        average = np.add.reduceat(priced, self.starts) / counts
        limit = cheapest + NEAR_SHARE * (average - cheapest)
        keep = np.flatnonzero(priced <= self.spread(limit, scratch))
        workload = self.workload[keep]
        starts = np.flatnonzero(np.concatenate([[True], workload[1:] != workload[:-1]]))
        return _Pairs(
            workload,
            self.option[keep],
            self.cost[keep],
            self.pair_demand[keep],
            self.demand,
            starts,
            self.copies,
        )


def _ascent(
    pairs: _Pairs,
    capacity: Floats,
    target: tuple[int, float],
    *,
    reward: float,
    rounds: int,
    prices: Floats | None = None,
    deadline: Deadline = NEVER,
) -> Lagrange:
    """Subgradient ascent with Polyak steps from the given prices (zeros) and reward.

    Steps between full evaluations use :meth:`_Pairs.near` and steer only; the best of the
    full evaluations is the bound.
    """
    placed, upper = target
    prices = np.zeros(len(capacity)) if prices is None else prices
    best, best_prices, best_reward, theta, stale = -np.inf, prices, reward, 1.0, 0
    history: list[float] = []
    near = pairs
    spaced = pairs.cost.size > NEAR_PAIRS
    schedule = SPACED if spaced else EVERY_STEP
    buffer, scratch = np.empty(pairs.cost.size), np.empty(pairs.cost.size)
    for step in range(rounds):
        if step > 0 and deadline.passed():
            break  # the first step is a full evaluation, so there is a bound
        full = step % schedule.every == 0
        use = pairs if full else near
        priced = use.priced(prices, buffer)
        cheapest = np.minimum.reduceat(priced, use.starts)
        if full and spaced:
            near = pairs.near(priced, cheapest, scratch)
        first = np.flatnonzero(priced <= use.spread(cheapest, scratch))
        if first.size > len(cheapest):  # ties: keep each workload's first cheapest option
            owner = use.workload[first]
            first = first[np.concatenate([[True], owner[1:] != owner[:-1]])]
        value = cheapest - reward
        taken = value < 0
        count = use.copies[taken]
        bound = float(value[taken] @ count + reward * placed - prices @ capacity)
        if full and bound > best + 1e-9 * max(1.0, abs(best) if np.isfinite(best) else 1.0):
            best, best_prices, best_reward, stale = bound, prices, reward, 0
        elif full:
            stale += 1
            if stale >= schedule.stale:
                theta, stale = theta / 2, 0
        load = np.bincount(
            use.option[first[taken]], weights=use.demand[taken] * count, minlength=len(prices)
        )
        g_prices = load - capacity
        g_prices[(prices <= 0) & (g_prices < 0)] = 0.0
        g_reward = float(placed - count.sum())
        if reward <= 0 and g_reward < 0:
            g_reward = 0.0
        norm = float(g_prices @ g_prices) + g_reward * g_reward
        if full:
            history.append(best)
            if norm == 0.0 or theta < MIN_THETA or _settled(history, schedule.window):
                break  # norm 0: the relaxed choice is feasible and complementary, the bound exact
        if norm == 0.0:
            continue  # the near options' choice is feasible: the next full evaluation decides
        step_size = theta * max(upper - bound, 1e-9 * abs(upper)) / norm
        prices = np.maximum(0.0, prices + step_size * g_prices)
        reward = max(0.0, reward + step_size * g_reward)
    return Lagrange(best, best_prices, best_reward, placed)


def tightened(
    problem: Problem,
    start: Lagrange,
    placed: int,
    upper: float,
    *,
    rounds: int = MAX_ROUNDS,
    deadline: Deadline = NEVER,
) -> Lagrange:
    """The ascent continued from a bound's prices and reward, towards a better plan's cost.

    Args:
        problem: The problem.
        start: A bound from :func:`lagrangian` on the same problem.
        placed: Replicas the plans place at least (``start.placed`` or more).
        upper: The cost of a plan placing that many (steers the step size).
        rounds: Subgradient steps at most.
        deadline: Past it, the ascent takes no further step after its first.

    Returns:
        The continued ascent's best bound, never above ``upper``. Its first step is a full
        evaluation at ``start``'s prices and reward, which gives at least ``start.bound`` when
        ``placed >= start.placed`` (the reward term grows with the count), so it is never worse.
    """
    pairs = _Pairs.of(problem)
    if placed == 0 or pairs.cost.size == 0:
        return start
    capacity = problem.capacity.astype(np.float64)
    found = _ascent(
        pairs,
        capacity,
        (placed, upper),
        reward=start.reward,
        rounds=rounds,
        prices=start.prices,
        deadline=deadline,
    )
    return Lagrange(min(found.bound, upper), found.prices, found.reward, placed)


def _settled(history: list[float], window: int) -> bool:
    """The best bound rose by under :data:`SETTLED_GAIN` of itself over the last window."""
    if len(history) <= window or not np.isfinite(history[-window - 1]):
        return False
    before, now = history[-window - 1], history[-1]
    return now > 0 and now - before < SETTLED_GAIN * now
