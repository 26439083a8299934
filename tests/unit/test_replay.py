"""The capacity replay on small estates whose outcome can be worked out by hand."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from keel.capacity.replay import ClassModel, Pool, Settings, replay

HOUR = 3600.0


def pool(name: str, devices: int, *, owned: bool, usd: float = 2.0, reserved: int = 0) -> Pool:
    return Pool(
        name=name,
        site=name.split("/", maxsplit=1)[0],
        accelerator="L4",
        owned=owned,
        devices=devices,
        reserved=reserved,
        usd_per_device_h=usd,
        reserved_usd_per_device_h=usd * 0.5,
        spot_usd_per_device_h=usd * 0.25,
        kwh_per_device_h=0.5,
        kgco2e_per_kwh=0.2,
    )


def job(ranks: list[float], *, service: bool = False, wait_s: float = 60.0) -> ClassModel:
    return ClassModel(
        name="c",
        rank_usd_per_device_h=np.array(ranks, dtype=np.float64),
        service=service,
        interruptible=not service,
        utilisation=1.0,
        wait_target_s=wait_s,
    )


def usages(
    devices: list[float], arrivals: list[float], durations: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.zeros(len(devices), dtype=np.int64),
        np.array(devices, dtype=np.float64),
        np.array(arrivals, dtype=np.float64),
        np.array(durations, dtype=np.float64),
    )


def test_owned_devices_go_first_and_the_rest_is_rented_on_demand() -> None:
    pools = [pool("dc/l4", 2, owned=True, usd=1.0), pool("cloud/l4", 10, owned=False, usd=3.0)]
    # Service: never on spot. Ranked at listed prices the owned pool is cheaper anyway.
    found = replay(
        pools,
        [job([1.0, 3.0], service=True)],
        usages([1, 1, 1], [0, 0, 0], [HOUR] * 3),
        Settings(tick_s=60),
    )
    (cls,) = found.classes
    assert cls.by_tier_device_h["owned"] == pytest.approx(2.0)
    assert cls.by_tier_device_h["on_demand"] == pytest.approx(1.0)
    assert cls.usd == pytest.approx(3.0)  # one rented device-hour; the owned ones are sunk
    assert found.committed_usd == pytest.approx(2 * 1.0 * found.span_h)
    assert cls.waits_s == [0.0, 0.0, 0.0] and cls.met_slo == 3
    assert cls.kwh == pytest.approx(3 * 0.5) and cls.kgco2e == pytest.approx(3 * 0.5 * 0.2)


def test_a_full_pool_makes_usages_wait_until_a_device_is_freed() -> None:
    found = replay(
        [pool("dc/l4", 1, owned=True)],
        [job([1.0], service=True, wait_s=60)],
        usages([1, 1, 1], [0, 30, 90], [HOUR, HOUR, HOUR]),
        Settings(tick_s=60),
    )
    (cls,) = found.classes
    # The first starts at once; the second at its first tick after the first ends (3600 s),
    # the third an hour later. Arrivals at 30 s and 90 s are admitted at the ticks 60 and 120.
    assert sorted(cls.waits_s) == pytest.approx([0.0, 3600 - 30, 7200 - 90])
    assert cls.met_slo == 1
    assert found.span_h == pytest.approx(3.0)


def test_fractional_usages_are_packed_best_fit_and_fragmentation_is_counted() -> None:
    # Half-device usages share one device (best fit), so a whole-device usage still fits.
    halves = replay(
        [pool("dc/l4", 2, owned=True)],
        [job([1.0], service=True)],
        usages([0.5, 0.5, 1.0], [0, 0, 0], [HOUR] * 3),
        Settings(),
    )
    assert halves.classes[0].waits_s == [0.0, 0.0, 0.0]
    # Two 0.6 usages leave 0.4 on each device: 0.8 free in all, but no device has 0.8.
    split = replay(
        [pool("dc/l4", 2, owned=True)],
        [job([1.0], service=True)],
        usages([0.6, 0.6, 0.8], [0, 0, 0], [HOUR] * 3),
        Settings(),
    )
    (cls,) = split.classes
    assert cls.fragmentation_delayed == 1
    assert max(cls.waits_s) == pytest.approx(HOUR)


def test_spot_usages_are_preempted_and_resume_without_losing_work() -> None:
    found = replay(
        [pool("cloud/l4", 4, owned=False, usd=4.0)],
        [job([4.0])],  # a job: interruptible, so it runs on spot
        usages([1, 1], [0, 0], [2 * HOUR, 2 * HOUR]),
        Settings(tick_s=60, spot_preemptions_per_h=5.0, seed=1),
    )
    (cls,) = found.classes
    assert cls.preemptions > 0
    assert cls.device_h == pytest.approx(4.0)  # the work done is kept across preemptions
    assert cls.by_tier_device_h["spot"] == pytest.approx(4.0)
    assert cls.usd == pytest.approx(4.0 * 4.0 * 0.25)
    # Each preemption costs at most one tick of waiting before the usage starts again.
    assert found.span_h <= 2.0 + cls.preemptions * 60 / HOUR + 1e-9


def test_reserved_devices_are_paid_for_the_period_and_used_before_on_demand() -> None:
    found = replay(
        [pool("cloud/l4", 4, owned=False, usd=2.0, reserved=1)],
        [job([2.0], service=True)],
        usages([1, 1], [0, 0], [HOUR, HOUR]),
        Settings(),
    )
    (cls,) = found.classes
    assert cls.by_tier_device_h == {
        "owned": 0.0, "reserved": pytest.approx(1.0), "spot": 0.0, "on_demand": pytest.approx(1.0)
    }  # fmt: skip
    assert cls.usd == pytest.approx(2.0)
    assert found.committed_usd == pytest.approx(1 * 1.0 * found.span_h)


def test_usages_that_can_never_start_are_counted_not_lost() -> None:
    found = replay(
        [pool("dc/l4", 1, owned=True), pool("cloud/l4", 8, owned=False)],
        [job([1.0, math.inf], service=True)],  # may not use the cloud pool
        usages([1, 2], [0, 0], [HOUR, HOUR]),
        Settings(),
    )
    (cls,) = found.classes
    assert cls.usages == 2 and cls.never_started == 1 and len(cls.waits_s) == 1
    assert found.pools[1].device_h == 0.0


def test_segments_add_up_to_the_device_hours() -> None:
    found = replay(
        [pool("dc/l4", 1, owned=True), pool("cloud/l4", 8, owned=False)],
        [job([1.0, 2.0])],
        usages([1, 1, 2], [0, 600, 1200], [HOUR, HOUR, HOUR / 2]),
        Settings(spot_preemptions_per_h=2.0, seed=3),
    )
    where, devices, start, end = found.segments
    assert np.all(end >= start)
    assert float((devices * (end - start)).sum()) / HOUR == pytest.approx(
        sum(p.device_h for p in found.pools)
    )
    assert set(where.tolist()) <= {0, 1}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_skipping_idle_ticks_changes_nothing_against_the_exhaustive_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    pools = [
        pool("dc/l4", 6, owned=True, usd=1.0),
        pool("edge/l4", 3, owned=True, usd=1.5),
        pool("cloud/l4", 10, owned=False, usd=3.0, reserved=2),
    ]
    classes = [
        job([1.0, 1.5, 3.0], service=True),
        job([math.inf, 1.5, 3.0]),
        job([1.0, math.inf, math.inf]),
    ]
    cls = rng.integers(0, 3, n)
    devices = rng.choice([0.25, 0.5, 1.0, 2.0, 3.0], n)
    arrival = np.sort(rng.uniform(0, 48 * HOUR, n))
    duration = rng.exponential(3 * HOUR, n) + 30
    trace = (cls.astype(np.int64), devices, arrival, duration)
    fast = replay(pools, classes, trace, Settings(tick_s=120, spot_preemptions_per_h=0.2, seed=7))
    plain = replay(
        pools, classes, trace,
        Settings(tick_s=120, spot_preemptions_per_h=0.2, seed=7, exhaustive=True),
    )  # fmt: skip
    for a, b in zip(fast.classes, plain.classes, strict=True):
        assert a.waits_s == pytest.approx(b.waits_s)
        assert (a.met_slo, a.preemptions, a.never_started) == (
            b.met_slo, b.preemptions, b.never_started
        )  # fmt: skip
        assert a.usd == pytest.approx(b.usd) and a.kgco2e == pytest.approx(b.kgco2e)
    assert fast.span_h == pytest.approx(plain.span_h)
    assert fast.ticks < plain.ticks
    assert max(max(c.waits_s, default=0) for c in fast.classes) > 0  # the estate was busy


@pytest.mark.parametrize(("packing", "fourth_waits"), [("best", False), ("first", True)])
def test_several_devices_go_on_one_node_chosen_best_fit(packing: str, fourth_waits: bool) -> None:
    two_nodes = dataclasses.replace(pool("dc/g2", 8, owned=True), node_devices=4)
    # 2 on node 0 (2 left), 3 on node 1 (1 left); then 1 device: best fit takes node 1's last,
    # first fit node 0's; then 2 devices fit on node 0 only under best fit.
    found = replay(
        [two_nodes],
        [job([1.0], service=True)],
        usages([2, 3, 1, 2], [0, 60, 120, 180], [HOUR] * 4),
        Settings(packing=packing),  # type: ignore[arg-type]
    )
    (cls,) = found.classes
    assert (cls.waits_s[3] > 0) is fourth_waits
    assert cls.fragmentation_delayed == int(fourth_waits)  # 2 free devices, on two nodes
    nine = replay([two_nodes], [job([1.0], service=True)], usages([5], [0], [HOUR]), Settings())
    assert nine.classes[0].never_started == 1  # more than a node holds never starts
