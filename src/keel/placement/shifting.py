"""Time shifting: when, as well as where, deferrable jobs run, under every pool's capacity.

The horizon is cut into equal slots (an hour unless said otherwise). Every pool has a number of
free devices in each slot and a price per slot: its devices' power at the wall (power x PUE)
times the grid's carbon intensity in that slot, and, where weighted, its electricity price. A
job needs ``devices`` devices of one pool for ``hours``, started at a slot boundary no earlier
than its ``release`` and finished by its ``deadline``; it may use only the pools it lists
(residency, accelerator type). :func:`schedule` chooses the pool and start of every job at once,
so that jobs chasing the same clean hours do not overfill them.

How (a heuristic, with a bound to judge it by):

1. **Greedy.** Jobs in order of energy (largest first; ties: least slack first) take the pool
   and start that cost least among those with room in every slot they occupy.
2. **Re-insertion.** Each job in turn is taken out and put back where it now costs least, until
   a round improves nothing or ``rounds`` are done. No job ever leaves its window or overfills
   a slot, so every intermediate schedule is feasible.

The **bound** is the capacity-blind optimum: every job at its own cheapest pool and start as if
alone (what per-job tools such as the Carbon Aware SDK advise). No capacity-feasible schedule
costs less, so ``(run_now - keel) / (run_now - bound)`` is the share of the possible saving that
Keel reaches.

Baselines (same objective, same data): :func:`run_now` starts each job as soon as a pool has
room, preferring the pool with the lowest static (annual) intensity; :func:`capacity_blind`
gives each job its individually best pool and start, and :func:`queue` replays such advice
first-come first-served, as a real cluster would, pushing what does not fit to later slots.
:func:`evaluate` scores any schedule on any signal (plan on a forecast, evaluate on actuals).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from keel.placement.deadline import Deadline

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

UNPLACED = -1
"""The start and pool of a job that no pool can take within its window."""

_FULL_SLOT = 1e-9
"""A run length within this many slots of a whole number is that whole number."""


@dataclass(frozen=True, slots=True)
class ShiftPool:
    """A pool over the horizon.

    Attributes:
        name: How reports name it (``site/pool``).
        capacity: Free devices in each slot.
        kw_per_device: Power drawn per busy device at the wall (device power x PUE), in kW.
        intensity_g_per_kwh: Grid carbon intensity in each slot, gCO2e/kWh.
        price_usd_per_mwh: Electricity price in each slot, USD/MWh, if known.
    """

    name: str
    capacity: Ints
    kw_per_device: float
    intensity_g_per_kwh: Floats
    price_usd_per_mwh: Floats | None = None


@dataclass(frozen=True, slots=True)
class ShiftJob:
    """A deferrable job.

    Attributes:
        name: How reports name it.
        devices: Devices it holds while it runs (all in one pool).
        hours: How long it runs.
        release: First slot it may start in.
        deadline: Slot by whose start it must have finished (exclusive end).
        pools: Indices of the pools it may run in.
        utilisation: Share of the devices' power it draws.
        weight: Scales the slots' carbon for this job (a workload's own price of carbon);
            electricity is priced by the horizon's ``price_weight`` alone.
        fixed: The part of its objective that does not depend on the start, per pool in
            ``pools`` (compute price, egress); empty for none.
        interruptible: It checkpoints, so it may run in several chunks of whole slots (in
            one pool, within its window) instead of at one stretch.
    """

    name: str
    devices: int
    hours: float
    release: int
    deadline: int
    pools: tuple[int, ...]
    utilisation: float = 1.0
    weight: float = 1.0
    fixed: tuple[float, ...] = ()
    interruptible: bool = False


@dataclass(frozen=True, slots=True)
class ShiftSchedule:
    """Where and when each job runs.

    Attributes:
        pool: Pool index per job (:data:`UNPLACED` if none).
        start: Start slot per job (:data:`UNPLACED` if none).
        unplaced: Why, for each job without a place.
        chunks: The slots each interruptible job runs in, in time order (its ``start`` is
            the first); a job not listed runs at one stretch from its start.
    """

    pool: Ints
    start: Ints
    unplaced: dict[int, str]
    chunks: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def slots(self, horizon: Horizon, index: int) -> npt.NDArray[np.int64]:
        """The slots a placed job holds."""
        if index in self.chunks:
            return np.array(self.chunks[index], dtype=np.int64)
        start = int(self.start[index])
        return np.arange(start, start + int(horizon.occupied[index]), dtype=np.int64)


@dataclass(frozen=True, slots=True)
class Score:
    """A schedule scored on one signal.

    Attributes:
        carbon_g: Emissions of the jobs that ran, gCO2e.
        energy_kwh: Their energy at the wall, kWh.
        price_usd: Their electricity cost, USD (0 without prices).
        ran: Jobs that ran.
        late: Jobs that ran but finished after their deadline.
        overfilled_slots: (pool, slot) pairs where jobs hold more devices than the pool has.
        overfill_device_slots: Devices above capacity, summed over those pairs.
    """

    carbon_g: float
    energy_kwh: float
    price_usd: float
    ran: int
    late: int
    overfilled_slots: int
    overfill_device_slots: int


class Horizon:
    """The pools and jobs of one shifting problem, compiled for fast window sums.

    Args:
        pools: The pools; every array has the same number of slots.
        jobs: The jobs.
        step_h: Slot length in hours.
        carbon_weight: Objective weight per gram of CO2e.
        price_weight: Objective weight per USD of electricity.

    Raises:
        ValueError: If the pools' series differ in length or hold a value that is not finite
            (fill missing hours explicitly before planning), or a job is malformed.
    """

    def __init__(
        self,
        pools: Sequence[ShiftPool],
        jobs: Sequence[ShiftJob],
        *,
        step_h: float = 1.0,
        carbon_weight: float = 1.0,
        price_weight: float = 0.0,
    ) -> None:
        if not pools:
            raise ValueError("no pools")
        self.slots = len(pools[0].capacity)
        for pool in pools:
            arrays = [pool.capacity, pool.intensity_g_per_kwh]
            if pool.price_usd_per_mwh is not None:
                arrays.append(pool.price_usd_per_mwh)
            if any(len(a) != self.slots for a in arrays):
                raise ValueError(f"pool {pool.name}: every series needs {self.slots} slots")
            if not all(np.isfinite(a).all() for a in arrays):
                raise ValueError(f"pool {pool.name}: a series has a missing or infinite value")
        # Tuples: the run lengths and prices below are derived from them once.
        self.pools = tuple(pools)
        self.jobs = tuple(jobs)
        self.step_h = step_h
        self.carbon_weight, self.price_weight = carbon_weight, price_weight
        # Carbon (g) and price (USD) of one busy device for one slot, per pool and slot.
        kw = np.array([p.kw_per_device for p in pools])[:, None]
        kwh = kw * step_h
        self.carbon_per_device = kwh * np.array([p.intensity_g_per_kwh for p in pools])
        prices = np.array(
            [
                p.price_usd_per_mwh if p.price_usd_per_mwh is not None else np.zeros(self.slots)
                for p in pools
            ]
        )
        self.price_per_device = kwh * prices / 1000.0
        self.capacity = np.array([p.capacity for p in pools], dtype=np.int64)
        self.full = np.empty(len(jobs), dtype=np.int64)
        self.fraction = np.empty(len(jobs))
        for index, job in enumerate(jobs):
            self._check(job)
            whole = job.hours / step_h
            full = math.floor(whole + _FULL_SLOT)
            self.full[index] = full
            self.fraction[index] = max(0.0, whole - full)
        self.occupied = self.full + (self.fraction > 0)
        # One slot objective per distinct job weight (a weight prices carbon, not electricity):
        # ``weighted[kind[j], pool, slot]`` is what one busy device of job j costs there.
        weights = sorted({job.weight for job in jobs}) or [1.0]
        self.kind = np.array([weights.index(job.weight) for job in jobs], dtype=np.int64)
        carbon = carbon_weight * self.carbon_per_device
        price = price_weight * self.price_per_device
        self.weighted = np.stack([weight * carbon + price for weight in weights])
        self.prefix = np.zeros((len(weights), len(pools), self.slots + 1))
        np.cumsum(self.weighted, axis=2, out=self.prefix[:, :, 1:])
        self.scale = np.array([j.devices * j.utilisation for j in self.jobs])
        self.fixed = np.zeros((len(jobs), len(pools)))
        for index, job in enumerate(jobs):
            if job.fixed:
                self.fixed[index, list(job.pools)] = job.fixed

    def _check(self, job: ShiftJob) -> None:
        if job.devices < 1 or not job.hours > 0 or not 0 < job.utilisation <= 1:
            raise ValueError(f"job {job.name}: devices, hours and utilisation must be positive")
        if not 0 <= job.release < job.deadline <= self.slots:
            raise ValueError(
                f"job {job.name}: its window [{job.release}, {job.deadline}) must lie within"
                f" the {self.slots} slots of the horizon"
            )
        if not job.pools or any(not 0 <= p < len(self.pools) for p in job.pools):
            raise ValueError(f"job {job.name}: pools must name pools of the horizon")
        if job.fixed and len(job.fixed) != len(job.pools):
            raise ValueError(f"job {job.name}: fixed needs one figure per pool it lists")
        if not (math.isfinite(job.weight) and job.weight >= 0) or not all(
            math.isfinite(f) for f in job.fixed
        ):
            raise ValueError(f"job {job.name}: weight and fixed must be finite, weight >= 0")

    def costs(self, index: int, pools: Ints, starts: Ints) -> Floats:
        """The objective of job ``index`` for each pool (rows) and start (columns)."""
        full = int(self.full[index])
        rows = pools[:, None]
        prefix = self.prefix[self.kind[index]]
        cost = prefix[rows, starts + full] - prefix[rows, starts]
        fraction = float(self.fraction[index])
        if fraction:
            cost = cost + fraction * self.weighted[self.kind[index], rows, starts + full]
        total: Floats = cost * self.scale[index] + self.fixed[index, pools][:, None]
        return total

    def best(self, index: int, free: Ints | None) -> tuple[int, int, float]:
        """The cheapest pool and start of a job with room in every slot it holds.

        Args:
            index: The job.
            free: Free devices per pool and slot; ``None`` ignores capacity.

        Returns:
            Pool, start and objective; ``(UNPLACED, UNPLACED, inf)`` if none fits.
        """
        job = self.jobs[index]
        occupied = int(self.occupied[index])
        first, last = job.release, job.deadline - occupied
        if last < first:
            return UNPLACED, UNPLACED, math.inf
        pools = np.array(job.pools, dtype=np.int64)
        starts = np.arange(first, last + 1, dtype=np.int64)
        cost = self.costs(index, pools, starts)
        if free is not None:
            window = free[pools, first : last + occupied]
            room = sliding_window_view(window, occupied, axis=1).min(axis=2)
            cost = np.where(room >= job.devices, cost, np.inf)
        flat = int(np.argmin(cost))
        row, column = divmod(flat, len(starts))
        value = float(cost[row, column])
        if not math.isfinite(value):
            return UNPLACED, UNPLACED, math.inf
        return int(pools[row]), int(starts[column]), value

    def cost_of(self, index: int, pool: int, start: int) -> float:
        """The objective of one job at one pool and start."""
        return float(self.costs(index, np.array([pool]), np.array([start]))[0, 0])

    def run_weights(self, index: int) -> Floats:
        """The share of each slot a job's run uses (1 for whole slots; its last may be part)."""
        weights = np.ones(int(self.occupied[index]))
        if self.fraction[index]:
            weights[-1] = self.fraction[index]
        return weights

    def slots_cost(self, index: int, pool: int, slots: Ints) -> float:
        """The objective of a job run in the given slots of a pool (its last may be part)."""
        weights = self.run_weights(index)
        slot_costs = self.weighted[self.kind[index], pool, slots]
        return float(self.scale[index] * (weights @ slot_costs)) + float(self.fixed[index, pool])

    def best_chunks(self, index: int, free: Ints | None) -> tuple[int, Ints, float]:
        """The cheapest pool and slots of an interruptible job with room in each slot.

        In each allowed pool the job takes the cheapest slots of its window that have room
        (``free=None``: capacity ignored); the pool where they cost least wins.

        Returns:
            Pool, slots in time order and objective; ``(UNPLACED, [], inf)`` if none fits.
        """
        job = self.jobs[index]
        held = int(self.occupied[index])
        window = np.arange(job.release, job.deadline, dtype=np.int64)
        best: tuple[int, Ints, float] = (UNPLACED, np.empty(0, dtype=np.int64), math.inf)
        for pool in job.pools:
            open_ = window if free is None else window[free[pool, window] >= job.devices]
            if len(open_) < held:
                continue
            slot_costs = self.weighted[self.kind[index], pool, open_]
            chosen = np.sort(open_[np.argsort(slot_costs, kind="stable")[:held]])
            value = self.slots_cost(index, pool, chosen)
            if value < best[2]:
                best = (pool, chosen, value)
        return best

    def run_carbon_g(
        self, index: int, pool: int, slots: Ints | int, signals: Horizon | None = None
    ) -> float:
        """The emissions of one job run at one pool, in grams.

        ``slots``: the slots it holds, or its start (then it runs at one stretch);
        ``signals``: the horizon whose series to score on (this one's by default).
        """
        per_device = (signals or self).carbon_per_device
        return self._run_sum(index, pool, slots, per_device)

    def run_price_usd(
        self, index: int, pool: int, slots: Ints | int, signals: Horizon | None = None
    ) -> float:
        """The electricity of one job run at one pool at the pool's prices, in USD.

        Arguments as :meth:`run_carbon_g`; 0 where the pool has no prices.
        """
        return self._run_sum(index, pool, slots, (signals or self).price_per_device)

    def run_energy_kwh(self, index: int, pool: int) -> float:
        """The energy of one job run at one pool, at the wall (whenever it runs)."""
        job = self.jobs[index]
        kwh = self.pools[pool].kw_per_device * self.step_h
        return job.devices * job.utilisation * kwh * float(self.run_weights(index).sum())

    def _run_sum(self, index: int, pool: int, slots: Ints | int, per_device: Floats) -> float:
        """A per-device, per-slot figure summed over a run (its last slot may be part)."""
        job = self.jobs[index]
        if isinstance(slots, int):
            slots = np.arange(slots, slots + int(self.occupied[index]), dtype=np.int64)
        return (
            job.devices * job.utilisation * float(self.run_weights(index) @ per_device[pool, slots])
        )

    def take(self, free: Ints, index: int, pool: int, start: int, sign: int = -1) -> None:
        """Take (``sign=-1``) or give back (``+1``) a job's devices in the slots it holds."""
        free[pool, start : start + int(self.occupied[index])] += sign * self.jobs[index].devices


