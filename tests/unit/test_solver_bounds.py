"""Exact plans and bounds on abstract problems, against brute force.

Every bound method must stay at or below the cheapest plan placing as many replicas, the exact
solver must find the most replicas any plan can place and then the cheapest such plan, and
replicas no option can take must change neither.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.placement import lagrangian as lagrangian_module
from keel.placement import neighbourhood, solver
from keel.placement.lagrangian import lagrangian, tightened
from keel.placement.milp import lp_bound, placed_bound, solve_exact
from keel.placement.problem import UNPLACED, Problem
from keel.placement.reasons import Reason
from keel.placement.solver import check_capacity, solve, solve_fast
from placement_problems import tight_problem


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    n_w = draw(st.integers(1, 4))
    n_o = draw(st.integers(1, 3))
    replicas = np.array([draw(st.integers(1, 2)) for _ in range(n_w)], dtype=np.int64)
    demand = np.array([draw(st.integers(1, 4)) for _ in range(n_w)], dtype=np.int64)
    capacity = np.array([draw(st.integers(0, 6)) for _ in range(n_o)], dtype=np.int64)
    cell = st.one_of(st.just(np.inf), st.integers(1, 50).map(float))
    objective = np.array([[draw(cell) for _ in range(n_o)] for _ in range(n_w)])
    return Problem.from_costs(objective, capacity, demand, replicas)


def cheapest_by_count(problem: Problem) -> dict[int, float]:
    """Brute force: the cheapest plan for every number of replicas placed."""
    costs = problem.item_costs()
    demand = problem.demand[problem.item_workload]
    best: dict[int, float] = {}
    for choice in itertools.product(range(-1, costs.shape[1]), repeat=costs.shape[0]):
        used = np.zeros(costs.shape[1], dtype=np.int64)
        total, placed = 0.0, 0
        for item, option in enumerate(choice):
            if option >= 0:
                used[option] += demand[item]
                total += costs[item, option]
                placed += 1
        if np.isfinite(total) and (used <= problem.capacity).all():
            best[placed] = min(best.get(placed, np.inf), total)
    return best


def at_least(best: dict[int, float], placed: int) -> float:
    return min(cost for count, cost in best.items() if count >= placed)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_every_bound_is_below_the_cheapest_plan_placing_as_many(problem: Problem) -> None:
    n_items, n_options = problem.item_costs().shape
    if (n_options + 1) ** n_items > 20_000:
        return
    best = cheapest_by_count(problem)
    most = max(best)
    start = lagrangian(problem, min(1, most), 3 * best[most] + 1, rounds=5)  # a rough start
    for placed in range(1, most + 1):
        floor = at_least(best, placed)
        assert lp_bound(problem, placed) <= floor + 1e-6
        assert lagrangian(problem, placed, floor).bound <= floor + 1e-6
        assert start.bound - 1e-9 <= tightened(problem, start, placed, floor).bound <= floor + 1e-6
    exact = solve_exact(problem)
    assert exact.assignment is not None and exact.optimal
    assert exact.placed_bound == most == int((exact.assignment != UNPLACED).sum())
    cost = solver._cost(problem, exact.assignment)
    assert cost == pytest.approx(best[most], abs=1e-6)
    assert exact.cost_bound <= best[most] + 1e-6
    count = placed_bound(problem)
    assert count is not None and count >= most
    for name in ("fast", "exact"):
        solution = solve(problem, name)
        assert solution.bound <= at_least(best, solution.placed) + 1e-6
        assert solution.placed_bound is None or solution.placed_bound >= most


def with_unplaceable(problem: Problem, extra: int) -> Problem:
    """The same problem with ``extra`` costly workloads that no option can take."""
    n_o = problem.objective.shape[1]
    objective = np.vstack([problem.objective, np.full((extra, n_o), np.inf)])
    demand = np.concatenate([problem.demand, np.full(extra, 3)])
    replicas = np.concatenate([np.bincount(problem.item_workload), np.ones(extra, dtype=np.int64)])
    return Problem.from_costs(objective, problem.capacity, demand, replicas)


def test_replicas_no_option_can_take_change_neither_the_plan_nor_its_gap() -> None:
    """They once loosened HiGHS's stopping rule (+4.9% from optimal) and swamped the gap."""
    plain = tight_problem(60, 8, seed=3)
    padded = with_unplaceable(plain, 40)
    a, b = solve(plain, "exact"), solve(padded, "exact")
    assert b.unplaceable == 40 and a.unplaceable == 0
    assert b.placed == a.placed
    assert b.objective == pytest.approx(a.objective, rel=1e-6)
    assert b.gap == pytest.approx(a.gap, abs=1e-6)
    fast_a, fast_b = solve(plain, "fast"), solve(padded, "fast")
    assert fast_b.gap == pytest.approx(fast_a.gap, abs=1e-9)
    assert fast_b.bound == pytest.approx(fast_a.bound, rel=1e-9)


