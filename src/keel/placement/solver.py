"""Solvers: regret-greedy with local search (``fast``) and a MILP (``exact``), with bounds.

Both solve the same problem: assign each item (a workload replica) to at most one feasible
option so that the devices used never exceed an option's capacity, the first ``min_sites``
replicas of a workload use distinct sites, and as many items as possible are placed, then as
cheaply as possible. The fast solver scores that with a penalty per unplaced item larger than
any placement's cost; the exact solver and the bounds (:mod:`keel.placement.milp`,
:mod:`keel.placement.lagrangian`) treat it lexicographically.

Invariants:
    * Deterministic: ties are broken by index, never by chance; ``seed`` only orders the local
      search passes. The polish and the windows (:mod:`keel.placement.neighbourhood`) stop
      HiGHS by a node limit, not a clock, and only their time limits could make two runs
      differ. No benchmarked problem reaches the polish's (:data:`POLISH_LIMIT_S`). Whole
      windows (:data:`keel.placement.neighbourhood.WHOLE`, after the polish) often reach
      theirs on prices at 2,000 x 200, so a plan that they improved may depend on the
      machine's speed (it always places the same replicas as the plan before them, for no
      more); guided ones (:data:`keel.placement.neighbourhood.GUIDED`, above a million items x
      options) came within half of theirs on prices seed 1 at 10,000 x 1,000, the one run
      timed window by window.
    * With a time budget (``solve(..., budget_s=)``, :mod:`keel.placement.deadline`) the plan
      is the best found in that time, so it depends on the machine's speed; it always keeps
      every rule, and its bound is what was proven in that time, or none.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from keel.placement import neighbourhood
from keel.placement.deadline import NEVER, Deadline
from keel.placement.lagrangian import Lagrange, lagrangian, tightened
from keel.placement.milp import (
    Exact,
    Relaxation,
    fuller,
    placed_bound,
    polish,
    relax,
    solve_exact,
)
from keel.placement.problem import UNPLACED, Problem


@dataclass(frozen=True, slots=True)
class Effort:
    """How hard the local search works.

    Attributes:
        passes: Most local-search passes.
        min_pass_gain: A pass improving the total by less than this share ends the search.
        swap_options: Cheaper options whose items are tried as swap partners.
        swap_items: Most items tried per swap pass, those paying most above their cheapest
            option first (``None``: every item on a full option).
        constructions: How many of the greedy constructions get the local search.
    """

    passes: int
    min_pass_gain: float
    swap_options: int
    constructions: int
    swap_items: int | None = None


SWAP_ITEMS = 2_000
"""Items the quick search tries to swap per pass (trying all of them took about half of a
10,000 x 1,000 solve on bench/placement.py's tight family)."""
THOROUGH = Effort(passes=10, min_pass_gain=0.0, swap_options=30, constructions=4)
QUICK = Effort(passes=4, min_pass_gain=2e-4, swap_options=5, constructions=1, swap_items=SWAP_ITEMS)
THOROUGH_CELLS = 1_000_000
"""Problems up to this many items x options get the thorough search and the polish, larger
ones the quick search guided by Lagrangian prices (bench/placement.py: thorough takes 2-8 s
at 2,000 x 200; guided quick with its windows and a thorough pass runs 10,000 x 1,000 at
105-719 workloads/s on a day the machine ran about 1.7x slower than usual)."""
POLISH_LIMIT_S = 60.0
"""Time limit of the polish's LP, and again of its MILP (each ends sooner on every problem
bench/placement.py measures; past it, the plan found so far is kept)."""
WIDE_CELLS = 100_000
WIDEN_SMALL, WIDEN_LARGE = 3, 1
"""The polish (:func:`keel.placement.milp.polish`) lets every free replica take its
:data:`WIDEN_SMALL` cheapest options on problems up to :data:`WIDE_CELLS` items x options,
its cheapest one above. bench/placement.py: at 300 x 60, 3 options took gangs and restricted
from 2-4% to under 1.2% above the optimum; at 2,000 x 200, 3 options made the program's root
2-3 times as slow as none, 1 option about 1.3 times, for most of the gain."""
FAR_ABOVE = 0.02
"""Above a million items x options, a plan still this share above the Lagrangian bound after
the guided windows, the thorough search and the continued ascent gets whole windows too, at
the continued ascent's prices (``WHOLE`` in :mod:`keel.placement.neighbourhood`). 2% is the
bound's target of issue 17, not a measured optimum: whole windows cost 20-50 s at 10,000 x
1,000 (bench/placement.py, gangs and prices), so a lower share would open them on most estate,
gangs and prices instances; on gangs seed 3 they took the plan from 2.06% to 1.80%."""
PRICE_ROUNDS = 15
LOOK_EVERY = 128
"""With a deadline, the local search looks at the clock every this many items of a pass."""
ROWS_AT_ONCE = 512
"""Items per block where a search step reads every item's options (4 MB at 1,000 options)."""
INSERT_BUDGET = 200
INSERT_TARGETS = 3
"""Most unplaced items, and options per item, the ejection-chain step tries per pass."""


@dataclass(frozen=True, slots=True)
class Solution:
    """An assignment and how it was found.

    Attributes:
        assignment: Option index per item, or ``UNPLACED``.
        objective: Total objective of placed items, in USD.
        penalised: Objective plus the fast solver's penalty for unplaced items.
        bound: A lower bound on the objective of any plan placing at least ``placed`` items
            (``-inf`` if none was computed): no penalty enters it.
        gap: ``(objective - bound) / objective``: how much cheaper a plan placing as many
            items could be at most. 0 when provably optimal; ``None`` when the bound cannot
            support a figure: none computed, at or below zero, or so weak that the gap would
            be :data:`UNINFORMATIVE_GAP` or more (it would then say more about the bound than
            about the plan).
        solver: ``fast`` or ``exact``.
        seconds: Wall time of the solve (bounds excluded).
        bound_method: ``milp`` (the exact solver's own bound), ``lp`` (the LP relaxation),
            ``lagrangian`` (on large problems) or ``none``.
        placed: Items placed.
        placed_bound: The most items any plan can place, as far as proven (an upper bound;
            ``None`` if not computed).
        unplaceable: Items with no feasible option: no plan places them.
        budget_s: The fast solver's time budget (``None``: none; the plan then does not
            depend on the machine's speed).
    """

    assignment: npt.NDArray[np.int64]
    objective: float
    penalised: float
    bound: float
    gap: float | None
    solver: str
    seconds: float
    bound_method: str = "none"
    placed: int = 0
    placed_bound: int | None = None
    unplaceable: int = 0
    budget_s: float | None = None


def unplaced_penalty(problem: Problem) -> float:
    """A cost larger than any single placement: leaving an item unplaced never pays.

    Args:
        problem: The problem.

    Returns:
        The penalty in USD.
    """
    finite = problem.objective[np.isfinite(problem.objective)]
    top = float(finite.max()) if finite.size else 0.0
    return 10.0 * top * max(1, len(problem.item_workload)) + 1e6


def _cost(problem: Problem, assignment: npt.NDArray[np.int64]) -> float:
    """The objective of the placed replicas."""
    placed = assignment != UNPLACED
    rows = problem.item_workload[placed]
    return float(problem.objective[rows, assignment[placed]].sum())


def _penalised(problem: Problem, assignment: npt.NDArray[np.int64], penalty: float) -> float:
    """The objective plus ``penalty`` for every unplaced replica (worked out once per solve)."""
    unplaced = int((assignment == UNPLACED).sum())
    return _cost(problem, assignment) + (penalty * unplaced if unplaced else 0.0)


def check_capacity(problem: Problem, assignment: npt.NDArray[np.int64]) -> bool:
    """Whether an assignment keeps every option within its capacity.

    Args:
        problem: The problem.
        assignment: Option per item.

    Returns:
        True if no option is over capacity.
    """
    placed = assignment != UNPLACED
    used = np.bincount(
        assignment[placed],
        weights=problem.demand[problem.item_workload[placed]],
        minlength=len(problem.capacity),
    )
    return bool(np.all(used <= problem.capacity))


# -- fast ---------------------------------------------------------------------------------------
def _spread_mask(
    problem: Problem, item: int, assignment: npt.NDArray[np.int64], skip: int = -1
) -> npt.NDArray[np.bool_] | None:
    """Options barred for an item because an earlier replica of its workload uses the site."""
    w = problem.item_workload[item]
    if problem.item_replica[item] >= problem.min_sites[w] or problem.min_sites[w] <= 1:
        return None
    siblings = np.flatnonzero(
        (problem.item_workload == w)
        & (problem.item_replica < problem.min_sites[w])
        & (assignment != UNPLACED)
    )
    siblings = siblings[siblings != item]
    if skip >= 0:
        siblings = siblings[siblings != skip]
    if siblings.size == 0:
        return None
    used_sites = problem.option_site[assignment[siblings]]
    return np.isin(problem.option_site, used_sites)


def workload_ok(problem: Problem, workload: int, assignment: npt.NDArray[np.int64]) -> bool:
    """Whether a workload's placed replicas satisfy its spread and region-coverage rules.

    A workload with any replica placed must use at least ``min_sites`` distinct sites, and a
    service serving several regions must have, for every region, a replica at a site meeting
    the SLO from there. A workload with nothing placed satisfies both.

    Args:
        problem: The problem.
        workload: Workload index.
        assignment: Option per item.

    Returns:
        True if both rules hold.
    """
    options = assignment[(problem.item_workload == workload) & (assignment != UNPLACED)]
    if options.size == 0:
        return True
    sites = problem.option_site[options]
    if len(set(sites.tolist())) < problem.min_sites[workload]:
        return False
    regions = problem.coverage.get(workload)
    return regions is None or bool(regions[:, sites].any(axis=1).all())


def solve_fast(
    problem: Problem, seed: int = 0, *, polished: bool = True, deadline: Deadline = NEVER
) -> npt.NDArray[np.int64]:
    """Regret-greedy construction and local search, then an LP-guided polish on small problems.

    See :func:`_search` for the construction and the search. On problems of up to
    :data:`THOROUGH_CELLS` items x options, a plan leaving out replicas that the LP says may
    fit is replaced by the count program's root plan if that places more (searched again for
    cost); then the plan is polished (:func:`keel.placement.milp.polish`): replicas where the
    plan and the LP relaxation disagree are re-solved as a small MILP, and its plan is kept if
    it places as many replicas for less. A polished plan more than
    :data:`keel.placement.neighbourhood.CLOSE_ENOUGH` above the LP bound then gets windows
    re-solved exactly at Lagrangian prices (:func:`keel.placement.neighbourhood.improve`).

    Args:
        problem: The problem.
        seed: Orders the local-search passes (deterministic for a given seed).
        polished: False: the construction and search alone (bench/placement.py's baseline).
        deadline: Past it, no new step starts (:mod:`keel.placement.deadline`).

    Returns:
        Option per item, or ``UNPLACED``.
    """
    return _fast(problem, seed, polished=polished, deadline=deadline).assignment


@dataclass(frozen=True, slots=True)
class _Fast:
    """The fast plan, with the programs solved on the way (for :func:`solve` to reuse).

    Attributes:
        assignment: Option per item, or ``UNPLACED``.
        relaxation: The LP relaxation the plan was polished with (``None`` if not polished).
        count_bound: The count LP's bound on the replicas any plan can place, if it was solved.
        lagrange: On large problems, the Lagrangian bound whose prices guided the search.
    """

    assignment: npt.NDArray[np.int64]
    relaxation: Relaxation | None = None
    count_bound: int | None = None
    lagrange: Lagrange | None = None


def _fast(
    problem: Problem, seed: int, *, polished: bool = True, deadline: Deadline = NEVER
) -> _Fast:
    assignment, lagrange = _search(problem, seed, guided=polished, deadline=deadline)
    placed = int((assignment != UNPLACED).sum())
    if lagrange is not None:
        cost = _cost(problem, assignment)
        if _far(cost, lagrange.bound) and not deadline.passed():
            # Steered by the first plan's cost, the ascent stopped short; towards this plan's
            # it gets further (estate 10,000 x 1,000 seed 1, measured before the thorough
            # pass existed: +7.3% to +3.7% above the bound). After the search, so that its
            # matrices are freed first.
            lagrange = tightened(problem, lagrange, placed, cost, deadline=deadline)
        if _far(cost, lagrange.bound, max(FAR_ABOVE, neighbourhood.CLOSE_ENOUGH)):
            assignment = _windows(problem, assignment, lagrange, deadline)
        return _Fast(assignment, lagrange=lagrange)
    if not polished or problem.cells > THOROUGH_CELLS or deadline.passed():
        return _Fast(assignment)
    count_bound = None
    if placed < int(problem.placeable_items().sum()):
        count_bound = placed_bound(problem, deadline.limit_s(POLISH_LIMIT_S))
        if (count_bound or 0) > placed and not deadline.passed():
            assignment = _place_more(problem, seed, assignment, deadline)
            placed = int((assignment != UNPLACED).sum())
    if placed == 0 or deadline.passed():
        return _Fast(assignment, count_bound=count_bound)
    relaxation = relax(problem, placed, deadline.limit_s(POLISH_LIMIT_S))
    widen = WIDEN_SMALL if problem.cells <= WIDE_CELLS else WIDEN_LARGE
    if deadline.passed():
        return _Fast(assignment, relaxation, count_bound)
    limit_s = deadline.limit_s(POLISH_LIMIT_S)
    found = polish(problem, assignment, relaxation, widen=widen, time_limit_s=limit_s)
    if found is not None and _valid(problem, found) and _better(problem, found, assignment):
        assignment = found
    cost = _cost(problem, assignment)
    kept = int((assignment != UNPLACED).sum()) == placed
    if kept and _far(cost, relaxation.value) and not deadline.passed():
        lagrange = lagrangian(problem, placed, cost, deadline=deadline)
        assignment = _windows(problem, assignment, lagrange, deadline)
    return _Fast(assignment, relaxation, count_bound)


def _far(cost: float, bound: float, share: float | None = None) -> bool:
    """Whether a plan is more than ``share`` of its cost above its bound.

    ``None``: :data:`keel.placement.neighbourhood.CLOSE_ENOUGH`, where windows start to pay.
    """
    share = neighbourhood.CLOSE_ENOUGH if share is None else share
    return bound > 0 and cost - bound > share * cost


def _windows(
    problem: Problem,
    assignment: npt.NDArray[np.int64],
    lagrange: Lagrange,
    deadline: Deadline = NEVER,
) -> npt.NDArray[np.int64]:
    """:func:`keel.placement.neighbourhood.improve` at the Lagrangian prices."""
    if deadline.passed():
        return assignment
    costs = problem.item_costs()
    priced = _at_prices(costs, problem.demand[problem.item_workload], lagrange.prices)
    return neighbourhood.improve(problem, assignment, priced, costs=costs, deadline=deadline)


def _valid(problem: Problem, assignment: npt.NDArray[np.int64]) -> bool:
    """Whether a plan from HiGHS (rounded) keeps every capacity, spread and coverage rule."""
    return check_capacity(problem, assignment) and all(
        workload_ok(problem, w, assignment) for w in problem.all_or_nothing()
    )


def _place_more(
    problem: Problem, seed: int, assignment: npt.NDArray[np.int64], deadline: Deadline = NEVER
) -> npt.NDArray[np.int64]:
    """The count program's root plan, searched for cost, if it places more than ``assignment``.

    The local search's ejection chains move one replica at a time and can miss a placement
    that needs several moves (bench/placement.py: restricted, 300 x 60, seed 5).
    """
    found = fuller(problem, deadline.limit_s(POLISH_LIMIT_S))
    if found is None or not _valid(problem, found) or not _better(problem, found, assignment):
        return assignment
    return _thorough(problem, found, seed, deadline=deadline)


def _thorough(
    problem: Problem,
    assignment: npt.NDArray[np.int64],
    seed: int,
    costs: npt.NDArray[np.float64] | None = None,
    *,
    deadline: Deadline = NEVER,
) -> npt.NDArray[np.int64]:
    """A plan after the thorough local search (moves, swaps over 30 options, ejection chains)."""
    costs = problem.item_costs() if costs is None else costs
    demand = problem.demand[problem.item_workload]
    search = _Search(problem, costs, demand, unplaced_penalty(problem))
    for item in np.flatnonzero(assignment != UNPLACED).tolist():
        search.place(item, int(assignment[item]))
    search.improve(seed, THOROUGH, deadline)
    return search.assignment


def _search(
    problem: Problem, seed: int, *, guided: bool = True, deadline: Deadline = NEVER
) -> tuple[npt.NDArray[np.int64], Lagrange | None]:
    """Regret-greedy construction, then local search by moves and swaps under shared capacity.

    Four greedy constructions place items in different orders (the most to lose first, the
    regret being second-best minus best cost; the same at cost plus capacity prices; the
    biggest first; the smallest first), each on its cheapest option with capacity left. On
    problems above :data:`THOROUGH_CELLS` (``guided``), four more place items at cost plus
    the Lagrangian bound's prices (:func:`keel.placement.lagrangian.lagrangian`, steered by
    the best of the first four): the most to lose first, the biggest first, the smallest
    first, and the best plain plan's replicas first. The best of the plain ones (all four on
    problems up to :data:`THOROUGH_CELLS`) and every priced one get a local search, so a
    guided plan is never worse than the plain search's: moves of
    single items to cheaper options with room, swaps of pairs between options, and ejection
    chains that place unplaced items by moving others out of their way, until no step helps.
    Priced plans often leave replicas out before the search places them, and which one then
    places the most differs (restricted 10,000 x 1,000 seed 2: smallest first, 13,056
    replicas, where the plain plan places 13,053). When guided and the plan is more than
    :data:`keel.placement.neighbourhood.CLOSE_ENOUGH` above the bound, windows of it are
    re-solved exactly at the bound's prices (:func:`keel.placement.neighbourhood.improve`).

    Past the ``deadline`` no further step starts: the first construction always runs, and the
    best plan so far is returned (with the bound, if its ascent had started).

    Returns:
        The plan, and the Lagrangian bound whose prices guided it (``None`` if unguided).
    """
    costs = problem.item_costs()
    n_items, n_options = costs.shape
    if n_items == 0 or n_options == 0:
        return np.full(n_items, UNPLACED, dtype=np.int64), None
    demand = problem.demand[problem.item_workload]
    best, second = _two_cheapest(costs)
    with np.errstate(invalid="ignore"):
        regret = np.where(
            np.isfinite(second), second - best, np.where(np.isfinite(best), 1e30, -1.0)
        )
    index = np.arange(n_items)
    options = np.isfinite(costs).sum(axis=1)
    penalty = unplaced_penalty(problem)
    effort = THOROUGH if problem.cells <= THOROUGH_CELLS else QUICK
    large = guided and effort is QUICK
    # With a deadline, each plan is searched as soon as it is built, so that the best plan so
    # far is a searched one, and large problems go from the first plan to the Lagrangian prices,
    # which guide the plans that count there. The first plan's search then stops at a quarter
    # of the time left (searched to the end, it took all of a 2 s budget on prices).
    eager = deadline.at is not None
    plans = _Plans(problem, costs, demand, penalty, seed, effort, deadline)
    searches, construct = plans.found, plans.build
    first_until = deadline.share(0.25) if eager and large else None
    construct(costs, np.lexsort((index, -demand, problem.item_replica, -regret)), first_until)
    if not deadline.passed() and not (eager and large):
        priced = _at_prices(costs, demand, _capacity_prices(problem, costs, demand, penalty))
        priced_regret = _regret(priced)
        for guide, order in (
            (priced, np.lexsort((index, -demand, problem.item_replica, -priced_regret))),
            (costs, np.lexsort((index, -regret, problem.item_replica, -demand))),
            # Smallest first: when capacity is short, this places the most replicas.
            (priced, np.lexsort((index, -priced_regret, options, problem.item_replica, demand))),
        ):
            if deadline.passed():
                break
            construct(guide, order)
    plain = len(searches)
    chosen = sorted(searches, key=lambda t: (t[0], t[1]))[: effort.constructions]
    lagrange: Lagrange | None = None
    if large and not deadline.passed():
        first = chosen[0][2].assignment
        placed = int((first != UNPLACED).sum())
        # With a deadline, the ascent leaves half the time left for the plans it guides.
        ascent = deadline.share(0.5) if eager else deadline
        lagrange = lagrangian(problem, placed, _cost(problem, first), deadline=ascent)
        guide = _at_prices(costs, demand, lagrange.prices)
        regret = _regret(guide)
        for order in (
            np.lexsort((index, -demand, problem.item_replica, -regret)),
            np.lexsort((index, -regret, problem.item_replica, -demand)),
            np.lexsort((index, -regret, options, problem.item_replica, demand)),
            np.lexsort((index, -regret, problem.item_replica, -demand, first == UNPLACED)),
        ):
            if deadline.passed():
                break
            construct(guide, order)
        chosen += searches[plain:]  # every priced one: one may place the most
    best_assignment, best_total = np.full(n_items, UNPLACED, dtype=np.int64), np.inf
    for _total, _k, search in chosen:
        if not eager:
            search.improve(seed, effort)
        total = _penalised(problem, search.assignment, penalty)
        if total < best_total - 1e-9:
            best_assignment, best_total = search.assignment, total
    if lagrange is not None and _far(_cost(problem, best_assignment), lagrange.bound):
        best_assignment = neighbourhood.improve(
            problem,
            best_assignment,
            guide,
            costs=costs,
            shape=neighbourhood.GUIDED,
            deadline=deadline,
        )
        if _far(_cost(problem, best_assignment), lagrange.bound) and not deadline.passed():
            best_assignment = _thorough(problem, best_assignment, seed, costs, deadline=deadline)
    return best_assignment, lagrange


@dataclass(slots=True)
class _Plans:
    """The greedy constructions of one solve, each with its penalised total and index.

    Attributes:
        deadline: If it is set (not :data:`NEVER`), each plan gets its local search as soon
            as it is built.
    """

    problem: Problem
    costs: npt.NDArray[np.float64]
    demand: npt.NDArray[np.int64]
    penalty: float
    seed: int
    effort: Effort
    deadline: Deadline
    found: list[tuple[float, int, _Search]] = field(default_factory=list)

    def build(
        self,
        guide: npt.NDArray[np.float64],
        order: npt.NDArray[np.int64],
        search_until: Deadline | None = None,
    ) -> None:
        """Place items in ``order``, each on its cheapest option at ``guide`` with room."""
        search = _Search(self.problem, self.costs, self.demand, self.penalty)
        search.greedy(order.tolist(), guide)
        if self.deadline.at is not None:
            search.improve(self.seed, self.effort, search_until or self.deadline)
        total = _penalised(self.problem, search.assignment, self.penalty)
        self.found.append((total, len(self.found), search))


def _at_prices(
    costs: npt.NDArray[np.float64], demand: npt.NDArray[Any], prices: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Each item's cost plus its demand x the option's price, in one new items x options matrix.

    ``costs + np.outer(...)`` made two (100 MB each at 10,000 x 1,000); the sum is the same.
    """
    priced = np.outer(demand, prices)
    priced += costs
    return priced


def _cheapest_with_room(
    costs: npt.NDArray[np.float64], demand: npt.NDArray[np.int64], left: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Each item's cheapest cost over the options with room for it (``inf`` if none).

    Computed :data:`ROWS_AT_ONCE` items at a time: at 10,000 x 1,000 one pass over the whole
    matrix made a 100 MB temporary, and the first such pass of a process took 1.2 s on this
    machine (fresh memory), against 0.02-0.03 s in blocks.
    """
    best = np.empty(len(costs))
    for start in range(0, len(costs), ROWS_AT_ONCE):
        rows = slice(start, start + ROWS_AT_ONCE)
        room = left[None, :] >= demand[rows, None]
        best[rows] = np.min(costs[rows], axis=1, where=room, initial=np.inf)
    return best


def _two_cheapest(
    matrix: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Each row's smallest and second-smallest values (``inf`` for a one-column matrix).

    An argmin and a masked min: about ten times faster than ``np.partition`` at 10,000 x
    1,000, where the regrets were a tenth of a guided solve. The matrix has a column at least.
    """
    rows = np.arange(matrix.shape[0])
    first = matrix.argmin(axis=1)
    others = np.ones(matrix.shape, dtype=bool)
    others[rows, first] = False
    return matrix[rows, first], np.min(matrix, axis=1, where=others, initial=np.inf)


def _regret(priced: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Second-cheapest minus cheapest option per item (1e30 for items with one option)."""
    best, second = _two_cheapest(priced)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(second), second - best, 1e30)


def _capacity_prices(
    problem: Problem,
    costs: npt.NDArray[np.float64],
    demand: npt.NDArray[np.int64],
    penalty: float,
) -> npt.NDArray[np.float64]:
    """Per-device prices that make over-demanded options less attractive (subgradient steps).

    Every item picks its cheapest option at cost plus price times demand; options asked for
    more devices than they have raise their price, the others lower it, for a fixed number of
    rounds. The result steers the construction away from scarce options that other items need.
    """
    n_options = costs.shape[1]
    prices = np.zeros(n_options)
    finite = costs[np.isfinite(costs)]
    if finite.size == 0:
        return prices
    scale = float(np.median(finite)) / max(1.0, float(demand.mean()))
    capacity = problem.capacity.astype(np.float64)
    for step in range(PRICE_ROUNDS):
        _value, load = _priced_choice(costs, demand, prices, penalty)
        prices = np.maximum(
            0.0, prices + scale * (load - capacity) / np.maximum(capacity, 1.0) / (1 + step) ** 0.5
        )
    return prices


def _priced_choice(
    costs: npt.NDArray[np.float64],
    demand: npt.NDArray[Any],
    prices: npt.NDArray[np.float64],
    penalty: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Every item on its cheapest option at cost plus price x demand (or unplaced at the penalty).

    Returns:
        Each item's priced value, and the devices asked of each option by the placed items.
    """
    priced = _at_prices(costs, demand, prices)
    choice = np.argmin(priced, axis=1)
    value = np.minimum(priced[np.arange(len(choice)), choice], penalty)
    used = value < penalty
    load = np.bincount(choice[used], weights=demand[used], minlength=len(prices))
    return value, load.astype(np.float64)


class _Search:
    """One assignment under construction, with the capacity left on every option."""

    def __init__(
        self,
        problem: Problem,
        costs: npt.NDArray[np.float64],
        demand: npt.NDArray[np.int64],
        penalty: float,
    ) -> None:
        self.problem = problem
        self.penalty = penalty
        self.costs = costs
        self.demand = demand
        self.left = problem.capacity.astype(np.int64).copy()
        self.assignment = np.full(costs.shape[0], UNPLACED, dtype=np.int64)
        self.guarded = problem.all_or_nothing()

    def allowed(self, item: int, exclude: int = UNPLACED) -> npt.NDArray[np.bool_]:
        ok = (self.left >= self.demand[item]) & np.isfinite(self.costs[item])
        barred = _spread_mask(self.problem, item, self.assignment)
        if barred is not None:
            ok &= ~barred
        if exclude != UNPLACED:
            ok[exclude] = False
        return np.asarray(ok, dtype=bool)

    def place(self, item: int, option: int) -> None:
        current = int(self.assignment[item])
        if current != UNPLACED:
            self.left[current] += self.demand[item]
        if option != UNPLACED:
            self.left[option] -= self.demand[item]
        self.assignment[item] = option

    def greedy(self, order: list[int], guide: npt.NDArray[np.float64]) -> None:
        for item in order:
            allowed = self.allowed(item)
            wanted = self.uncovered_sites(item)
            if wanted is not None and (allowed & wanted).any():
                allowed &= wanted  # cover a region nobody serves yet, if possible
            candidate = np.where(allowed, guide[item], np.inf)
            choice = int(np.argmin(candidate))
            if np.isfinite(candidate[choice]):
                self.place(item, choice)
        for w in self.guarded:
            if not workload_ok(self.problem, w, self.assignment):
                for item in np.flatnonzero(self.problem.item_workload == w).tolist():
                    self.place(item, UNPLACED)

    def uncovered_sites(self, item: int) -> npt.NDArray[np.bool_] | None:
        """Options at sites covering a region the item's workload does not cover yet."""
        w = int(self.problem.item_workload[item])
        regions = self.problem.coverage.get(w)
        if regions is None:
            return None
        mine = (self.problem.item_workload == w) & (self.assignment != UNPLACED)
        used = self.problem.option_site[self.assignment[mine]]
        served = np.asarray(regions[:, used].any(axis=1), dtype=bool)
        missing = ~served if used.size else np.ones(len(regions), dtype=bool)
        if not missing.any():
            return None
        reachable = np.asarray(regions[missing].any(axis=0), dtype=bool)
        return np.asarray(reachable[self.problem.option_site], dtype=bool)

    def keeps_rules(self, *items: int) -> bool:
        workloads = {int(self.problem.item_workload[i]) for i in items} & self.guarded
        return all(workload_ok(self.problem, w, self.assignment) for w in workloads)

    def guarded_item(self, item: int) -> bool:
        return int(self.problem.item_workload[item]) in self.guarded

    def improve(self, seed: int, effort: Effort, deadline: Deadline = NEVER) -> None:
        rng = np.random.default_rng(seed)
        before = _penalised(self.problem, self.assignment, self.penalty)
        for _ in range(effort.passes):
            if deadline.passed():
                return
            improved = self.move_pass(rng.permutation(len(self.assignment)).tolist(), deadline)
            if not deadline.passed():
                improved |= self.swap_pass(effort.swap_options, effort.swap_items, deadline)
            if not deadline.passed():
                improved |= self.insert_pass(deadline)
            after = _penalised(self.problem, self.assignment, self.penalty)
            if not improved or before - after < effort.min_pass_gain * after:
                return
            before = after

    def move_pass(self, order: list[int], deadline: Deadline = NEVER) -> bool:
        """Move items to cheaper options with room.

        Candidates are found for all items at once (cheapest option with room now); only items
        that would gain are then moved one by one, each re-checked against the capacity left.
        Past the deadline the pass stops (every move made so far keeps every rule).
        """
        placed = self.assignment != UNPLACED
        here = np.full(len(self.assignment), np.inf)
        here[placed] = self.costs[np.flatnonzero(placed), self.assignment[placed]]
        best = _cheapest_with_room(self.costs, self.demand, self.left)
        gaining = np.flatnonzero(best < here - 1e-9)
        if gaining.size == 0:
            return False
        rank = {item: k for k, item in enumerate(order)}
        improved = False
        for k, item in enumerate(sorted(gaining.tolist(), key=rank.__getitem__)):
            if k % LOOK_EVERY == LOOK_EVERY - 1 and deadline.passed():
                break
            current = int(self.assignment[item])
            if current == UNPLACED and self.guarded_item(item):
                continue  # one more replica alone could break the workload's coverage
            now = self.costs[item, current] if current != UNPLACED else np.inf
            candidate = np.where(self.allowed(item, exclude=current), self.costs[item], np.inf)
            choice = int(np.argmin(candidate))
            if candidate[choice] < now - 1e-9:
                self.place(item, choice)
                if self.keeps_rules(item):
                    improved = True
                else:
                    self.place(item, current)
        return improved

    def swap_pass(
        self, swap_options: int, swap_items: int | None = None, deadline: Deadline = NEVER
    ) -> bool:
        """Swap two placed items between their options when both fit and the total drops.

        Only items on a full option are considered (trying every placed item found a little
        more on some families, about 1% of cost, at a third more time at 2,000 x 200 and
        twice the time at 10,000 x 1,000); all of their partners are scored at once and the
        best valid swap is made.
        """
        improved = False
        costs, demand, left, assignment = self.costs, self.demand, self.left, self.assignment
        placed = np.flatnonzero(assignment != UNPLACED)
        by_option: dict[int, list[int]] = {}
        for item, option in zip(placed.tolist(), assignment[placed].tolist(), strict=True):
            by_option.setdefault(option, []).append(item)
        tried = placed[left[assignment[placed]] < demand[placed]]
        if swap_items is not None and tried.size > swap_items:
            # costs.min over the whole matrix, not costs[tried]: that copy was 100 MB of fresh
            # memory at 10,000 x 1,000, 0.5-1 s on this machine.
            above = costs[tried, assignment[tried]] - costs.min(axis=1)[tried]
            tried = tried[np.sort(np.argsort(-above, kind="stable")[:swap_items])]
        for count, a in enumerate(tried.tolist()):
            if count % LOOK_EVERY == LOOK_EVERY - 1 and deadline.passed():
                break
            oa = int(assignment[a])
            if left[oa] >= demand[a]:
                continue  # a swap earlier in this pass made room
            cheaper = np.flatnonzero(costs[a] < costs[a, oa] - 1e-9)
            if cheaper.size == 0:
                continue
            if cheaper.size > swap_options:
                cheaper = cheaper[np.argpartition(costs[a, cheaper], swap_options)[:swap_options]]
            nearest = cheaper
            members = [b for o in nearest.tolist() for b in by_option.get(o, ())]
            partners = np.array([b for b in members if assignment[b] != oa], dtype=np.int64)
            if partners.size == 0:
                continue
            ob = assignment[partners]
            delta = costs[a, ob] + costs[partners, oa] - costs[a, oa] - costs[partners, ob]
            fits = (left[ob] + demand[partners] >= demand[a]) & (
                left[oa] + demand[a] >= demand[partners]
            )
            delta = np.where(fits & np.isfinite(delta), delta, np.inf)
            for k in np.argsort(delta, kind="stable")[:3].tolist():
                if delta[k] >= -1e-9:
                    break
                b, new_a = int(partners[k]), int(ob[k])
                assignment[a], assignment[b] = new_a, oa
                barred_a = _spread_mask(self.problem, a, assignment)
                barred_b = _spread_mask(self.problem, b, assignment)
                if (
                    (barred_a is not None and barred_a[new_a])
                    or (barred_b is not None and barred_b[oa])
                    or not self.keeps_rules(a, b)
                ):
                    assignment[a], assignment[b] = oa, new_a
                    continue
                left[new_a] += demand[b] - demand[a]
                left[oa] += demand[a] - demand[b]
                by_option[new_a].remove(b)
                by_option[new_a].append(a)
                by_option[oa].remove(a)
                by_option[oa].append(b)
                improved = True
                break
        return improved

    def insert_pass(self, deadline: Deadline = NEVER) -> bool:
        """Place unplaced items by moving items out of their way (an ejection chain).

        For each unplaced item and each of its options, cheapest first, items on that option
        move to their cheapest other option with room, least extra cost first, until the item
        fits; if it cannot be made to fit, the moves are undone. Past the deadline the pass
        takes no further item (a chain costs up to milliseconds, so the clock is read before
        each).
        """
        improved = False
        for item in np.flatnonzero(self.assignment == UNPLACED)[:INSERT_BUDGET].tolist():
            if deadline.passed():
                break
            if not np.isfinite(self.costs[item]).any() or self.guarded_item(item):
                continue
            barred = _spread_mask(self.problem, item, self.assignment)
            targets = np.flatnonzero(np.isfinite(self.costs[item]))
            if barred is not None:
                targets = targets[~barred[targets]]
            order = targets[np.argsort(self.costs[item, targets], kind="stable")]
            for target in order[:INSERT_TARGETS].tolist():
                if self.make_room(target, int(self.demand[item])):
                    self.place(item, target)
                    improved = True
                    break
        return improved

    def make_room(self, target: int, needed: int) -> bool:
        moves: list[tuple[int, int]] = []
        blockers = np.flatnonzero(self.assignment == target)
        if self.left[target] + self.demand[blockers].sum() < needed:
            return False
        extra = np.empty(len(blockers))
        for k, b in enumerate(blockers.tolist()):
            others = self.costs[b].copy()
            others[target] = np.inf
            extra[k] = others.min() - self.costs[b, target]
        for k in np.argsort(extra, kind="stable").tolist():
            if self.left[target] >= needed:
                break
            b = int(blockers[k])
            options = np.flatnonzero(self.allowed(b, exclude=target))
            if options.size == 0:
                continue
            self.place(b, int(options[np.argmin(self.costs[b, options])]))
            if not self.keeps_rules(b):
                self.place(b, target)
                continue
            moves.append((b, target))
        if self.left[target] >= needed:
            return True
        for b, old in reversed(moves):
            self.place(b, old)
        return False


# -- solve ------------------------------------------------------------------------------------
LP_BOUND_CELLS = 4_000_000
"""Above this many items x options the plan's bound is the Lagrangian one (the LP gets slow)."""
UNINFORMATIVE_GAP = 0.5
"""A gap this large says the bound is weak, not that the plan is: it is reported as unknown."""


def _better(problem: Problem, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> bool:
    """Whether plan ``a`` places more replicas than ``b``, or as many for less."""
    placed_a, placed_b = int((a != UNPLACED).sum()), int((b != UNPLACED).sum())
    if placed_a != placed_b:
        return placed_a > placed_b
    return _cost(problem, a) < _cost(problem, b) - 1e-9


def solve(
    problem: Problem,
    solver: str = "fast",
    *,
    seed: int = 0,
    time_limit_s: float = 120.0,
    with_bound: bool = True,
    budget_s: float | None = None,
) -> Solution:
    """Solve a problem and compute its bounds and gap.

    ``exact`` starts from the fast plan and returns it if the MILP finds nothing better in
    its time limit, so it never places fewer replicas, or the same for more.

    With ``budget_s`` the fast plan and its bound share that much time
    (:mod:`keel.placement.deadline`): the solver returns its best plan when the budget runs
    out, and the bound is whatever was proven by then, or none (``bound_method`` ``none``,
    ``gap`` ``None``).

    Args:
        problem: The problem.
        solver: ``fast`` or ``exact``.
        seed: Seed of the fast solver's local search.
        time_limit_s: Time limit of the exact solver.
        with_bound: Compute the bounds (skip for speed-only measurements).
        budget_s: Seconds for the fast plan and its bound (``None``: no limit; the plan then
            does not depend on the machine's speed). The exact solver keeps ``time_limit_s``.

    Returns:
        The solution.

    Raises:
        ValueError: If the solver name is unknown.
    """
    if solver not in ("fast", "exact"):
        raise ValueError(f"unknown solver {solver!r}: use fast or exact")
    started = time.perf_counter()
    deadline = Deadline.after(budget_s)
    fast = _fast(problem, seed, deadline=deadline)
    assignment, relaxation = fast.assignment, fast.relaxation
    exact: Exact | None = None
    if solver == "exact":
        placed_now = int((assignment != UNPLACED).sum())
        exact = solve_exact(problem, time_limit_s, placed_at_least=placed_now)
        if exact.assignment is not None and _better(problem, exact.assignment, assignment):
            assignment = exact.assignment
    seconds = time.perf_counter() - started
    cost = _cost(problem, assignment)
    penalised = _penalised(problem, assignment, unplaced_penalty(problem))
    placed = int((assignment != UNPLACED).sum())
    placeable = int(problem.placeable_items().sum())
    most: int | None = placed if placed == placeable else None
    bound, method = float("-inf"), "none"
    if exact is not None and exact.assignment is not None:
        most = exact.placed_bound
        if int((exact.assignment != UNPLACED).sum()) == placed:
            bound, method = exact.cost_bound, "milp"
    if with_bound:
        small = problem.cells <= LP_BOUND_CELLS
        if small:
            if (relaxation is None or relaxation.placed != placed) and not deadline.passed():
                # else the polish's LP: the same program
                relaxation = relax(problem, placed, deadline.limit_s(POLISH_LIMIT_S))
            if relaxation is not None and relaxation.value > bound:
                bound, method = relaxation.value, "lp"
            if most is None and fast.count_bound is not None:
                most = fast.count_bound
            elif most is None and not deadline.passed():
                most = placed_bound(problem, deadline.limit_s(POLISH_LIMIT_S))
        else:
            lagrange = float("-inf")
            if fast.lagrange is not None and placed >= fast.lagrange.placed:
                lagrange = fast.lagrange.bound  # plans placing more cost at least as much
            elif not deadline.passed():
                lagrange = lagrangian(problem, placed, cost, deadline=deadline).bound
            if lagrange > bound:
                bound, method = lagrange, "lagrangian"
    gap: float | None = None
    if cost <= 0 or bound >= cost - 1e-9 * abs(cost):
        gap = 0.0 if np.isfinite(bound) or placed == 0 else None
    elif np.isfinite(bound) and bound > 0 and (cost - bound) / cost < UNINFORMATIVE_GAP:
        gap = (cost - bound) / cost
    return Solution(
        assignment,
        cost,
        penalised,
        min(bound, cost),
        gap,
        solver,
        seconds,
        method,
        placed=placed,
        placed_bound=most,
        unplaceable=len(assignment) - placeable,
        budget_s=budget_s,
    )