State = tuple[Ints, Ints, Ints, Floats]
"""Free devices per pool and slot, and each job's pool, start and objective."""


def schedule(
    horizon: Horizon,
    *,
    starts: int = 4,
    rounds: int = 4,
    passes: int = 2,
    seed: int = 0,
    large_share: float = 0.6,
    time_limit_s: float = 20.0,
    budget_s: float | None = None,
) -> ShiftSchedule:
    """Every job's pool and start: feasible by construction, as cheap as the search finds.

    A few large jobs usually hold most of the energy, and they pack into pools in whole
    devices; the many small ones fill the gaps. So:

    1. **Large jobs exactly.** The largest jobs, together ``large_share`` of the energy, get
       their pools and starts from a MILP (HiGHS, ``time_limit_s``) in the capacity left by
       the small jobs that have a single option. The rest follow greedily.
    2. **Greedy restarts.** Jobs, largest energy first, each take the cheapest pool and start
       with room in every slot they hold; then ``starts - 1`` more times with each job's
       energy scaled by random noise (log-normal, sigma 0.5, from ``seed``). The same input
       gives the same schedule, unless HiGHS stops at its time limit in step 1 (then its
       best answer so far depends on the machine's speed).
    3. Within each construction a job that finds no room has room made for it by moving
       others (:func:`_relocate`): feasibility comes before cost. Then **re-insertion**: each
       job in turn is taken out and put back where it now costs least, ``rounds`` at most.
    4. The construction that places the most jobs, then costs least, is kept, and improved by
       **ejection**: jobs furthest above their own best (capacity ignored) try their cheaper
       options, moving the jobs in the way; a move is kept only if the total falls.

    No step lets a job leave its window or a slot overfill, so every schedule built is
    feasible. :func:`lp_bound` says how far from optimal the result can be at most.

    Args:
        horizon: The compiled problem.
        starts: Greedy constructions (at least 1).
        rounds: Re-insertion rounds at most, each time.
        passes: Ejection passes at most.
        seed: Seed of the restarts' noise.
        large_share: Share of the energy decided by the MILP (0: none).
        time_limit_s: Time HiGHS may take for it.
        budget_s: Stop the ejection passes (step 4) once this many seconds have passed since
            the call (``None``: no limit). Every schedule found on the way is feasible, so
            stopping early costs quality, never feasibility.

    Returns:
        The schedule; a job no pool can take in its window is unplaced, with the reason.
    """
    deadline = Deadline.after(budget_s)
    if any(job.interruptible for job in horizon.jobs):
        return _with_chunks(
            horizon, starts, rounds, passes, seed, large_share, time_limit_s, budget_s
        )
    count = len(horizon.jobs)
    energy = np.array([j.devices * j.hours for j in horizon.jobs])
    rng = np.random.default_rng(seed)
    order = np.argsort(-energy, kind="stable")
    candidates = [(order, _construct(horizon, order, rounds))]
    if large_share > 0:
        fixed = _large_jobs(horizon, order, large_share, time_limit_s)
        if fixed is not None:
            candidates.append((order, _construct(horizon, order, rounds, fixed)))
    for _ in range(max(1, starts) - 1):
        tried = np.argsort(-energy * rng.lognormal(0.0, 0.5, count), kind="stable")
        candidates.append((tried, _construct(horizon, tried, rounds)))
    order, best = candidates[0]
    for tried, state in candidates[1:]:
        if _better(state, best):
            order, best = tried, state
    pool = best[1]
    alone = np.array([horizon.best(i, None)[2] for i in range(count)])
    for _ in range(passes):
        placed = pool >= 0
        gain = np.zeros(count)
        gain[placed] = best[3][placed] - alone[placed]
        moved = 0
        for index in np.argsort(-gain):
            if gain[index] <= 0 or deadline.passed():
                break
            moved += _relocate(horizon, best, int(index))
        _reinsert(horizon, best, order, rounds)
        if not moved:
            break
    unplaced = {int(i): _why_unplaced(horizon, int(i)) for i in np.flatnonzero(pool < 0)}
    return ShiftSchedule(pool, best[2], unplaced)


