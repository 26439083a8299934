"""Abstract placement problems shared by the solver's tests."""

from __future__ import annotations

import numpy as np

from keel.placement.problem import Problem


def tight_problem(n_w: int, n_o: int, seed: int) -> Problem:
    """Gangs of 1-8 devices on pools holding about 95% of what they ask for."""
    rng = np.random.default_rng(seed)
    demand = rng.integers(1, 9, n_w)
    capacity = rng.integers(8, 40, n_o)
    capacity = np.maximum(1, np.round(capacity * demand.sum() / capacity.sum() * 0.95))
    objective = demand[:, None] * rng.uniform(1, 4, (n_w, n_o)) * rng.uniform(1, 48, n_w)[:, None]
    objective[rng.random((n_w, n_o)) < 0.4] = np.inf
    return Problem.from_costs(
        objective, capacity.astype(np.int64), demand, np.ones(n_w, dtype=np.int64)
    )