def test_exact_never_returns_less_than_fast() -> None:
    """With no time to search, the exact solver returns the fast plan, not a worse one."""
    problem = tight_problem(400, 30, seed=5)
    fast = solve(problem, "fast", with_bound=False)
    hurried = solve(problem, "exact", time_limit_s=0.01, with_bound=False)
    assert hurried.placed >= fast.placed
    if hurried.placed == fast.placed:
        assert hurried.objective <= fast.objective + 1e-6


def test_the_lagrangian_bound_reaches_the_lp_bound_when_replicas_stay_unplaced() -> None:
    """Its steps are in the units of costs: unplaced replicas must not drive them."""
    problem = tight_problem(300, 20, seed=7)
    fast = solve(problem, "fast", with_bound=False)
    assert fast.placed < len(problem.item_workload)  # capacity leaves some out
    lp = lp_bound(problem, fast.placed)
    lagrange = lagrangian(problem, fast.placed, fast.objective).bound
    assert lagrange <= lp + 1e-6
    assert lagrange >= 0.99 * lp


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_near_steps_keep_the_lagrangian_bound_valid_and_close(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps on near options only steer (their values overestimate); full ones are the bound."""
    problem = tight_problem(200, 20, seed)
    fast = solve(problem, "fast", with_bound=False)
    exact = solve_exact(problem, 30, placed_at_least=fast.placed)
    assert exact.assignment is not None
    placed = int((exact.assignment != UNPLACED).sum())
    optimum = solver._cost(problem, exact.assignment)
    everywhere = lagrangian(problem, placed, optimum)
    monkeypatch.setattr(lagrangian_module, "NEAR_PAIRS", 0)
    near = lagrangian(problem, placed, optimum)
    assert near.bound <= exact.cost_bound + 1e-6 * optimum
    # The bound is L at the prices and reward returned, over every feasible pair.
    priced = problem.item_costs() + np.outer(problem.demand[problem.item_workload], near.prices)
    value = np.minimum(0.0, priced.min(axis=1) - near.reward)
    full = value.sum() + near.reward * placed - near.prices @ problem.capacity
    assert near.bound == pytest.approx(min(full, optimum), rel=1e-9)
    assert near.bound >= everywhere.bound - 0.25 * (optimum - everywhere.bound)
    assert near.prices.shape == problem.capacity.shape and (near.prices >= 0).all()


@pytest.mark.parametrize("seed", [1, 2])
def test_an_ascent_continued_towards_a_better_plan_raises_a_rough_bound(seed: int) -> None:
    """Steered by a plan far above the optimum, the ascent stops short; continued from its
    prices towards the optimum's cost, it gets closer to the MILP's bound, never above it."""
    problem = tight_problem(200, 20, seed)
    exact = solve_exact(problem, 30)
    assert exact.assignment is not None
    placed = int((exact.assignment != UNPLACED).sum())
    optimum = solver._cost(problem, exact.assignment)
    rough = lagrangian(problem, placed, 3 * optimum, rounds=20)
    better = tightened(problem, rough, placed, optimum)
    assert rough.bound < better.bound <= exact.cost_bound + 1e-6 * optimum
    assert exact.cost_bound - better.bound < 0.5 * (exact.cost_bound - rough.bound)
    assert better.placed == placed and (better.prices >= 0).all()


def solved_as_large(monkeypatch: pytest.MonkeyPatch) -> Problem:
    """A 200 x 20 tight problem, with the solver set to treat it as one above a million cells."""
    monkeypatch.setattr(solver, "THOROUGH_CELLS", 0)
    monkeypatch.setattr(solver, "LP_BOUND_CELLS", 0)
    return tight_problem(200, 20, seed=4)


def test_large_problems_are_searched_at_lagrangian_prices_and_report_that_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above THOROUGH_CELLS the search's own Lagrangian bound is the plan's bound."""
    problem = solved_as_large(monkeypatch)
    calls: list[int] = []
    real = lagrangian_module.lagrangian

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(solver, "lagrangian", counted)
    guided = solve(problem, "fast")
    assert len(calls) == 1  # the search's bound is reused, not computed again
    assert guided.bound_method == "lagrangian"
    # No Lagrangian value is above the LP relaxation's optimum (its dual).
    assert guided.bound <= lp_bound(problem, guided.placed) + 1e-6
    unguided, _ = solver._search(problem, 0, guided=False)
    placed_unguided = int((unguided != UNPLACED).sum())
    assert (guided.placed, -guided.objective) >= (
        placed_unguided,
        -solver._cost(problem, unguided) - 1e-6,
    )


def test_exact_keeps_the_fast_plan_when_the_milp_returns_a_worse_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A time-limited MILP may stop on a poor incumbent: the plan must not be it."""
    from keel.placement import solver
    from keel.placement.milp import Exact

    problem = tight_problem(60, 8, seed=3)
    fast = solve(problem, "fast", with_bound=False)
    worse = np.full(len(problem.item_workload), UNPLACED, dtype=np.int64)
    monkeypatch.setattr(
        solver, "solve_exact", lambda *_a, **_k: Exact(worse, fast.placed, float("-inf"), False)
    )
    kept = solve(problem, "exact", with_bound=False)
    assert kept.placed == fast.placed
    assert np.array_equal(kept.assignment, fast.assignment)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_the_polish_brings_the_fast_plan_within_one_percent_of_the_optimum(seed: int) -> None:
    """On tight problems the search alone stops 6-13% above the optimum; the polish closes it."""
    problem = tight_problem(80, 10, seed)
    searched = solve_fast(problem, polished=False)
    fast = solve_fast(problem)
    exact = solve_exact(problem, placed_at_least=int((fast != UNPLACED).sum()))
    assert exact.assignment is not None and exact.optimal
    costs = problem.item_costs()

    def cost(assignment: np.ndarray) -> float:  # type: ignore[type-arg]
        placed = assignment != UNPLACED
        return float(costs[placed, assignment[placed]].sum())

    assert check_capacity(problem, fast)
    assert (fast != UNPLACED).sum() == (exact.assignment != UNPLACED).sum()
    assert cost(searched) > cost(exact.assignment) * 1.02  # the instance is hard for the search
    assert cost(fast) <= cost(exact.assignment) * 1.01
    assert np.array_equal(solve_fast(problem), fast)  # a node limit, not a clock: repeatable


def test_a_pool_smaller_than_a_replica_is_no_option_and_no_share_of_the_bound() -> None:
    """A 4-device gang cannot use two 2-device pools, not even in the LP or the Lagrangian."""
    objective = np.array([[1.0, 1.0, 10.0]])
    problem = Problem.from_costs(objective, np.array([2, 2, 4]), np.array([4]), np.array([1]))
    assert np.isinf(problem.objective[0, :2]).all() and problem.objective[0, 2] == 10.0
    assert (problem.reasons[0, :2] & int(Reason.CAPACITY)).all()
    assert lp_bound(problem, 1) == pytest.approx(10.0)  # halves on the small pools: 1.0
    assert lagrangian(problem, 1, 10.0).bound == pytest.approx(10.0, rel=1e-3)
    assert solve(problem, "fast").gap == 0.0


def test_a_replica_the_search_leaves_out_is_placed_when_the_count_program_fits_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Placing x needs two moves (z to C, then y to B): more than one ejection chain makes."""
    from keel.placement import solver

    inf = np.inf
    objective = np.array([[1.0, inf, inf], [1.0, 5.0, inf], [inf, 1.0, 5.0]])  # x, y, z
    problem = Problem.from_costs(objective, np.array([2, 2, 2]), np.array([2, 2, 2]), np.ones(3))
    stuck = np.array([UNPLACED, 0, 1], dtype=np.int64)  # y on A, z on B: no room for x
    monkeypatch.setattr(solver, "_search", lambda _problem, _seed, **_options: (stuck.copy(), None))
    assert solve_fast(problem, polished=False).tolist() == stuck.tolist()
    assert solve_fast(problem).tolist() == [0, 1, 2]
    solution = solve(problem, "fast")
    assert solution.placed == 3 and solution.objective == pytest.approx(11.0)


def test_a_large_plan_far_from_its_bound_after_the_windows_is_searched_thoroughly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The quick search stops with moves left; the thorough pass after the windows takes them."""
    problem = solved_as_large(monkeypatch)
    monkeypatch.setattr(solver, "FAR_ABOVE", np.inf)  # no whole windows after the pass
    thorough = solver._thorough
    with monkeypatch.context() as patched:
        patched.setattr(solver, "_thorough", lambda _problem, plan, *_args, **_options: plan)
        quick = solve(problem, "fast").assignment
    searched = solve(problem, "fast").assignment
    # Better: more replicas placed, or as many for less (here: more placed).
    assert solver._better(problem, thorough(problem, quick, 0), quick)
    assert not solver._better(problem, thorough(problem, quick, 0), searched)
    assert check_capacity(problem, searched)


@pytest.mark.parametrize(
    ("far_above", "shapes"), [(0.0, ["guided", "whole"]), (np.inf, ["guided"])]
)
def test_a_large_plan_still_far_above_its_tightened_bound_gets_whole_windows_too(
    monkeypatch: pytest.MonkeyPatch, far_above: float, shapes: list[str]
) -> None:
    problem = solved_as_large(monkeypatch)
    monkeypatch.setattr(neighbourhood, "CLOSE_ENOUGH", 0.0)
    monkeypatch.setattr(solver, "FAR_ABOVE", far_above)
    opened: list[str] = []
    costs: list[float] = []
    real = neighbourhood.improve

    def counted(problem: Problem, plan: Any, priced: Any, **kwargs: Any) -> Any:
        shape = kwargs.get("shape", neighbourhood.WHOLE)
        opened.append("guided" if shape.guided else "whole")
        improved = real(problem, plan, priced, **kwargs)
        costs.append(solver._cost(problem, improved))
        return improved

    monkeypatch.setattr(neighbourhood, "improve", counted)
    solution = solve(problem, "fast")
    assert opened == shapes
    assert solution.objective <= costs[-1] + 1e-6  # no step after the windows costs more
    assert check_capacity(problem, solution.assignment)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 11).flatmap(
        lambda n: st.tuples(
            st.lists(
                st.lists(st.sampled_from([np.inf, 1.0, 2.5, 7.0]), min_size=4, max_size=4),
                min_size=n,
                max_size=n,
            ),
            st.lists(st.integers(1, 4), min_size=n, max_size=n),
        )
    ),
    st.lists(st.integers(0, 4), min_size=4, max_size=4),
)
def test_the_cheapest_option_with_room_is_the_same_in_blocks(
    items: tuple[list[list[float]], list[int]], left: list[int]
) -> None:
    rows, demand = items
    costs, need, room = np.array(rows), np.array(demand), np.array(left)
    whole = np.where(room[None, :] >= need[:, None], costs, np.inf).min(axis=1)
    saved = solver.ROWS_AT_ONCE
    try:
        solver.ROWS_AT_ONCE = 3  # blocks of 3 items, the last one short
        assert np.array_equal(solver._cheapest_with_room(costs, need, room), whole)
    finally:
        solver.ROWS_AT_ONCE = saved