def _with_chunks(  # noqa: PLR0917 (schedule()'s own arguments, passed on)
    horizon: Horizon,
    starts: int,
    rounds: int,
    passes: int,
    seed: int,
    large_share: float,
    time_limit_s: float,
    budget_s: float | None,
) -> ShiftSchedule:
    """Schedule with interruptible jobs: first as if none were, then let them break up.

    1. Every job is scheduled at one stretch by :func:`schedule` (so no job is left out that
       the rigid schedule places).
    2. Each interruptible job, largest first, is taken out and put back in its cheapest slots
       with room (in chunks); its old stretch is one of the choices, so it never costs more.
    3. The jobs at one stretch are re-inserted into the room the chunks left, and an
       interruptible job the rigid schedule could not place tries again. Steps 2-3 repeat
       while they lower the total, ``rounds`` times at most.
    """
    rigid = Horizon(
        horizon.pools,
        [replace(job, interruptible=False) for job in horizon.jobs],
        step_h=horizon.step_h,
        carbon_weight=horizon.carbon_weight,
        price_weight=horizon.price_weight,
    )
    found = schedule(
        rigid, starts=starts, rounds=rounds, passes=passes, seed=seed,
        large_share=large_share, time_limit_s=time_limit_s, budget_s=budget_s,
    )  # fmt: skip
    count = len(horizon.jobs)
    free = horizon.capacity.copy()
    value = np.full(count, math.inf)
    for index in range(count):
        if found.pool[index] != UNPLACED:
            at_pool, at = int(found.pool[index]), int(found.start[index])
            horizon.take(free, index, at_pool, at)
            value[index] = horizon.cost_of(index, at_pool, at)
    state: State = (free, found.pool.copy(), found.start.copy(), value)
    pool, start = state[1], state[2]
    chunks: dict[int, tuple[int, ...]] = {}
    energy = np.array([job.devices * job.hours for job in horizon.jobs])
    order = np.argsort(-energy, kind="stable")
    chunked = [int(i) for i in order if horizon.jobs[int(i)].interruptible]
    whole = np.array([i for i in order if not horizon.jobs[int(i)].interruptible], dtype=np.int64)
    for _ in range(max(1, rounds)):
        before = float(value[pool >= 0].sum())
        for index in chunked:
            devices = horizon.jobs[index].devices
            if pool[index] != UNPLACED:
                free[int(pool[index]), _held_slots(horizon, index, start, chunks)] += devices
            at_pool, slots, cost = horizon.best_chunks(index, free)
            if at_pool == UNPLACED:  # only a job that had no place: nothing was given back
                continue
            pool[index], start[index], value[index] = at_pool, slots[0], cost
            chunks[index] = tuple(int(t) for t in slots)
            free[at_pool, slots] -= devices
        _reinsert(horizon, state, whole, 1)
        if float(value[pool >= 0].sum()) >= before - 1e-9 * abs(before):
            break
    unplaced = {int(i): _why_unplaced(horizon, int(i)) for i in np.flatnonzero(pool < 0)}
    return ShiftSchedule(pool, start, unplaced, chunks)


