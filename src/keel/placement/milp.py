"""The placement problem as a mixed-integer program: exact plans and LP bounds (HiGHS via SciPy).

Placing more replicas always comes first, then cost. Instead of one program with a large
penalty per unplaced replica (whose size swamps HiGHS's relative stopping rule and the LP
bound), the exact solver is lexicographic: first the most replicas any plan can place, then
the cheapest plan placing that many. Replicas no option can take are left out of both
programs. Bounds are on the cost of plans placing at least a given number of replicas.

Invariants:
    * ``scipy.optimize.milp`` (HiGHS inside SciPy) is used; ``highspy`` is never imported.
    * SciPy is imported on use: it adds about 0.3 s to every CLI start.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scipy import optimize, sparse

from keel.placement.problem import UNPLACED, Problem

COST_REL_GAP = 1e-6
"""HiGHS stops the cost program when its incumbent is within this share of its bound."""


@dataclass
class _Model:
    c: npt.NDArray[np.float64]
    a: sparse.csr_matrix[np.float64]
    lower: npt.NDArray[np.float64]
    upper: npt.NDArray[np.float64]
    items: npt.NDArray[np.int64]
    pairs: npt.NDArray[np.int64]
    pair_item: npt.NDArray[np.int64]
    n_pairs: int


class _Rows:
    """Sparse constraint rows under construction: ``lower <= sum(vals x cols) <= upper``."""

    def __init__(self) -> None:
        self.rows: list[npt.NDArray[np.int64]] = []
        self.cols: list[npt.NDArray[np.int64]] = []
        self.vals: list[npt.NDArray[np.float64]] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, cols: Any, vals: Any, lower: float, upper: float) -> None:
        cols = np.asarray(cols, dtype=np.int64)
        self.rows.append(np.full(len(cols), len(self.lower), dtype=np.int64))
        self.cols.append(cols)
        self.vals.append(np.asarray(vals, dtype=np.float64))
        self.lower.append(lower)
        self.upper.append(upper)

    def add_block(
        self, rows: Any, cols: Any, vals: Any, lower: list[float], upper: list[float]
    ) -> None:
        """Several rows at once; ``rows`` counts from the next free row."""
        self.rows.append(np.asarray(rows, dtype=np.int64) + len(self.lower))
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.asarray(vals, dtype=np.float64))
        self.lower += lower
        self.upper += upper


def _model(problem: Problem, goal: str, min_placed: int = 0) -> _Model:
    """Variables: x[item, option] for feasible pairs, u[item] (unplaced), y[workload, site].

    Only items with a feasible option take part. ``goal`` is ``count`` (minimise the unplaced)
    or ``cost`` (minimise the cost of what is placed, placing at least ``min_placed``).
    """
    from scipy import sparse

    costs = problem.item_costs()
    items = np.flatnonzero(np.isfinite(costs).any(axis=1))
    local = np.full(costs.shape[0], -1, dtype=np.int64)
    local[items] = np.arange(len(items))
    pair_item, option_idx = np.nonzero(np.isfinite(costs[items]))
    n_pairs, n_items = len(pair_item), len(items)
    spread = [w for w in range(len(problem.workloads)) if problem.min_sites[w] > 1]
    n_y = len(spread) * len(problem.sites)
    if goal == "count":
        c = np.concatenate([np.zeros(n_pairs), np.ones(n_items), np.zeros(n_y)])
    else:
        pair_cost = costs[items[pair_item], option_idx]
        c = np.concatenate([pair_cost, np.zeros(n_items + n_y)])
    rows = _Rows()
    # Each item is placed once or counted unplaced.
    rows.add_block(
        np.concatenate([pair_item, np.arange(n_items)]),
        np.concatenate([np.arange(n_pairs), n_pairs + np.arange(n_items)]),
        np.ones(n_pairs + n_items),
        [1.0] * n_items,
        [1.0] * n_items,
    )
    # Capacity per option.
    rows.add_block(
        option_idx,
        np.arange(n_pairs),
        problem.demand[problem.item_workload[items[pair_item]]],
        [-np.inf] * len(problem.capacity),
        problem.capacity.astype(np.float64).tolist(),
    )
    if goal == "cost" and min_placed > 0:
        rows.add(n_pairs + np.arange(n_items), np.ones(n_items), -np.inf, n_items - min_placed)
    item_workload = problem.item_workload[items]
    pair_workload = item_workload[pair_item]
    for k, w in enumerate(spread):
        base = n_pairs + n_items + k * len(problem.sites)
        _spread_rows(
            problem, rows, w=w, index=(pair_workload, option_idx, local), n_pairs=n_pairs, base=base
        )
    for w, regions in problem.coverage.items():
        mine = np.flatnonzero(pair_workload == w)
        if mine.size == 0:
            continue
        first = n_pairs + int(local[np.flatnonzero(problem.item_workload == w)[0]])
        sites_of = problem.option_site[option_idx[mine]]
        for region in regions:
            at = mine[region[sites_of]]
            rows.add(np.concatenate([at, [first]]), np.ones(len(at) + 1), 1.0, np.inf)
    # All replicas or none for workloads with spread or coverage rules: u[item] >= u[first].
    for w in sorted(problem.all_or_nothing()):
        mine = local[np.flatnonzero(problem.item_workload == w)]
        if mine[0] < 0:
            continue
        for item in mine[1:].tolist():
            rows.add([n_pairs + item, n_pairs + int(mine[0])], [1.0, -1.0], 0.0, np.inf)
    a = sparse.csr_matrix(
        (np.concatenate(rows.vals), (np.concatenate(rows.rows), np.concatenate(rows.cols))),
        shape=(len(rows.lower), len(c)),
    )
    return _Model(
        c, a, np.array(rows.lower), np.array(rows.upper), items, option_idx, pair_item, n_pairs
    )


def _spread_rows(
    problem: Problem,
    rows: _Rows,
    *,
    w: int,
    index: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]],
    n_pairs: int,
    base: int,
) -> None:
    """y[w,s] <= sum of x of w's items at s; sum over s of y[w,s] >= k (1 - u[first item]).

    ``index``: each pair's workload and option, and each item's place among the variables.
    """
    pair_workload, option_idx, local = index
    n_sites = len(problem.sites)
    first = int(local[np.flatnonzero(problem.item_workload == w)[0]])
    if first < 0:
        return
    mine = np.flatnonzero(pair_workload == w)
    sites_of = problem.option_site[option_idx[mine]]
    for s in range(n_sites):
        at = mine[sites_of == s]
        rows.add(
            np.concatenate([[base + s], at]),
            np.concatenate([[1.0], -np.ones(len(at))]),
            -np.inf,
            0.0,
        )
    need = float(problem.min_sites[w])
    rows.add(
        np.concatenate([base + np.arange(n_sites), [n_pairs + first]]),
        np.concatenate([np.ones(n_sites), [need]]),
        need,
        np.inf,
    )


def _run(
    model: _Model,
    *,
    integral: bool,
    time_limit_s: float,
    rel_gap: float | None = None,
    node_limit: int | None = None,
    bounds: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None,
) -> optimize.OptimizeResult:
    from scipy import optimize

    integrality = np.full(len(model.c), 1 if integral else 0, dtype=np.int64)
    options: Any = {"time_limit": max(0.1, time_limit_s), "disp": False}
    if rel_gap is not None:
        options["mip_rel_gap"] = rel_gap
    if node_limit is not None:
        options["node_limit"] = node_limit
    return optimize.milp(
        model.c,
        constraints=optimize.LinearConstraint(model.a, model.lower, model.upper),
        integrality=integrality,
        bounds=optimize.Bounds(0, 1) if bounds is None else optimize.Bounds(*bounds),
        options=options,
    )


def _assignment(
    problem: Problem, model: _Model, x: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    assignment = np.full(len(problem.item_workload), UNPLACED, dtype=np.int64)
    chosen = np.round(x[: model.n_pairs]).astype(bool)
    assignment[model.items[model.pair_item[chosen]]] = model.pairs[chosen]
    return assignment


@dataclass(frozen=True, slots=True)
class Exact:
    """What the MILP found.

    Attributes:
        assignment: Option per item, or ``None`` if no plan was found in time.
        placed_bound: The most replicas any plan can place (proven, or an upper bound if the
            count program ran out of time).
        cost_bound: A lower bound on the cost of any plan placing as many replicas as
            ``assignment`` (``-inf`` if none).
        optimal: Both programs finished: no plan places more, or as many for less.
    """

    assignment: npt.NDArray[np.int64] | None
    placed_bound: int
    cost_bound: float
    optimal: bool


def solve_exact(
    problem: Problem, time_limit_s: float = 120.0, *, placed_at_least: int = 0
) -> Exact:
    """The most replicas any plan can place, then the cheapest plan placing that many.

    Args:
        problem: The problem.
        time_limit_s: Time limit for both programs together.
        placed_at_least: Replicas a known plan places: when every replica with a feasible
            option is placed, the count program is skipped.

    Returns:
        The plan found, with its bounds.
    """
    started = time.perf_counter()
    placeable = int(problem.placeable_items().sum())
    if placeable == 0:
        return Exact(np.full(len(problem.item_workload), UNPLACED, dtype=np.int64), 0, 0.0, True)
    target, count_proven = placeable, True
    if placed_at_least < placeable:
        counted = _run(_model(problem, "count"), integral=True, time_limit_s=time_limit_s / 2)
        if counted.x is None:
            return Exact(None, placeable, float("-inf"), False)
        target = max(placed_at_least, placeable - round(counted.fun))
        dual = getattr(counted, "mip_dual_bound", None)
        count_proven = counted.status == 0
        if not count_proven and dual is not None and math.isfinite(dual):
            placeable = placeable - math.ceil(dual - 1e-6)
    left = time_limit_s - (time.perf_counter() - started)
    model = _model(problem, "cost", target)
    result = _run(model, integral=True, time_limit_s=left, rel_gap=COST_REL_GAP)
    if result.x is None:
        return Exact(None, placeable if not count_proven else target, float("-inf"), False)
    dual = getattr(result, "mip_dual_bound", None)
    bound = float(dual) if dual is not None and math.isfinite(dual) else float("-inf")
    return Exact(
        _assignment(problem, model, result.x),
        target if count_proven else placeable,
        bound,
        count_proven and result.status == 0,
    )


def placed_bound(problem: Problem, time_limit_s: float = 60.0) -> int | None:
    """An upper bound on the replicas any plan can place (the LP relaxation, rounded down).

    Returns:
        The bound, or ``None`` if the LP did not finish.
    """
    placeable = int(problem.placeable_items().sum())
    if placeable == 0:
        return 0
    result = _run(_model(problem, "count"), integral=False, time_limit_s=time_limit_s)
    if result.status != 0:
        return None
    return placeable - math.ceil(float(result.fun) - 1e-6)


@dataclass(frozen=True, slots=True)
class Relaxation:
    """The LP relaxation of the cost program for plans placing at least ``placed`` replicas.

    Attributes:
        placed: Replicas the plans place at least.
        value: The LP's optimum: a lower bound on their cost (``-inf`` if the LP did not
            finish; 0 when ``placed`` is 0).
        model: The program (``None`` when ``placed`` is 0).
        x: The LP's solution, per variable of ``model`` (``None`` if there is none).
    """

    placed: int
    value: float
    model: _Model | None = None
    x: npt.NDArray[np.float64] | None = None


def relax(problem: Problem, placed: int, time_limit_s: float = 60.0) -> Relaxation:
    """The LP relaxation of the cost program (see :class:`Relaxation`).

    Args:
        problem: The problem.
        placed: Replicas the plans place at least.
        time_limit_s: Time limit for the LP.

    Returns:
        The relaxation.
    """
    if placed == 0:
        return Relaxation(0, 0.0)
    model = _model(problem, "cost", placed)
    result = _run(model, integral=False, time_limit_s=time_limit_s)
    if result.status != 0:
        return Relaxation(placed, float("-inf"), model)
    return Relaxation(placed, float(result.fun), model, np.asarray(result.x, dtype=np.float64))


def lp_bound(problem: Problem, placed: int, time_limit_s: float = 60.0) -> float:
    """:func:`relax`'s value alone: a lower bound on plans placing at least ``placed``."""
    return relax(problem, placed, time_limit_s).value


