"""The buy / reserve / rent frontier against sums worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel.capacity.advice import Prices, frontier, mix_at, mixes, recommend

PRICES = Prices(
    owned_usd_per_device_h=1.0,
    reserved_usd_per_device_h=2.0,
    on_demand_usd_per_device_h=3.0,
    owned_kgco2e_per_device_h=0.3,
    cloud_kgco2e_per_device_h=0.1,
)


def test_a_mix_costs_its_commitments_plus_what_it_rents() -> None:
    demand = np.array([0.0, 0.0, 10.0, 10.0])
    # Own 4: 4 x 1 USD/h, and half the time 6 more rented at 3 USD/h.
    mix = mix_at(demand, PRICES, 4, 0)
    assert mix.usd_per_h == pytest.approx(4 + 0.5 * 6 * 3)
    assert mix.on_demand_device_h_per_h == pytest.approx(3.0)
    assert mix.kgco2e_per_h == pytest.approx(0.5 * 4 * 0.3 + 0.5 * 6 * 0.1)
    # Own 4 and reserve 2: the reserved two serve half the time, and cost all the time.
    both = mix_at(demand, PRICES, 4, 2)
    assert both.usd_per_h == pytest.approx(4 + 2 * 2 + 0.5 * 4 * 3)


def test_the_cheapest_mix_owns_what_is_used_often_enough() -> None:
    # Busy a third of the time: owning costs 1 all the time, renting 3 a third of the time,
    # so owning and renting tie; busy half the time, owning wins.
    half = np.array([0.0, 10.0] * 12)
    best = recommend(mixes(half, PRICES), carbon_usd_per_t=0.0)
    assert best is not None and (best.owned, best.reserved) == (10, 0)
    rare = np.array([0.0] * 9 + [10.0])
    best = recommend(mixes(rare, PRICES), carbon_usd_per_t=0.0)
    assert best is not None and (best.owned, best.reserved) == (0, 0)


def test_without_a_cloud_pool_only_mixes_that_cover_the_peak_serve() -> None:
    alone = Prices(1.0, None, None, 0.3, 0.0)
    demand = np.array([2.0, 5.0, 3.0])
    found = mixes(demand, alone)
    assert {m.reserved for m in found} == {0}
    best = recommend(found, carbon_usd_per_t=0.0)
    assert best is not None and best.owned == 5
    assert mix_at(demand, alone, 3, 0).unserved_device_h_per_h == pytest.approx(2 / 3)


def test_carbon_priced_high_moves_work_to_the_greener_cloud() -> None:
    demand = np.full(24, 10.0)
    cheap = recommend(mixes(demand, PRICES), carbon_usd_per_t=0.0)
    green = recommend(mixes(demand, PRICES), carbon_usd_per_t=100_000.0)
    assert cheap is not None and cheap.owned == 10
    assert green is not None and green.owned == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 40), min_size=1, max_size=48))
def test_the_frontier_is_undominated_and_holds_the_cheapest_mix(values: list[float]) -> None:
    demand = np.array(values)
    found = mixes(demand, PRICES)
    front = frontier(found)
    serving = [m for m in found if m.unserved_device_h_per_h <= 1e-9]
    cheapest = min(m.usd_per_h for m in serving)
    assert front[0].usd_per_h == pytest.approx(cheapest)
    for a in front:
        assert not any(
            b.usd_per_h <= a.usd_per_h - 1e-9 and b.kgco2e_per_h <= a.kgco2e_per_h - 1e-9
            for b in serving
        )
    for m in found[:: max(1, len(found) // 10)]:  # the grid agrees with the one-off sum
        one = mix_at(demand, PRICES, m.owned, m.reserved)
        assert one.usd_per_h == pytest.approx(m.usd_per_h)
        assert one.kgco2e_per_h == pytest.approx(m.kgco2e_per_h)


def test_advice_names_no_workload_its_reader_may_not_read() -> None:
    from keel import wire
    from keel.service.advice import redact

    found = wire.CapacityAdvice.model_validate({
        "id": 1, "ledger_index": 7, "digest": "sha256:x", "source": "t.csv", "format": "keel",
        "trace_digest": "sha256:t", "estate_digest": "sha256:e", "prices_digest": "sha256:p",
        "first": None, "step_s": 3600, "basis": "history", "level": 90, "horizon_steps": None,
        "objective": "balanced", "carbon_usd_per_t": 100.0, "usages": 3, "skipped": {},
        "scenario": {"mapping": {"web": "secret-api", "batch": "open-batch", "*": "secret-api"}},
        "slo": 0.99, "replays": 1, "pool_types": [], "checks": {},
    })  # fmt: skip
    shown = redact(found, {"secret-api"}).scenario["mapping"]
    assert shown == {"web": "(withheld)", "batch": "open-batch", "*": "(withheld)"}
    assert redact(found, {"other"}) is found
    assert found.scenario["mapping"]["web"] == "secret-api"  # the stored advice is untouched