def _held_slots(
    horizon: Horizon, index: int, start: Ints, chunks: dict[int, tuple[int, ...]]
) -> Ints:
    """The slots a placed job holds in a schedule being built."""
    if index in chunks:
        return np.array(chunks[index], dtype=np.int64)
    return np.arange(int(start[index]), int(start[index]) + int(horizon.occupied[index]))


def _construct(
    horizon: Horizon, order: Ints, rounds: int, fixed: dict[int, tuple[int, int]] | None = None
) -> State:
    """One construction: ``fixed`` jobs where given, the others greedy in ``order``.

    Room is made for the jobs left out, then re-insertion rounds run.
    """
    count = len(horizon.jobs)
    state: State = (
        horizon.capacity.copy(),
        np.full(count, UNPLACED, dtype=np.int64),
        np.full(count, UNPLACED, dtype=np.int64),
        np.full(count, math.inf),
    )
    for index, (at_pool, at) in (fixed or {}).items():
        _put(horizon, state, index, (at_pool, at, horizon.cost_of(index, at_pool, at)))
    for index in (int(i) for i in order):
        if state[1][index] != UNPLACED:
            continue
        found = horizon.best(index, state[0])
        if found[0] != UNPLACED:
            _put(horizon, state, index, found)
    for left in np.flatnonzero(state[1] == UNPLACED):
        _relocate(horizon, state, int(left))
    _reinsert(horizon, state, order, rounds)
    return state


