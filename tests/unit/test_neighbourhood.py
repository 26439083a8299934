"""Windows of a plan re-solved as small MILPs: never worse, never a broken rule, and able to
make the exchanges that single moves and pair swaps cannot."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keel.placement import neighbourhood, solver
from keel.placement.problem import UNPLACED, Problem
from keel.placement.solver import check_capacity, solve
from placement_problems import tight_problem


@pytest.mark.parametrize("shape", [neighbourhood.WHOLE, neighbourhood.GUIDED])
def test_a_window_makes_a_three_way_exchange_that_moves_and_swaps_cannot(
    shape: neighbourhood.Shape,
) -> None:
    """A 2-device gang on the wrong pool, two 1-device jobs on the other, both pools full.

    The gang can only move once both jobs have left its pool's counterpart; swapping it with
    one job overfills a pool. Cost 20 before, 3 at the optimum.
    """
    objective = np.array([[10.0, 1.0], [1.0, 5.0], [1.0, 5.0]])
    problem = Problem.from_costs(
        objective, np.array([2, 2]), np.array([2, 1, 1]), np.ones(3, dtype=np.int64)
    )
    plan = np.array([0, 1, 1])
    stuck = solver._thorough(problem, plan, 0)  # the search alone cannot get out
    assert solver._cost(problem, stuck) == 20.0
    costs = problem.item_costs()
    better = neighbourhood.improve(problem, plan, costs, costs=costs, shape=shape)
    assert better.tolist() == [1, 0, 0]
    assert solver._cost(problem, better) == 3.0
    assert plan.tolist() == [0, 1, 1]  # the caller's plan is left as it was


@st.composite
def planned(draw: st.DrawFn) -> tuple[Problem, np.ndarray, np.ndarray]:  # type: ignore[type-arg]
    """A random problem, a feasible greedy plan of it, and random prices per option."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n_w, n_o = draw(st.integers(2, 40)), draw(st.integers(1, 12))
    replicas = rng.integers(1, 4, n_w)
    demand = rng.integers(1, 9, n_w)
    capacity = rng.integers(0, 30, n_o)
    objective = demand[:, None] * rng.uniform(1, 50, (n_w, n_o))
    objective[rng.random((n_w, n_o)) < draw(st.floats(0.0, 0.8))] = np.inf
    problem = Problem.from_costs(objective, capacity, demand, replicas)
    ruled = rng.random(n_w) < 0.2  # some workloads carry a spread rule: windows leave them be
    problem = dataclasses.replace(problem, min_sites=np.where(ruled, 2, 1).astype(np.int64))
    costs = problem.item_costs()
    demand = problem.demand[problem.item_workload]
    search = solver._Search(problem, costs, demand, solver.unplaced_penalty(problem))
    search.greedy(rng.permutation(len(problem.item_workload)).tolist(), costs)
    prices = rng.uniform(0, 5, n_o) * (rng.random(n_o) < 0.7)
    priced = costs + np.outer(problem.demand[problem.item_workload], prices)
    return problem, search.assignment, priced


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(planned(), st.sampled_from([neighbourhood.WHOLE, neighbourhood.GUIDED]))
def test_windows_keep_every_replica_and_rule_and_never_cost_more(
    case: tuple[Problem, np.ndarray, np.ndarray],  # type: ignore[type-arg]
    shape: neighbourhood.Shape,
) -> None:
    problem, plan, priced = case
    before = plan.copy()
    better = neighbourhood.improve(problem, plan, priced, costs=problem.item_costs(), shape=shape)
    assert np.array_equal(better != UNPLACED, before != UNPLACED)
    assert check_capacity(problem, better)
    assert solver._cost(problem, better) <= solver._cost(problem, before) + 1e-6
    ruled = np.isin(problem.item_workload, sorted(problem.all_or_nothing()))
    assert np.array_equal(better[ruled], before[ruled])
    placed = better != UNPLACED
    assert np.isfinite(problem.item_costs()[np.flatnonzero(placed), better[placed]]).all()


@pytest.mark.parametrize(("close_enough", "opened"), [(0.0, True), (1.0, False)])
def test_windows_open_only_for_plans_far_above_their_bound(
    monkeypatch: pytest.MonkeyPatch, close_enough: float, opened: bool
) -> None:
    """After the polish (small problems) and after the guided search (large ones)."""
    calls: list[float] = []
    real = neighbourhood.improve

    def counted(problem: Problem, plan: Any, priced: Any, **kwargs: Any) -> Any:
        calls.append(solver._cost(problem, plan))
        return real(problem, plan, priced, **kwargs)

    monkeypatch.setattr(neighbourhood, "improve", counted)
    monkeypatch.setattr(neighbourhood, "CLOSE_ENOUGH", close_enough)
    for large in (False, True):
        calls.clear()
        if large:
            monkeypatch.setattr(solver, "THOROUGH_CELLS", 0)
        problem = tight_problem(120, 12, seed=5)
        plan = solve(problem, "fast")
        assert bool(calls) is opened
        assert check_capacity(problem, plan.assignment)
        if opened:  # the plan is the windows' own, no worse than what they started from
            assert plan.objective <= calls[0] + 1e-6