POLISH_NODES = 1
"""Branch-and-bound nodes of the polishing program: its root only, where HiGHS's own
heuristics find most of the gain (bench/placement.py); a node limit, unlike a time limit,
keeps the result the same from run to run."""
AGREE = 1e-6
"""How close to 1 an LP value must be for a replica's option to count as the LP's choice."""


def polish(
    problem: Problem,
    assignment: npt.NDArray[np.int64],
    relaxation: Relaxation,
    *,
    widen: int = 0,
    time_limit_s: float = 60.0,
) -> npt.NDArray[np.int64] | None:
    """A relaxation-induced neighbourhood search (RINS): re-solve where plan and LP disagree.

    A replica that the plan and the LP relaxation put on the same option stays there. Every
    other replica is free: it may take its plan's option, any option the LP gives it a share
    of, or one of its ``widen`` cheapest options. With ``widen``, replicas held on an option
    that a free replica may take are freed too, so that they can make room. The program holds
    the plan itself and the LP's optimum, so its LP relaxation is as strong as the whole
    problem's; HiGHS solves its root only (:data:`POLISH_NODES`).

    Args:
        problem: The problem.
        assignment: A feasible plan placing ``relaxation.placed`` replicas.
        relaxation: The LP relaxation for that many replicas.
        widen: Cheapest options added to every free replica's choice (0: none).
        time_limit_s: Time limit for the program.

    Returns:
        The program's plan (it may be worse than ``assignment``: compare), or ``None`` if it
        found none.
    """
    model, x = relaxation.model, relaxation.x
    if model is None or x is None:
        return None
    pair_item, pairs, n_pairs = model.pair_item, model.pairs, model.n_pairs
    in_plan = assignment[model.items[pair_item]] == pairs
    choice = in_plan | (x[:n_pairs] > AGREE)
    if widen > 0:  # pairs are grouped by item: rank each item's options by cost
        order = np.lexsort((model.c[:n_pairs], pair_item))
        first = np.searchsorted(pair_item[order], pair_item[order], side="left")
        rank = np.empty(n_pairs, dtype=np.int64)
        rank[order] = np.arange(n_pairs) - first
        choice |= rank < widen
    held = in_plan & (x[:n_pairs] > 1.0 - AGREE)
    if widen > 0:
        held_item = np.zeros(len(model.items), dtype=bool)
        held_item[pair_item[held]] = True
        wanted = np.zeros(len(problem.capacity), dtype=bool)
        wanted[pairs[choice & ~held_item[pair_item]]] = True
        held &= ~wanted[pairs]
    lower = np.zeros(len(model.c))
    upper = np.ones(len(model.c))
    upper[:n_pairs][~choice] = 0.0
    lower[:n_pairs][held] = 1.0
    return _root(problem, model, time_limit_s, rel_gap=COST_REL_GAP, bounds=(lower, upper))