def _large_jobs(
    horizon: Horizon, order: Ints, share: float, time_limit_s: float
) -> dict[int, tuple[int, int]] | None:
    """Pool and start of the largest jobs (``share`` of the energy), from a MILP.

    The MILP has the room the small jobs with a single option leave. ``None`` if HiGHS finds
    nothing in time.
    """
    from scipy.optimize import Bounds, LinearConstraint, milp

    energy = np.array([horizon.jobs[i].devices * horizon.jobs[i].hours for i in order])
    if not energy.sum():
        return None
    cut = int(np.searchsorted(np.cumsum(energy) / energy.sum(), share)) + 1
    large = {int(i) for i in order[:cut]}
    room = horizon.capacity.astype(np.float64)
    for index, job in enumerate(horizon.jobs):
        held = int(horizon.occupied[index])
        if index not in large and len(job.pools) == 1 and job.deadline - job.release == held:
            room[job.pools[0], job.release : job.deadline] -= job.devices
    options = _options(horizon, sorted(large))
    if options is None:
        return None
    _rows, job_of, pool_of, start_of, cost, capacity, once = options
    solved = milp(
        cost,
        constraints=[
            LinearConstraint(capacity, -np.inf, np.maximum(room, 0).ravel()),
            LinearConstraint(once, 1, 1),
        ],
        bounds=Bounds(0, 1),
        integrality=np.ones(len(cost), dtype=np.int64),
        options={"time_limit": time_limit_s, "mip_rel_gap": 1e-3},
    )
    if solved.x is None:
        return None
    chosen = np.flatnonzero(solved.x > 0.5)
    return {int(job_of[k]): (int(pool_of[k]), int(start_of[k])) for k in chosen}


def _options(horizon: Horizon, jobs: Sequence[int]) -> tuple[Any, ...] | None:
    """The time-indexed formulation of some jobs.

    Per option (a job at a pool and start): its row, job, pool, start and cost; then the
    capacity matrix (pool-slots x options) and the matrix that places each job once (rows x
    options). ``None`` if no job has an option.
    """
    from scipy import sparse

    pools_count, slots = horizon.capacity.shape
    parts: list[tuple[Ints, Ints, Ints, Ints, Floats]] = []
    for index in jobs:
        job = horizon.jobs[index]
        last = job.deadline - int(horizon.occupied[index])
        if last < job.release:
            continue
        pools = np.array(job.pools, dtype=np.int64)
        starts = np.arange(job.release, last + 1, dtype=np.int64)
        grid_pools, grid_starts = np.meshgrid(pools, starts, indexing="ij")
        cost = horizon.costs(index, pools, starts).ravel()
        row = np.full(cost.size, len(parts))
        parts.append(
            (row, np.full(cost.size, index), grid_pools.ravel(), grid_starts.ravel(), cost)
        )
    if not parts:
        return None
    rows, job_of, pool_of, start_of, cost = (np.concatenate(c) for c in zip(*parts, strict=True))
    options = len(rows)
    held = horizon.occupied[job_of]
    devices = np.array([j.devices for j in horizon.jobs], dtype=np.float64)[job_of]
    entry = np.repeat(np.arange(options), held)
    offset = np.arange(held.sum()) - np.repeat(np.cumsum(held) - held, held)
    capacity = sparse.csr_matrix(
        (devices[entry], (pool_of[entry] * slots + start_of[entry] + offset, entry)),
        shape=(pools_count * slots, options),
    )
    once = sparse.csr_matrix((np.ones(options), (rows, np.arange(options))), (len(parts), options))
    return rows, job_of, pool_of, start_of, cost, capacity, once


