"""Instance families for the placement benchmark, generated as compiled problems.

Each generator returns a :class:`keel.placement.problem.Problem` of ``n_workloads`` workloads
over ``n_options`` options (sites of four pools each), with the hard constraints folded into
the objective (``inf`` where infeasible), so the solver sees exactly what a compiled estate
gives it. They were written to stress what the estate generator of ``bench/placement.py``
does not:

* ``tight``: 90-98% of all devices are demanded, by gangs of 1-8 devices on two accelerator
  types each;
* ``restricted``: eight jurisdictions and four classification levels; most workloads may run
  in one jurisdiction only, at sites cleared for their data, on one accelerator type, so most
  options are infeasible and some jurisdictions are short of devices;
* ``gangs``: many jobs of 1-2 devices plus a few gangs of 16-64 devices, on pools of 8-128;
* ``prices``: prices that differ by orders of magnitude between options (lognormal, sigma
  1.2) and per workload, so the cheapest options are heavily oversubscribed.

Services have 1-3 replicas (items); no family uses ``min_sites`` or multi-region coverage
(the estate generator and the unit tests cover those).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from keel.placement.problem import Problem

Floats = npt.NDArray[np.float64]
POOLS = 4


def _replicas(rng: np.random.Generator, n_w: int) -> npt.NDArray[np.int64]:
    service = rng.random(n_w) < 0.3
    return np.where(service, rng.integers(1, 4, n_w), 1).astype(np.int64)


def _accepts(rng: np.random.Generator, n_w: int, n_o: int, kinds: int) -> npt.NDArray[np.bool_]:
    """Workloads x options: the option's accelerator is one of ``kinds`` the workload takes."""
    wanted = np.zeros((n_w, POOLS), dtype=bool)
    for w in range(n_w):
        wanted[w, rng.choice(POOLS, size=kinds, replace=False)] = True
    return np.asarray(wanted[:, np.arange(n_o) % POOLS], dtype=bool)


def _costs(
    rng: np.random.Generator, demand: npt.NDArray[np.int64], price: Floats, spread: float
) -> Floats:
    """Devices x hours x option price x a per-pair factor (egress, carbon) of the given spread."""
    hours = rng.uniform(1, 48, len(demand))
    factor = rng.lognormal(0.0, spread, (len(demand), len(price)))
    return np.asarray((demand * hours)[:, None] * price[None, :] * factor, dtype=np.float64)


def _capacity_for(
    rng: np.random.Generator, total: float, n_o: int, low: int, high: int
) -> npt.NDArray[np.int64]:
    """Random pool sizes in [low, high] scaled to add up to about ``total`` devices."""
    raw = rng.uniform(low, high, n_o)
    return np.maximum(low, np.round(raw * total / raw.sum())).astype(np.int64)


def tight(n_w: int, n_o: int, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    demand = rng.integers(1, 9, n_w).astype(np.int64)
    replicas = _replicas(rng, n_w)
    wanted = float((demand * replicas).sum())
    capacity = _capacity_for(rng, wanted / rng.uniform(0.90, 0.98), n_o, 8, 64)
    costs = _costs(rng, demand, rng.uniform(1.0, 4.0, n_o), 0.25)
    ok = _accepts(rng, n_w, n_o, 2) & (rng.random((n_w, n_o // POOLS)) < 0.8).repeat(POOLS, 1)
    return Problem.from_costs(np.where(ok, costs, np.inf), capacity, demand, replicas, POOLS)


def restricted(n_w: int, n_o: int, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    n_sites = n_o // POOLS
    site_zone = rng.integers(0, 8, n_sites)
    site_level = rng.integers(0, 4, n_sites)
    demand = rng.integers(1, 9, n_w).astype(np.int64)
    replicas = _replicas(rng, n_w)
    zone = rng.integers(0, 8, n_w)
    bound_to_zone = rng.random(n_w) < 0.6
    level = rng.choice(4, n_w, p=[0.2, 0.3, 0.3, 0.2])
    site_ok = (site_level[None, :] >= level[:, None]) & (
        ~bound_to_zone[:, None] | (site_zone[None, :] == zone[:, None])
    )
    ok = _accepts(rng, n_w, n_o, 1) & site_ok.repeat(POOLS, 1)
    wanted = float((demand * replicas).sum())
    capacity = _capacity_for(rng, 1.3 * wanted, n_o, 4, 64)
    costs = _costs(rng, demand, rng.uniform(1.0, 4.0, n_o), 0.3)
    return Problem.from_costs(np.where(ok, costs, np.inf), capacity, demand, replicas, POOLS)


def gangs(n_w: int, n_o: int, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    huge = rng.random(n_w) < 0.04
    demand = np.where(huge, rng.choice([16, 32, 48, 64], n_w), rng.integers(1, 3, n_w))
    replicas = np.where(huge, 1, _replicas(rng, n_w))
    wanted = float((demand * replicas).sum())
    capacity = _capacity_for(rng, 1.15 * wanted, n_o, 8, 128)
    costs = _costs(rng, demand, rng.uniform(1.0, 4.0, n_o), 0.25)
    ok = _accepts(rng, n_w, n_o, 2)
    return Problem.from_costs(
        np.where(ok, costs, np.inf), capacity, demand.astype(np.int64), replicas, POOLS
    )


def prices(n_w: int, n_o: int, seed: int) -> Problem:
    rng = np.random.default_rng(seed)
    demand = rng.integers(1, 9, n_w).astype(np.int64)
    replicas = _replicas(rng, n_w)
    wanted = float((demand * replicas).sum())
    capacity = _capacity_for(rng, 1.3 * wanted, n_o, 4, 64)
    costs = _costs(rng, demand, rng.lognormal(0.0, 1.2, n_o), 0.5)
    ok = _accepts(rng, n_w, n_o, 2)
    return Problem.from_costs(np.where(ok, costs, np.inf), capacity, demand, replicas, POOLS)


FAMILIES: dict[str, Callable[[int, int, int], Problem]] = {
    "tight": tight,
    "restricted": restricted,
    "gangs": gangs,
    "prices": prices,
}
