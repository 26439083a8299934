"""The fast solver under a deadline: whenever it stops, a plan that keeps every rule and a
bound that stays below the optimum.

The clock is the test's own: it moves one second each time it is read, so "the deadline
passes at the N-th look" cuts the solve at a different step for every N, without timing
anything.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from keel.placement import lagrangian as lagrangian_module
from keel.placement import solver
from keel.placement.deadline import MIN_LIMIT_S, NEVER, Deadline
from keel.placement.lagrangian import lagrangian, tightened
from keel.placement.milp import solve_exact
from keel.placement.problem import UNPLACED, Problem
from keel.placement.solver import check_capacity, solve, workload_ok
from placement_problems import tight_problem

CUTS = [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 10**9]


class Ticks:
    """A clock that moves one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def cut_after(looks: int) -> Deadline:
    """A deadline that passes at the solver's ``looks``-th look at the clock."""
    clock = Ticks()
    return Deadline(at=float(looks), clock=clock)


def keeps_every_rule(problem: Problem, assignment: np.ndarray[Any, Any]) -> bool:
    return check_capacity(problem, assignment) and all(
        workload_ok(problem, w, assignment) for w in problem.all_or_nothing()
    )


def test_a_deadline_passes_when_its_clock_reaches_it() -> None:
    now = [100.0]
    deadline = Deadline.after(10, lambda: now[0])
    assert not deadline.passed() and deadline.limit_s(60) == 10 and deadline.limit_s(4) == 4
    assert deadline.share(0.5).at == 105 and deadline.share(0.25).at == 102.5
    now[0] = 109.99
    assert not deadline.passed() and deadline.limit_s(60) == MIN_LIMIT_S  # never 0 for HiGHS
    now[0] = 110
    assert deadline.passed() and deadline.share(0.5).at == 110
    assert not NEVER.passed() and NEVER.limit_s(7.5) == 7.5 and NEVER.share(0.5) is NEVER
    assert Deadline.after(None).at is None


@pytest.fixture(scope="module")
def optimum() -> tuple[Problem, float, int]:
    """A 40 x 6 tight problem and the cost and count of its optimal plan."""
    problem = tight_problem(40, 6, seed=2)
    exact = solve_exact(problem, 60)
    assert exact.optimal and exact.assignment is not None
    return problem, solver._cost(problem, exact.assignment), exact.placed_bound


@pytest.mark.parametrize("large", [False, True], ids=["polished", "lagrangian"])
def test_a_solve_cut_short_at_any_step_keeps_every_rule_and_a_valid_bound(
    monkeypatch: pytest.MonkeyPatch, optimum: tuple[Problem, float, int], large: bool
) -> None:
    problem, best, most = optimum
    if large:  # the path of problems above a million items x options
        monkeypatch.setattr(solver, "THOROUGH_CELLS", 0)
        monkeypatch.setattr(solver, "LP_BOUND_CELLS", 0)
    costs: list[float] = []
    for looks in CUTS:
        found = solver._fast(problem, 0, deadline=cut_after(looks))
        plan = found.assignment
        assert keeps_every_rule(problem, plan), looks
        assert (plan != UNPLACED).any(), looks  # the first construction always runs
        placed = int((plan != UNPLACED).sum())
        assert placed <= most
        if placed == most:
            assert solver._cost(problem, plan) >= best - 1e-6
            costs.append(solver._cost(problem, plan))
        if found.lagrange is not None:  # plans placing at least that many cost at least this
            assert found.lagrange.placed <= most
            assert found.lagrange.bound <= best + 1e-6, looks
        if found.relaxation is not None:
            assert found.relaxation.value <= best + 1e-6, looks
    assert costs and costs[-1] <= costs[0] + 1e-6  # given time, the plan gets no worse


@pytest.mark.parametrize("large", [False, True], ids=["polished", "lagrangian"])
def test_a_budget_spent_before_any_bound_says_no_bound(
    monkeypatch: pytest.MonkeyPatch, optimum: tuple[Problem, float, int], large: bool
) -> None:
    problem, _best, _most = optimum
    if large:
        monkeypatch.setattr(solver, "THOROUGH_CELLS", 0)
        monkeypatch.setattr(solver, "LP_BOUND_CELLS", 0)
    spent = solve(problem, budget_s=0.0)
    assert spent.bound_method == "none" and spent.gap is None and spent.budget_s == 0.0
    assert keeps_every_rule(problem, spent.assignment)
    ample = solve(problem, budget_s=600.0)
    assert ample.bound_method == ("lagrangian" if large else "lp") and ample.gap is not None
    assert ample.budget_s == 600.0
    assert solve(problem).budget_s is None


def test_the_ascent_stops_at_its_deadline_and_skips_its_second_start(
    monkeypatch: pytest.MonkeyPatch, optimum: tuple[Problem, float, int]
) -> None:
    problem, best, most = optimum
    starts: list[float] = []
    real = lagrangian_module._ascent

    def counted(*args: Any, **kwargs: Any) -> Any:
        starts.append(kwargs["reward"])
        return real(*args, **kwargs)

    monkeypatch.setattr(lagrangian_module, "_ascent", counted)
    full = lagrangian(problem, most, best)
    assert len(starts) == 2
    starts.clear()
    cut = lagrangian(problem, most, best, deadline=cut_after(0))
    assert starts == [0.0]  # the zero-reward start, one full evaluation, no second start
    assert cut.bound <= full.bound + 1e-9 and cut.bound <= best + 1e-6


def test_the_ascent_takes_no_step_past_its_deadline(
    monkeypatch: pytest.MonkeyPatch, optimum: tuple[Problem, float, int]
) -> None:
    # Full evaluations every tenth step, as above a million pairs: a deadline passing between
    # two of them stops the ascent there, where it used to run on to the next one.
    monkeypatch.setattr(lagrangian_module, "NEAR_PAIRS", 0)
    problem, best, most = optimum
    start = lagrangian(problem, most, best, rounds=1)
    differs = 0
    for looks in (1, 2, 5, 12, 25):
        cut = tightened(problem, start, most, best, deadline=cut_after(looks))
        ran = tightened(problem, start, most, best, rounds=looks)  # ``looks`` steps, no deadline
        assert cut.bound == ran.bound and np.array_equal(cut.prices, ran.prices), looks
        more = tightened(problem, start, most, best, rounds=looks + 9)
        differs += more.bound != ran.bound
    assert differs  # the steps cut off would have changed the bound


def test_the_ejection_chains_take_no_item_past_the_deadline() -> None:
    problem = tight_problem(40, 6, seed=2)  # a greedy plan whose chains place two more replicas
    costs = problem.item_costs()
    demand = problem.demand[problem.item_workload]

    def greedy() -> solver._Search:
        search = solver._Search(problem, costs, demand, solver.unplaced_penalty(problem))
        search.greedy(list(range(len(costs))), costs)
        return search

    cut, free = greedy(), greedy()
    before = cut.assignment.copy()
    assert not cut.insert_pass(cut_after(0)) and np.array_equal(cut.assignment, before)
    assert free.insert_pass() and (free.assignment != UNPLACED).sum() > (before != UNPLACED).sum()