def _better(state: State, than: State) -> bool:
    """More jobs placed, or as many for less."""
    placed, other = int((state[1] >= 0).sum()), int((than[1] >= 0).sum())
    if placed != other:
        return placed > other
    return float(state[3][state[1] >= 0].sum()) < float(than[3][than[1] >= 0].sum())


def _put(horizon: Horizon, state: State, index: int, found: tuple[int, int, float]) -> None:
    free, pool, start, value = state
    pool[index], start[index], value[index] = found
    horizon.take(free, index, found[0], found[1])


def _lift(horizon: Horizon, state: State, index: int) -> tuple[int, int, float]:
    free, pool, start, value = state
    was = int(pool[index]), int(start[index]), float(value[index])
    horizon.take(free, index, was[0], was[1], sign=1)
    pool[index] = start[index] = UNPLACED
    value[index] = math.inf
    return was


def _reinsert(horizon: Horizon, state: State, order: Ints, rounds: int) -> None:
    """Take each job out and put it back where it now costs least, ``rounds`` times at most."""
    _free, pool, _start, _value = state
    for _ in range(rounds):
        improved = False
        for index in (int(i) for i in order):
            if pool[index] == UNPLACED:
                continue
            was = _lift(horizon, state, index)
            found = horizon.best(index, state[0])
            if found[2] < was[2] - 1e-9 * abs(was[2]):
                _put(horizon, state, index, found)
                improved = True
            else:
                _put(horizon, state, index, was)
        if not improved:
            return


def _relocate(horizon: Horizon, state: State, index: int, tries: int = 16) -> bool:
    """Move a job to a cheaper pool and start by moving the jobs in its way (an ejection).

    The job's options cheaper than where it is (any option, if it has no place) are tried,
    cheapest first: the jobs in that pool whose runs overlap it are taken out, those with the
    most slack first, until it fits; each is then put back wherever it fits best. The first
    try that places them all and lowers the total is kept; otherwise nothing changes.

    Returns:
        Whether the job moved (or found a place).
    """
    free, pool, start, _ = state
    job = horizon.jobs[index]
    held = int(horizon.occupied[index])
    last = job.deadline - held
    if last < job.release:
        return False
    placed = pool[index] != UNPLACED
    was = _lift(horizon, state, index) if placed else None
    ceiling = was[2] if was is not None else math.inf
    pools = np.array(job.pools, dtype=np.int64)
    starts = np.arange(job.release, last + 1, dtype=np.int64)
    empty = sliding_window_view(horizon.capacity[pools, job.release : job.deadline], held, 1)
    cost = np.where(empty.min(axis=2) >= job.devices, horizon.costs(index, pools, starts), np.inf)
    for flat in np.argsort(cost, axis=None)[:tries]:
        row, column = divmod(int(flat), len(starts))
        option = float(cost[row, column])
        if not option < ceiling:
            break
        at_pool, at = int(pools[row]), int(starts[column])
        ends = start + horizon.occupied
        in_way = np.flatnonzero((pool == at_pool) & (start < at + held) & (ends > at))
        slack = np.array([horizon.jobs[i].deadline for i in in_way]) - ends[in_way]
        lifted: list[tuple[int, tuple[int, int, float]]] = []
        for other in (int(i) for i in in_way[np.argsort(-slack, kind="stable")]):
            if free[at_pool, at : at + held].min() >= job.devices:
                break
            lifted.append((other, _lift(horizon, state, other)))
        if free[at_pool, at : at + held].min() >= job.devices:
            _put(horizon, state, index, (at_pool, at, option))
            change = option - ceiling if was is not None else 0.0
            for other, before in lifted:
                found = horizon.best(other, free)
                if found[0] == UNPLACED:
                    change = math.inf
                    break
                _put(horizon, state, other, found)
                change += found[2] - before[2]
            if math.isfinite(change) and (was is None or change < -1e-9 * abs(ceiling)):
                return True
            for other, _before in lifted:
                if pool[other] != UNPLACED:
                    _lift(horizon, state, other)
            _lift(horizon, state, index)
        for other, before in lifted:
            _put(horizon, state, other, before)
    if was is not None:
        _put(horizon, state, index, was)
    return False


