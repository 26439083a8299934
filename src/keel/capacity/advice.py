"""Buy, reserve or rent: the frontier of owned, reserved and on-demand devices per pool type.

For one accelerator, demand is a series of devices in use per step (the forecast's upper
quantile, at the risk level the user picks). A **mix** owns ``N`` devices and reserves ``R``
in a public cloud; what exceeds ``N + R`` in a step is rented on demand for that step.

* cost per hour = ``N x owned + R x reserved + mean(max(0, D - N - R)) x on_demand``: owned
  and reserved devices are paid whether used or not;
* carbon per hour: the device-hours served by each (owned first, then reserved, then on
  demand) times the energy per device-hour and the grid intensity where each runs.

Every mix with ``N + R`` up to the peak is evaluated (on a grid of at most ``MAX_LEVELS``
levels per axis for large fleets), so the **frontier** (no other mix both cheaper and
lower-carbon) is exact on that grid, and the **recommended** mix minimises cost plus carbon at
the objective's carbon price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]

MAX_LEVELS = 120


@dataclass(frozen=True, slots=True)
class Prices:
    """What one device-hour costs and emits, bought each way.

    ``owned_usd_per_device_h`` is ``None`` where the estate owns none of the accelerator and
    no price was given (no owned mix is offered); ``on_demand_usd_per_device_h`` is ``None``
    where no public-cloud pool may run the work (nothing can be rented).
    """

    owned_usd_per_device_h: float | None
    reserved_usd_per_device_h: float | None
    on_demand_usd_per_device_h: float | None
    owned_kgco2e_per_device_h: float
    cloud_kgco2e_per_device_h: float


@dataclass(frozen=True, slots=True)
class Mix:
    """Owned and reserved devices, and what they lead to per hour."""

    owned: int
    reserved: int
    usd_per_h: float
    kgco2e_per_h: float
    on_demand_device_h_per_h: float
    unserved_device_h_per_h: float

    def score(self, carbon_usd_per_t: float) -> float:
        """Cost plus carbon at a price per tonne (unserved demand makes a mix worthless)."""
        if self.unserved_device_h_per_h > 1e-9:
            return math.inf
        return self.usd_per_h + carbon_usd_per_t * self.kgco2e_per_h / 1000.0


def _levels(peak: float) -> Floats:
    top = math.ceil(peak - 1e-9)
    if top + 1 <= MAX_LEVELS:
        return np.arange(top + 1, dtype=np.float64)
    return np.unique(np.round(np.linspace(0, top, MAX_LEVELS)))


def _evaluate(demand: Floats, prices: Prices, owned: Floats, reserved: Floats) -> list[Mix]:
    d = demand[None, :] if demand.size else np.zeros((1, 1))
    by_owned = np.minimum(d, owned[:, None]).mean(axis=1)
    by_committed = np.minimum(d, (owned + reserved)[:, None]).mean(axis=1)
    excess = np.maximum(d - (owned + reserved)[:, None], 0.0).mean(axis=1)
    on_demand = prices.on_demand_usd_per_device_h
    rented = excess if on_demand is not None else np.zeros_like(excess)
    usd = (
        owned * (prices.owned_usd_per_device_h or 0.0)
        + reserved * (prices.reserved_usd_per_device_h or 0.0)
        + rented * (on_demand or 0.0)
    )
    kg = (
        by_owned * prices.owned_kgco2e_per_device_h
        + (by_committed - by_owned + rented) * prices.cloud_kgco2e_per_device_h
    )
    return [
        Mix(int(owned[i]), int(reserved[i]), float(usd[i]), float(kg[i]), float(rented[i]),
            float(excess[i] - rented[i]))
        for i in range(len(owned))
    ]  # fmt: skip


def mixes(demand: Floats, prices: Prices) -> list[Mix]:
    """Every mix on the grid, for a demand series (devices in use per step)."""
    peak = float(demand.max()) if demand.size else 0.0
    levels = _levels(peak)
    owned_levels = levels if prices.owned_usd_per_device_h is not None else levels[:1]
    reserve_levels = levels if prices.reserved_usd_per_device_h is not None else levels[:1]
    owned, reserved = np.meshgrid(owned_levels, reserve_levels, indexing="ij")
    keep = owned + reserved <= levels[-1] + 1e-9
    return _evaluate(demand, prices, owned[keep], reserved[keep])


def mix_at(demand: Floats, prices: Prices, owned: int, reserved: int) -> Mix:
    """One given mix (a baseline, say) on the same demand, on the grid or not."""
    return _evaluate(demand, prices, np.array([float(owned)]), np.array([float(reserved)]))[0]


def frontier(found: list[Mix]) -> list[Mix]:
    """The mixes no other mix beats on both cost and carbon (serving all demand), by cost."""
    serving = sorted(
        (m for m in found if m.unserved_device_h_per_h <= 1e-9),
        key=lambda m: (m.usd_per_h, m.kgco2e_per_h),
    )
    best: list[Mix] = []
    for mix in serving:
        if not best or mix.kgco2e_per_h < best[-1].kgco2e_per_h - 1e-12:
            best.append(mix)
    return best


def recommend(found: list[Mix], carbon_usd_per_t: float) -> Mix | None:
    """The mix with the least cost plus carbon at the carbon price (``None``: none serves)."""
    best = min(found, key=lambda m: (m.score(carbon_usd_per_t), m.owned + m.reserved))
    return best if math.isfinite(best.score(carbon_usd_per_t)) else None