def root_plan(problem: Problem, time_limit_s: float = 60.0) -> npt.NDArray[np.int64] | None:
    """The cost program's plan at its root, placing every replica that has an option.

    For the windows of :mod:`keel.placement.neighbourhood`: small programs, solved at the
    root only (:data:`POLISH_NODES`) so that the result does not depend on the clock unless
    ``time_limit_s`` is reached.

    Returns:
        The plan, or ``None`` if the root found none.
    """
    model = _model(problem, "cost", int(problem.placeable_items().sum()))
    return _root(problem, model, time_limit_s, rel_gap=COST_REL_GAP)


def fuller(problem: Problem, time_limit_s: float = 60.0) -> npt.NDArray[np.int64] | None:
    """A plan from the root of the count program: as many replicas as HiGHS places there.

    For a searched plan that leaves replicas out while the LP says more may fit; its cost is
    not minimised.

    Args:
        problem: The problem.
        time_limit_s: Time limit for the program.

    Returns:
        The plan, or ``None`` if the root found none.
    """
    return _root(problem, _model(problem, "count"), time_limit_s)


def _root(
    problem: Problem,
    model: _Model,
    time_limit_s: float,
    *,
    rel_gap: float | None = None,
    bounds: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]] | None = None,
) -> npt.NDArray[np.int64] | None:
    """The plan HiGHS finds at a program's root (:data:`POLISH_NODES`), or ``None``."""
    result = _run(
        model,
        integral=True,
        time_limit_s=time_limit_s,
        rel_gap=rel_gap,
        node_limit=POLISH_NODES,
        bounds=bounds,
    )
    return None if result.x is None else _assignment(problem, model, result.x)