def lp_bound(horizon: Horizon, *, time_limit_s: float = 120.0) -> float | None:
    """The optimum of the time-indexed linear relaxation: no feasible schedule costs less.

    One variable per job, pool and start (between 0 and 1); each job placed once; the devices
    of every pool in every slot within capacity. Solved by HiGHS. Jobs whose window is shorter
    than their run are left out of it, as every schedule leaves them out. The bound is loose
    where large jobs pack poorly in whole devices (the relaxation may split them).

    Args:
        horizon: The compiled problem.
        time_limit_s: Time HiGHS may take.

    Returns:
        The bound, or ``None`` if HiGHS did not finish in time or the relaxation has no
        solution (then some job fits nowhere, even fractionally).
    """
    from scipy import sparse
    from scipy.optimize import linprog

    whole = [i for i, job in enumerate(horizon.jobs) if not job.interruptible]
    options = _options(horizon, whole)
    blocks = [options[4:7]] if options is not None else []
    rhs = [np.ones(options[6].shape[0])] if options is not None else []
    chunked = _chunk_options(horizon)
    if chunked is not None:
        blocks.append(chunked[:3])
        rhs.append(chunked[3])
    if not blocks:
        return 0.0
    cost = np.concatenate([b[0] for b in blocks])
    capacity = sparse.hstack([b[1] for b in blocks]).tocsr()
    once = sparse.block_diag([b[2] for b in blocks]).tocsr()
    solved = linprog(
        cost,
        A_ub=capacity,
        b_ub=horizon.capacity.ravel().astype(np.float64),
        A_eq=once,
        b_eq=np.concatenate(rhs),
        bounds=(0, 1),
        method="highs",
        options={"time_limit": time_limit_s},
    )
    return float(solved.fun) if solved.status == 0 and solved.fun is not None else None


def _chunk_options(horizon: Horizon) -> tuple[Floats, Any, Any, Floats] | None:
    """The relaxation of the interruptible jobs: a share of each slot of each allowed pool.

    Per job, its slot shares add up to its run length in slots; a slot's share costs its
    objective plus the pool's start-independent cost spread over the run. (Every chunked
    schedule is such a choice, so the bound stays a bound.) Cost, capacity matrix, the rows
    that add each job's shares, and their right-hand sides; ``None`` if there is no such job.
    """
    from scipy import sparse

    pools_count, slots = horizon.capacity.shape
    cost: list[Floats] = []
    pool_of: list[Ints] = []
    slot_of: list[Ints] = []
    rhs: list[float] = []
    devices: list[Floats] = []
    for index, job in enumerate(horizon.jobs):
        if not job.interruptible or job.deadline - job.release < int(horizon.occupied[index]):
            continue
        pools = np.array(job.pools, dtype=np.int64)
        window = np.arange(job.release, job.deadline, dtype=np.int64)
        grid_pools, grid_slots = np.meshgrid(pools, window, indexing="ij")
        run = job.hours / horizon.step_h
        spread = horizon.fixed[index, grid_pools] / run
        cost.append(
            (
                horizon.scale[index] * horizon.weighted[horizon.kind[index], grid_pools, grid_slots]
                + spread
            ).ravel()
        )
        pool_of.append(grid_pools.ravel())
        slot_of.append(grid_slots.ravel())
        devices.append(np.full(grid_pools.size, float(job.devices)))
        rhs.append(run)
    if not cost:
        return None
    sizes = [len(c) for c in cost]
    columns = np.arange(sum(sizes))
    rows = np.repeat(np.arange(len(sizes)), sizes)
    at = np.concatenate(pool_of) * slots + np.concatenate(slot_of)
    capacity = sparse.csr_matrix(
        (np.concatenate(devices), (at, columns)), shape=(pools_count * slots, len(columns))
    )
    once = sparse.csr_matrix((np.ones(len(columns)), (rows, columns)), (len(sizes), len(columns)))
    return np.concatenate(cost), capacity, once, np.array(rhs)


def _why_unplaced(horizon: Horizon, index: int) -> str:
    job = horizon.jobs[index]
    occupied = int(horizon.occupied[index])
    if job.deadline - job.release < occupied:
        return f"its window holds {job.deadline - job.release} slot(s) but it runs for {occupied}"
    fits = (
        horizon.best_chunks(index, horizon.capacity)[0]
        if job.interruptible
        else horizon.best(index, horizon.capacity)[0]
    )
    if fits == UNPLACED:
        return (
            f"no allowed pool has {job.devices} device(s) for {occupied} slot(s) in its"
            " window, even empty"
        )
    return (
        f"every allowed pool is full for {occupied} slot(s) in its window: other jobs hold"
        " the devices"
    )


def capacity_blind(horizon: Horizon) -> ShiftSchedule:
    """Each job at its own cheapest pool and start, as if it were alone (the bound's schedule).

    Args:
        horizon: The compiled problem.

    Returns:
        The schedule; it may overfill pools (see :func:`evaluate`).
    """
    count = len(horizon.jobs)
    pool = np.full(count, UNPLACED, dtype=np.int64)
    start = np.full(count, UNPLACED, dtype=np.int64)
    chunks: dict[int, tuple[int, ...]] = {}
    for index in range(count):
        if horizon.jobs[index].interruptible:
            at_pool, slots, _ = horizon.best_chunks(index, None)
            if at_pool != UNPLACED:
                pool[index], start[index] = at_pool, slots[0]
                chunks[index] = tuple(int(t) for t in slots)
        else:
            pool[index], start[index], _ = horizon.best(index, None)
    unplaced = {int(i): "its window is shorter than its run" for i in np.flatnonzero(pool < 0)}
    return ShiftSchedule(pool, start, unplaced, chunks)


