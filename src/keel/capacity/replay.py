"""Replay: a discrete-event simulation (simpy) of a trace's usages arriving at an estate.

Every usage of the trace arrives at its start; at each decision **tick** the usages that have
arrived and wait are placed, first come first served, each on the option its class ranks best
among those with room. The ranks are Keel's own: the service layer compiles the placement
problem of the workload each class behaves as (policy, residency, classification, latency,
accelerator and memory rules; objective per device-hour), so only allowed pools are ever used.
A usage that finds no room waits for the next tick; its **wait** is the time from its arrival
to its start, and it meets its **SLO** when the wait is at most its class's target.

Pools are bought in three ways:

* **owned** (on-premises, private cloud, edge): the devices are paid for all the time, at the
  amortised price, whether used or not; using them costs nothing more;
* **reserved** (public cloud): a number of a pool's devices committed for the whole period, at
  the reserved price, paid whether used or not;
* **on demand** and **spot** (public cloud, up to the pool's quota): paid per device-hour
  used. Spot is for interruptible classes (jobs) only, cheaper, and **preempted** at a rate per
  hour: the usage goes back to the queue with the time it has left (it resumes from a
  checkpoint; the work done is kept).

The marginal price decides between them: free owned or reserved devices first (already paid),
then spot, then on demand, with the rest of the objective (carbon, latency) as Keel ranks it.

**Fractional devices.** Every device is tracked on its own: a usage of less than one device
(0.46 of a GPU, as in the 2023 trace's shared pods) goes to the device it fits best (the least
room left that is enough), and a usage of ``k`` devices needs ``k`` devices with nothing on
them. A usage that waits while one of its pools has enough room in total, only spread over
devices that each have too little, is delayed by **fragmentation**, and counted.

Energy is ``device-hours x utilisation x power x PUE``; carbon is energy times the site's grid
intensity. Idle owned devices draw no power in this model (a stated simplification).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import simpy

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

EPS = 1e-9
TIERS = ("owned", "reserved", "spot", "on_demand")


@dataclass(frozen=True, slots=True)
class Pool:
    """One pool of the estate with its prices per device-hour.

    Attributes:
        name: ``site/pool``.
        site: The site.
        accelerator: The accelerator.
        owned: Owned (paid all the time) rather than rented from a public cloud.
        devices: Owned devices, or a cloud pool's quota (reserved, on demand and spot).
        reserved: Devices of a cloud pool reserved for the whole period.
        usd_per_device_h: Amortised price (owned) or on-demand price (cloud).
        reserved_usd_per_device_h: Reserved price (cloud).
        spot_usd_per_device_h: Spot price (cloud).
        kwh_per_device_h: Energy of one device at full use for an hour, PUE included.
        kgco2e_per_kwh: The site's grid intensity.
        node_devices: Devices per node, when a usage of several devices must have them on one
            node (0: the pool is one block, any devices will do).
    """

    name: str
    site: str
    accelerator: str
    owned: bool
    devices: int
    reserved: int
    usd_per_device_h: float
    reserved_usd_per_device_h: float
    spot_usd_per_device_h: float
    kwh_per_device_h: float
    kgco2e_per_kwh: float
    node_devices: int = 0

    @property
    def committed_usd_per_h(self) -> float:
        """What the pool costs per hour whether used or not: owned devices, or reserved ones."""
        if self.owned:
            return self.devices * self.usd_per_device_h
        return self.reserved * self.reserved_usd_per_device_h


@dataclass(frozen=True, slots=True)
class ClassModel:
    """How one class of the trace is placed.

    Attributes:
        name: The class.
        rank_usd_per_device_h: Keel's objective per device-hour on every pool at its listed
            price (``inf`` where the class may not run).
        service: A service (its SLO is a short wait) rather than a job.
        interruptible: May run on spot.
        utilisation: Share of a device's power it draws.
        wait_target_s: The longest wait that meets the SLO.
    """

    name: str
    rank_usd_per_device_h: Floats
    service: bool
    interruptible: bool
    utilisation: float
    wait_target_s: float


@dataclass(frozen=True, slots=True)
class Settings:
    """How the replay runs.

    Attributes:
        tick_s: Seconds between placement decisions.
        spot_preemptions_per_h: Rate at which a spot usage is preempted.
        seed: Seed of the preemption draws.
        exhaustive: Tick every ``tick_s`` while usages wait and try every one of them at
            every tick: the plain loop, kept as the benchmark's baseline and the tests'
            reference (the outcome is the same, only slower).
        packing: ``best``: a fractional usage goes to the device with the least room that is
            enough, a usage of ``k`` devices to the node with the fewest empty devices that
            are enough; ``first``: the first that fits (the fragmentation baseline).
    """

    tick_s: float = 60.0
    spot_preemptions_per_h: float = 0.01
    seed: int = 0
    exhaustive: bool = False
    packing: Literal["best", "first"] = "best"


@dataclass
class ClassResult:
    """What the replay measured for one class."""

    name: str
    usages: int = 0
    waits_s: list[float] = field(default_factory=list)
    met_slo: int = 0
    device_h: float = 0.0
    usd: float = 0.0
    kwh: float = 0.0
    kgco2e: float = 0.0
    preemptions: int = 0
    fragmentation_delayed: int = 0
    never_started: int = 0
    by_tier_device_h: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIERS, 0.0))


@dataclass
class PoolResult:
    """What the replay measured for one pool."""

    name: str
    device_h: float = 0.0
    by_tier_device_h: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIERS, 0.0))
    usage_usd: float = 0.0
    kwh: float = 0.0
    kgco2e: float = 0.0
    peak_devices: float = 0.0


@dataclass
class Result:
    """The replay's outcome.

    Attributes:
        span_h: Hours from the first arrival to the last end.
        events: Simulation events processed (arrivals, starts, ends, preemptions).
        ticks: Placement decisions taken.
        classes: Per class.
        pools: Per pool.
        committed_usd: Owned and reserved devices over the span (paid whether used or not).
        segments: Every stretch a usage ran: pool, devices, start (s), end (s).
    """

    span_h: float
    events: int
    ticks: int
    classes: list[ClassResult]
    pools: list[PoolResult]
    committed_usd: float
    segments: tuple[npt.NDArray[np.int64], Floats, Floats, Floats]


class _Fleet:
    """The devices of every pool, and what is free on each (1.0 is a whole free device)."""

    def __init__(self, pools: list[Pool], packing: str = "best") -> None:
        self.pools = pools
        self.best = packing == "best"
        self.free = [np.ones(p.devices) for p in pools]
        self.total_free = np.array([float(p.devices) for p in pools])
        self.reserved_used = np.zeros(len(pools))
        self.owned = np.array([p.owned for p in pools], dtype=bool)
        self.reserved = np.array([float(p.reserved) for p in pools])
        listed = np.array([p.usd_per_device_h for p in pools])
        self.listed = listed
        self.spot = np.array([p.spot_usd_per_device_h for p in pools])

    def marginal(self, model: ClassModel, devices: float) -> Floats:
        """Objective per device-hour of one more usage on every pool, at its marginal price."""
        paid = self.owned | (self.reserved - self.reserved_used >= devices - EPS)
        rented = self.spot if model.interruptible else self.listed
        price = np.where(paid, 0.0, rented)
        cost: Floats = model.rank_usd_per_device_h - self.listed + price
        return cost

    def take(self, p: int, devices: float) -> list[tuple[int, float]] | None:
        """Take ``devices`` on pool ``p``, or ``None`` if they do not fit on its devices."""
        free = self.free[p]
        if devices < 1.0 - EPS:
            fits = np.flatnonzero(free >= devices - EPS)
            if not len(fits):
                return None
            g = int(fits[np.argmin(free[fits])] if self.best else fits[0])
            free[g] -= devices
            self.total_free[p] -= devices
            return [(g, devices)]
        whole = math.ceil(devices - EPS)
        size = self.pools[p].node_devices
        empty = free >= 1.0 - EPS
        if size:  # all on one node
            if whole > size:
                return None
            per_node = empty[: len(free) // size * size].reshape(-1, size).sum(axis=1)
            nodes = np.flatnonzero(per_node >= whole)
            if not len(nodes):
                return None
            node = int(nodes[np.argmin(per_node[nodes])] if self.best else nodes[0])
            chosen = node * size + np.flatnonzero(empty[node * size : (node + 1) * size])[:whole]
        else:
            candidates = np.flatnonzero(empty)
            if len(candidates) < whole:
                return None
            chosen = candidates[:whole]
        free[chosen] = 0.0
        self.total_free[p] -= whole
        return [(int(g), 1.0) for g in chosen]

    def give_back(self, p: int, held: list[tuple[int, float]]) -> None:
        for g, share in held:
            self.free[p][g] += share
            self.total_free[p] += share


@dataclass
class _Usage:
    index: int
    cls: int
    devices: float
    arrival_s: float
    left_s: float
    waited_s: float = 0.0
    started: bool = False
    fragmented: bool = False


class _Replay:
    """One run of the simulation."""

    def __init__(
        self,
        pools: list[Pool],
        classes: list[ClassModel],
        settings: Settings,
        tick: Callable[[int], None] | None,
    ) -> None:
        self.env = simpy.Environment()
        self.fleet = _Fleet(pools, settings.packing)
        self.pools = pools
        self.models = classes
        self.settings = settings
        self.report_tick = tick
        self.rng = np.random.default_rng(settings.seed)
        self.queue: dict[tuple[int, float], deque[_Usage]] = {}
        self.classes = [ClassResult(c.name) for c in classes]
        self.pool_results = [PoolResult(p.name) for p in pools]
        self.in_use = np.zeros(len(pools))
        self.events = 0
        self.ticks = 0
        self.segments: list[tuple[int, float, float, float]] = []
        self.changed = True
        self.woken = self.env.event()
        self.freed: set[int] = set()
        self.fresh: set[tuple[int, float]] = set()
        self.allowed = [
            {int(p) for p in np.flatnonzero(np.isfinite(c.rank_usd_per_device_h))} for c in classes
        ]
        groups: dict[frozenset[int], int] = {}
        self.group = [groups.setdefault(frozenset(a), len(groups)) for a in self.allowed]

    def running(self) -> bool:
        return bool((self.in_use > EPS).any())

    def place(self) -> None:
        """Place the waiting usages, first come first served within one class and size.

        A usage that cannot start does not hold back usages of other classes or sizes. A
        class and size that could not start at the last tick is tried again only if one of
        its pools has had devices freed since, or new usages of it arrived.
        """
        self.ticks += 1
        freed, self.freed = self.freed, set()
        fresh, self.fresh = self.fresh, set()
        smallest_refused: dict[int, float] = {}  # per set of pools: devices that did not fit
        exhaustive = self.settings.exhaustive
        for key in sorted(self.queue, key=lambda k: self.queue[k][0].arrival_s):
            cls, devices = key
            group = self.group[cls]
            if not exhaustive and key not in fresh and not self.allowed[cls] & freed:
                continue
            if not exhaustive and devices >= smallest_refused.get(group, math.inf):
                continue  # a usage as small on the same pools did not fit
            waiting = self.queue[key]
            while waiting and self.start(waiting[0]):
                waiting.popleft()
            if waiting:
                smallest_refused[group] = devices
            else:
                del self.queue[key]
        self.changed = False

    def wait(self, usage: _Usage, *, first: bool = False) -> None:
        key = (usage.cls, usage.devices)
        waiting = self.queue.setdefault(key, deque())
        self.fresh.add(key)
        if first:
            waiting.appendleft(usage)
        else:
            waiting.append(usage)

    def start(self, usage: _Usage) -> bool:
        model = self.models[usage.cls]
        cost = self.fleet.marginal(model, usage.devices)
        room = self.fleet.total_free >= usage.devices - EPS
        candidates = np.flatnonzero(room & np.isfinite(cost))
        for p in candidates[np.argsort(cost[candidates], kind="stable")]:
            held = self.fleet.take(int(p), usage.devices)
            if held is not None:
                self.run(usage, int(p), held)
                return True
        usage.fragmented |= len(candidates) > 0  # room in total, on no single device set
        return False

    def tier(self, p: int, devices: float, model: ClassModel) -> str:
        pool, fleet = self.pools[p], self.fleet
        if pool.owned:
            return "owned"
        if fleet.reserved[p] - fleet.reserved_used[p] >= devices - EPS:
            fleet.reserved_used[p] += devices
            return "reserved"
        return "spot" if model.interruptible else "on_demand"

    def run(self, usage: _Usage, p: int, held: list[tuple[int, float]]) -> None:
        now = self.env.now
        model = self.models[usage.cls]
        tier = self.tier(p, usage.devices, model)
        if not usage.started:
            usage.started = True
            usage.waited_s = now - usage.arrival_s
        duration = usage.left_s
        if tier == "spot" and self.settings.spot_preemptions_per_h > 0:
            until = self.rng.exponential(3600.0 / self.settings.spot_preemptions_per_h)
            duration = min(duration, until)
        self.in_use[p] += usage.devices
        found = self.pool_results[p]
        found.peak_devices = max(found.peak_devices, float(self.in_use[p]))
        end = self.env.timeout(duration)
        end.callbacks.append(lambda _e: self.end(usage, p, held, tier, duration))
        self.events += 1

    def end(
        self, usage: _Usage, p: int, held: list[tuple[int, float]], tier: str, ran_s: float
    ) -> None:
        self.events += 1
        self.fleet.give_back(p, held)
        self.freed.add(p)
        if tier == "reserved":
            self.fleet.reserved_used[p] -= usage.devices
        self.in_use[p] -= usage.devices
        self.account(usage, p, tier, ran_s)
        usage.left_s -= ran_s
        self.changed = True
        if not self.woken.triggered:
            self.woken.succeed()
        if usage.left_s > EPS:  # preempted: back to the queue with the time it has left
            self.classes[usage.cls].preemptions += 1
            self.wait(usage, first=True)

    def account(self, usage: _Usage, p: int, tier: str, ran_s: float) -> None:
        self.segments.append((p, usage.devices, float(self.env.now) - ran_s, float(self.env.now)))
        pool, model = self.pools[p], self.models[usage.cls]
        device_h = usage.devices * ran_s / 3600.0
        price = {"spot": pool.spot_usd_per_device_h, "on_demand": pool.usd_per_device_h}
        usd = device_h * price.get(tier, 0.0)
        kwh = device_h * model.utilisation * pool.kwh_per_device_h
        kg = kwh * pool.kgco2e_per_kwh
        for found in (self.classes[usage.cls], self.pool_results[p]):
            found.device_h += device_h
            found.by_tier_device_h[tier] += device_h
            found.kwh += kwh
            found.kgco2e += kg
        self.classes[usage.cls].usd += usd
        self.pool_results[p].usage_usd += usd

    def arrivals(self, usages: list[_Usage]) -> simpy.events.ProcessGenerator:
        """Tick by tick: admit the arrivals, then place what waits.

        Ticks where nothing arrived and nothing ended are skipped: the loop sleeps until the
        next arrival or the next end, then wakes at the tick that follows it.
        """
        step = self.settings.tick_s
        k = 0
        while k < len(usages) or self.queue or self.running():
            now = self.env.now
            while k < len(usages) and usages[k].arrival_s <= now + EPS:
                self.wait(usages[k])
                self.events += 1
                k += 1
                self.changed = True
            if self.queue and (self.changed or self.settings.exhaustive):
                self.place()
                if self.report_tick is not None:
                    self.report_tick(k)
            if self.queue and k == len(usages) and not self.running():
                return  # nothing runs and nothing arrives: what waits can never start
            if self.settings.exhaustive and self.queue:
                yield self.env.timeout((math.floor(now / step + EPS) + 1) * step - now)
                continue
            self.woken = self.env.event()
            # An end may free room for what waits, or preempt a usage back into the queue.
            wakers: list[simpy.Event] = [self.woken] if self.queue or self.running() else []
            if k < len(usages):
                wakers.append(self.env.timeout(max(usages[k].arrival_s - now, 0.0)))
            yield self.env.any_of(wakers)
            next_tick = math.ceil((self.env.now - EPS) / step) * step
            if next_tick > self.env.now:
                yield self.env.timeout(next_tick - self.env.now)


def replay(
    pools: list[Pool],
    classes: list[ClassModel],
    usages: tuple[npt.NDArray[np.int64], Floats, Floats, Floats],
    settings: Settings,
    *,
    tick: Callable[[int], None] | None = None,
) -> Result:
    """Replay usages against pools.

    Args:
        pools: The pools.
        classes: The classes, each with its ranks over ``pools``.
        usages: Class index, devices, arrival (s) and duration (s) per usage, sorted by
            arrival. Every usage must fit on one of its class's pools when it is empty (the
            caller leaves out, and counts, those that never could).
        settings: Tick and spot preemption.
        tick: Called after every placement decision with the number of usages admitted.

    Returns:
        What happened, per class and pool.
    """
    cls, devices, arrival, duration = usages
    sim = _Replay(pools, classes, settings, tick)
    queue = [
        _Usage(i, int(c), float(d), float(a), float(s))
        for i, (c, d, a, s) in enumerate(zip(cls, devices, arrival, duration, strict=True))
    ]
    first = float(arrival.min()) if len(arrival) else 0.0
    if first > 0:
        sim.env.run(until=first)
    sim.env.process(sim.arrivals(queue))
    sim.env.run()
    for usage in queue:
        found = sim.classes[usage.cls]
        found.usages += 1
        if not usage.started:
            found.never_started += 1
            continue
        found.waits_s.append(usage.waited_s)
        found.met_slo += usage.waited_s <= sim.models[usage.cls].wait_target_s + EPS
        found.fragmentation_delayed += usage.fragmented
    span_h = max(float(sim.env.now) - first, 0.0) / 3600.0
    committed = sum(p.committed_usd_per_h for p in pools) * span_h
    columns = list(zip(*sim.segments, strict=True)) or [(), (), (), ()]
    segments = (
        np.array(columns[0], dtype=np.int64),
        np.array(columns[1], dtype=np.float64),
        np.array(columns[2], dtype=np.float64),
        np.array(columns[3], dtype=np.float64),
    )
    return Result(span_h, sim.events, sim.ticks, sim.classes, sim.pool_results, committed, segments)