def queue(horizon: Horizon, advice: ShiftSchedule) -> ShiftSchedule:
    """Replay advised starts first come, first served: a job that does not fit waits.

    Jobs are taken in order of advised start (then release). Each starts at its advised pool
    in the first slot at or after its advised start with room for its whole run, even past its
    deadline (then it is late); one that cannot start before the horizon ends does not run.

    Args:
        horizon: The compiled problem.
        advice: Advised pool and start per job.

    Returns:
        The schedule that the advice really produces.
    """
    count = len(horizon.jobs)
    free = horizon.capacity.copy()
    pool = np.full(count, UNPLACED, dtype=np.int64)
    start = np.full(count, UNPLACED, dtype=np.int64)
    releases = np.array([j.release for j in horizon.jobs])
    unplaced: dict[int, str] = {}
    chunks: dict[int, tuple[int, ...]] = {}
    for index in np.lexsort((releases, advice.start)):
        if advice.pool[index] == UNPLACED:
            unplaced[int(index)] = advice.unplaced.get(int(index), "no advice")
            continue
        advised = int(advice.pool[index]), int(advice.start[index])
        if int(index) in advice.chunks:
            slots = _chunks_fit(horizon, free, int(index), advised[0], advice.chunks[int(index)])
            if slots is None:
                unplaced[int(index)] = "still queued when the horizon ends"
                continue
            pool[index], start[index], chunks[int(index)] = advised[0], slots[0], slots
            free[advised[0], list(slots)] -= horizon.jobs[index].devices
            continue
        at = _first_fit(horizon, free, int(index), *advised)
        if at == UNPLACED:
            unplaced[int(index)] = "still queued when the horizon ends"
            continue
        pool[index], start[index] = advice.pool[index], at
        horizon.take(free, int(index), int(pool[index]), at)
    return ShiftSchedule(pool, start, unplaced, chunks)


def _chunks_fit(
    horizon: Horizon, free: Ints, index: int, pool: int, advised: tuple[int, ...]
) -> tuple[int, ...] | None:
    """Each advised slot of a chunked job, or the first later one with room (first come)."""
    devices, taken, after = horizon.jobs[index].devices, [], -1
    for slot in advised:
        at = max(slot, after + 1)
        while at < horizon.slots and free[pool, at] < devices:
            at += 1
        if at >= horizon.slots:
            return None
        taken.append(at)
        after = at
    return tuple(taken)


def _first_fit(horizon: Horizon, free: Ints, index: int, pool: int, earliest: int) -> int:
    occupied = int(horizon.occupied[index])
    window = free[pool, earliest:]
    if len(window) < occupied:
        return UNPLACED
    room = sliding_window_view(window, occupied).min(axis=1) >= horizon.jobs[index].devices
    found = np.flatnonzero(room)
    return earliest + int(found[0]) if len(found) else UNPLACED


def run_now(horizon: Horizon, static_intensity: Sequence[float] | None = None) -> ShiftSchedule:
    """Each job, in order of release, as soon as an allowed pool has room (no time shifting).

    Among the pools that can start it soonest, the job takes the one with the lowest static
    intensity (the annual figure Keel used before it read hourly signals), or, without those
    figures, the one where it costs least (its own objective, as a plan that ignores time
    would choose).

    Args:
        horizon: The compiled problem.
        static_intensity: One figure per pool, gCO2e/kWh; ``None``: rank by the job's cost.

    Returns:
        The schedule, late jobs included.
    """
    count = len(horizon.jobs)
    free = horizon.capacity.copy()
    pool = np.full(count, UNPLACED, dtype=np.int64)
    start = np.full(count, UNPLACED, dtype=np.int64)
    unplaced: dict[int, str] = {}
    releases = np.array([j.release for j in horizon.jobs])
    for index in np.argsort(releases, kind="stable"):
        job = horizon.jobs[int(index)]
        options = [
            (
                at,
                static_intensity[p]
                if static_intensity is not None
                else horizon.cost_of(int(index), p, at),
                p,
            )
            for p in job.pools
            if (at := _first_fit(horizon, free, int(index), p, job.release)) != UNPLACED
        ]
        if not options:
            unplaced[int(index)] = "still queued when the horizon ends"
            continue
        at, _, chosen = min(options)
        pool[index], start[index] = chosen, at
        horizon.take(free, int(index), chosen, at)
    return ShiftSchedule(pool, start, unplaced)


def evaluate(horizon: Horizon, plan: ShiftSchedule, actual: Horizon | None = None) -> Score:
    """Score a schedule, on the horizon's own signals or on another's (the actuals).

    Args:
        horizon: The problem the schedule was made for (jobs, run lengths, capacity).
        plan: The schedule.
        actual: The same pools and jobs with the signals that really happened.

    Returns:
        The score.
    """
    signals = actual or horizon
    used = np.zeros_like(horizon.capacity)
    carbon = energy = price = 0.0
    ran = late = 0
    for index, job in enumerate(horizon.jobs):
        pool = int(plan.pool[index])
        if pool == UNPLACED:
            continue
        ran += 1
        slots = plan.slots(horizon, index)
        late += int(slots[-1]) + 1 > job.deadline
        used[pool, slots] += job.devices
        carbon += horizon.run_carbon_g(index, pool, slots, signals)
        price += horizon.run_price_usd(index, pool, slots, signals)
        energy += horizon.run_energy_kwh(index, pool)
    over = np.maximum(used - horizon.capacity, 0)
    return Score(carbon, energy, price, ran, late, int((over > 0).sum()), int(over.sum()))
