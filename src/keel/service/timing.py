"""When as well as where: the estate's jobs scheduled over a horizon of hourly grid signals.

``keel plan --horizon 48h`` first places every workload as usual; then every job (training,
fine-tuning, batch inference) is scheduled over the horizon by :mod:`keel.placement.shifting`:

* **Pools.** Every option (site, pool) of the plan, with its devices less those the plan's
  services hold: services keep their placement and hold their devices in every hour.
* **Signals.** Each site's grid zone (``grid_zone``, or its catalog region's) is looked up in
  the grid data folder. A site without a zone, or whose zone has no series covering the
  horizon, keeps its annual figure, and the schedule says so (a *fallback*); missing hours
  are filled with the mean of the rest, also said. Every series used has a digest, recorded
  with the plan, so an auditor can re-check the decision against the same numbers.
* **Jobs.** A job may start no earlier than its window's ``earliest_start`` and must finish by
  its ``deadline``, both cut to the horizon; a job without a window runs now (it still gets
  the cheapest pool). A job whose window ends before the horizon starts, or begins after it
  ends, or that cannot run whole within it, is not scheduled in this plan, with the reason.
  Each replica is scheduled on its own, on the options the plan allows its workload (policy,
  residency, memory, accelerator).
* **Objective.** The plan's own, with carbon priced hour by hour instead of at the annual
  figure: ``compute + egress + latency terms`` (start-independent) plus the workload's price
  of carbon times its hourly emissions.

The result names each job's site, pool and start, and why it waits ("starts 02:00 at
fra-dc1/h100: 38% less carbon than starting at once, deadline 06:00"), with the run-now and
capacity-blind baselines on the same horizon.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from keel.energy.grid import Signal
from keel.energy.providers import Source
from keel.errors import GridError, UserError
from keel.estate.digest import canonical_json
from keel.placement.plan import Plan, period_totals
from keel.placement.problem import PRESETS
from keel.placement.shifting import (
    UNPLACED,
    Horizon,
    ShiftJob,
    ShiftPool,
    ShiftSchedule,
    capacity_blind,
    evaluate,
    lp_bound,
    queue,
    run_now,
    schedule,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from keel.estate import Estate
    from keel.estate.estate import ResolvedSite
    from keel.placement.problem import Problem
    from keel.placement.solver import Solution

MAX_HORIZON_H = 24 * 31
"""The longest horizon planned at once: a month of hours."""

NO_OPTION = "no site or pool may take it (see the plan's reasons)"

FIRST_YEAR, LAST_YEAR = 1990, 2200
"""The years a horizon may start in (grid data begins in the 2000s; far dates are typos)."""

MILP_S, SEARCH_S, BOUND_S = 8.0, 15.0, 5.0
"""What a plan over a horizon gives the scheduler: HiGHS's time for the largest jobs, the
search's whole budget (its improvement steps stop there), and HiGHS's time for the bound."""

USD_PER_G = 1e-6
"""A workload's price of carbon is per tonne; the scheduler counts grams."""


@dataclass(frozen=True, slots=True)
class HorizonRequest:
    """What to schedule over.

    Attributes:
        start: First hour (whole hours, UTC).
        hours: How many hours.
        signal: ``carbon_location`` or ``carbon_marginal``.
        source: Where the series come from: files, Electricity Maps or WattTime
            (:mod:`keel.energy.providers`); ``None``: every site keeps its annual figure, and
            says so.
        energy_price: Price the electricity of owned sites (on-premises, private cloud, edge)
            by the hour too, at their zone's day-ahead price (see :func:`site_signals`).
    """

    start: datetime
    hours: int
    signal: Signal = "carbon_location"
    source: Source | None = None
    energy_price: bool = False

    @staticmethod
    def of(
        hours: float,
        start: datetime | None,
        signal: str,
        source: Source | None,
        *,
        energy_price: bool = False,
    ) -> HorizonRequest:
        """A checked request; ``start`` defaults to the current hour.

        Raises:
            UserError: If the horizon is not a whole number of hours between 1 and
                :data:`MAX_HORIZON_H`, the start is not on an hour, has no UTC offset or lies
                outside :data:`FIRST_YEAR`-:data:`LAST_YEAR`, or the signal is not a carbon
                signal.
        """
        if not (math.isfinite(hours) and hours == int(hours) and 1 <= hours <= MAX_HORIZON_H):
            raise UserError(f"horizon: {hours} h; give whole hours from 1 to {MAX_HORIZON_H}")
        if signal not in ("carbon_location", "carbon_marginal"):
            raise UserError(
                f"signal '{signal}': time shifting schedules on carbon_location or carbon_marginal"
            )
        if start is None:
            start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        elif start.tzinfo is None:
            raise UserError(f"start {start.isoformat()}: give a UTC offset (2024-03-04T00:00Z)")
        elif start.minute or start.second or start.microsecond:
            raise UserError(f"start {start.isoformat()}: the horizon starts on a whole hour")
        elif not FIRST_YEAR <= start.year <= LAST_YEAR:
            raise UserError(
                f"start {start.isoformat()}: give a time between {FIRST_YEAR} and {LAST_YEAR}"
            )
        return HorizonRequest(
            start.astimezone(UTC), int(hours), cast("Signal", signal), source, energy_price
        )


@dataclass(frozen=True, slots=True)
class SiteSignal:
    """The hourly intensity a site was scheduled on.

    Attributes:
        site: The site.
        zone: Its grid zone, if it has one.
        source: The series file, or ``annual figure``.
        digest: SHA-256 of the values used (zone, signal, start, step and values).
        intensity_g_per_kwh: One value per hour of the horizon.
        annual_g_per_kwh: The site's annual figure.
        note: Why the site fell back to its annual figure (``source`` is then ``annual
            figure``), or what was filled; ``None`` if the series was used as it is.
        price_usd_per_mwh: With ``energy_price``: the zone's day-ahead price per hour, or
            ``None`` where the site's electricity is not priced by the hour (``price_note``
            says why).
        price_source: The price series' file.
        price_digest: SHA-256 of the prices used (zone, signal, start, step and values).
        price_note: Why the site's electricity is not priced by the hour, or what was filled.
    """

    site: str
    zone: str | None
    source: str
    digest: str
    intensity_g_per_kwh: list[float]
    annual_g_per_kwh: float
    note: str | None
    price_usd_per_mwh: list[float] | None = None
    price_source: str | None = None
    price_digest: str | None = None
    price_note: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form (intensities rounded to 0.1 g/kWh)."""
        return {
            "site": self.site,
            "zone": self.zone,
            "source": self.source,
            "digest": self.digest,
            "intensity_g_per_kwh": [round(v, 1) for v in self.intensity_g_per_kwh],
            "annual_g_per_kwh": self.annual_g_per_kwh,
            "note": self.note,
            "price_usd_per_mwh": None
            if self.price_usd_per_mwh is None
            else [round(v, 2) for v in self.price_usd_per_mwh],
            "price_source": self.price_source,
            "price_digest": self.price_digest,
            "price_note": self.price_note,
        }


def site_signals(estate: Estate, request: HorizonRequest) -> dict[str, SiteSignal]:
    """Every site's hourly intensity over the horizon, or its annual figure with the reason.

    A zone's series is read once however many sites share it. With ``energy_price``, an owned
    site (on-premises, private cloud, edge) also gets its zone's hourly day-ahead price: it
    pays the grid by the hour. A public cloud site does not (its provider's price does not
    follow the grid's), nor does a site whose zone has no price series (the note says so).

    Args:
        estate: The estate.
        request: The horizon.

    Returns:
        Signals by site name.
    """
    found: dict[tuple[str, Signal], tuple[list[float] | None, str, str | None]] = {}

    def series(zone: str, signal: Signal) -> tuple[list[float] | None, str, str | None]:
        if (zone, signal) not in found:
            found[zone, signal] = _zone_series(zone, signal, request)
        return found[zone, signal]

    signals = {}
    note: str | None
    for name, site in sorted(estate.sites.items()):
        annual = site.carbon_intensity_gco2e_per_kwh
        zone = site.grid_zone
        if zone is None:
            values, source, note = None, "annual figure", "the site names no grid_zone"
        else:
            values, source, note = series(zone, request.signal)
        hourly = [annual] * request.hours if values is None else values
        signal = request.signal if values is not None else "annual"
        digest = _digest(zone, signal, request, hourly)
        prices = _prices(site, request, series) if request.energy_price else (None,) * 4
        signals[name] = SiteSignal(name, zone, source, digest, hourly, annual, note, *prices)
    return signals


def _prices(
    site: ResolvedSite,
    request: HorizonRequest,
    series: Callable[[str, Signal], tuple[list[float] | None, str, str | None]],
) -> tuple[list[float] | None, str | None, str | None, str | None]:
    """A site's hourly prices, their file and digest, and a note: why none, or what was filled."""
    if site.kind == "public_cloud":
        return None, None, None, "a public cloud's price does not follow the grid's hour by hour"
    if site.grid_zone is None:
        return None, None, None, "the site names no grid_zone"
    prices, source, note = series(site.grid_zone, "price")
    if prices is None:
        return None, None, None, f"electricity not priced by the hour: {note}"
    return prices, source, _digest(site.grid_zone, "price", request, prices), note


def _digest(zone: str | None, signal: str, request: HorizonRequest, values: list[float]) -> str:
    """SHA-256 of the values a site was scheduled on, with what they are."""
    body = {
        "zone": zone,
        "signal": signal,
        "start": request.start.isoformat(),
        "step_s": 3600,
        "values": values,
    }
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _zone_series(
    zone: str, signal: Signal, request: HorizonRequest
) -> tuple[list[float] | None, str, str | None]:
    """A zone's hourly values over the horizon, their file, and a note on what was filled.

    Without a series covering the horizon: ``None``, ``annual figure`` and why.
    """
    if request.source is None:
        return None, "annual figure", "no grid data is set (grid_data or grid_source)"
    try:
        series = request.source.hourly(zone, signal, request.start, request.hours)
        values, note = series.filled()
    except GridError as exc:
        return None, "annual figure", exc.message
    return [float(v) for v in values], Path(series.source).name, note


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """One replica of a job in the schedule.

    Attributes:
        item: Its item in the placement problem.
        workload: The job.
        replica: Which replica.
        option: The option (site, pool) it runs at, or ``UNPLACED``.
        site: Its site (``None`` if not scheduled).
        pool: Its pool.
        start: When it starts.
        end: When it ends.
        earliest: The earliest start it was given (its window's, cut to the horizon).
        deadline: The latest end it was given.
        carbon_kgco2e: Its emissions on the hourly signal.
        at_once_kgco2e: What the same run would emit at the same pool started at ``earliest``.
        objective_usd: Its objective (start-independent terms plus carbon priced hourly).
        why: Why it starts when it does, or why it is not scheduled.
        chunks: An interruptible job's stretches (start, end), when it runs in more than one.
        electricity_usd: Its electricity at the site's hourly price (``energy_price``), or
            ``None`` where the site's electricity is not priced by the hour.
        at_once_electricity_usd: The same run's, started at ``earliest``.
        code: Why not, as a reason code: ``window`` (its window and the horizon do not hold
            it), ``capacity`` (others hold the room), ``None`` when scheduled or when no
            option may take it (the plan's reasons say why).
    """

    item: int
    workload: str
    replica: int
    option: int
    site: str | None
    pool: str | None
    start: datetime | None
    end: datetime | None
    earliest: datetime | None
    deadline: datetime | None
    carbon_kgco2e: float
    at_once_kgco2e: float
    objective_usd: float
    why: str
    code: str | None = None
    chunks: list[tuple[datetime, datetime]] = field(default_factory=list)
    electricity_usd: float | None = None
    at_once_electricity_usd: float | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form (times in ISO 8601, UTC)."""
        return {
            "workload": self.workload,
            "replica": self.replica,
            "site": self.site,
            "pool": self.pool,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "earliest": _iso(self.earliest),
            "deadline": _iso(self.deadline),
            "carbon_kgco2e": round(self.carbon_kgco2e, 4),
            "at_once_kgco2e": round(self.at_once_kgco2e, 4),
            "objective_usd": round(self.objective_usd, 4),
            "why": self.why,
            "chunks": [[_iso(a), _iso(b)] for a, b in self.chunks] or None,
            "electricity_usd": _rounded(self.electricity_usd),
            "at_once_electricity_usd": _rounded(self.at_once_electricity_usd),
        }


@dataclass(frozen=True, slots=True)
class Timing:
    """A schedule of the estate's jobs over a horizon, with its baselines.

    Attributes:
        request: The horizon.
        runs: Every job replica, scheduled or not.
        signals: The intensity each site was scheduled on.
        baselines: Run-now, capacity-blind advice and that advice queued: their carbon,
            late runs and overfilled pool-hours on the same horizon.
        bound_usd: The LP bound on the schedule's objective (``None`` if not solved in time).
    """

    request: HorizonRequest
    runs: list[ScheduledRun]
    signals: dict[str, SiteSignal]
    baselines: list[dict[str, Any]]
    bound_usd: float | None

    def to_json(self) -> dict[str, Any]:
        """The ``schedule`` section of a plan."""
        scheduled = [r for r in self.runs if r.start is not None]
        carbon = sum(r.carbon_kgco2e for r in scheduled)
        at_once = sum(r.at_once_kgco2e for r in scheduled)
        priced = [r.electricity_usd for r in scheduled if r.electricity_usd is not None]
        return {
            "start": self.request.start.isoformat().replace("+00:00", "Z"),
            "hours": self.request.hours,
            "signal": self.request.signal,
            "energy_price": self.request.energy_price,
            "electricity_usd": round(sum(priced), 4) if self.request.energy_price else None,
            "runs": [r.to_json() for r in self.runs],
            "signals": [s.to_json() for s in self.signals.values()],
            "carbon_kgco2e": round(carbon, 4),
            "at_once_kgco2e": round(at_once, 4),
            "objective_usd": round(sum(r.objective_usd for r in scheduled), 4),
            "bound_usd": None if self.bound_usd is None else round(self.bound_usd, 4),
            "baselines": self.baselines,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def _slot(when: datetime, start: datetime) -> float:
    return (when - start).total_seconds() / 3600.0


def _option_pools(problem: Problem, estate: Estate, solution: Solution) -> list[tuple[int, float]]:
    """Per option: devices the services leave free, and kW per busy device at the wall."""
    held = np.zeros(len(problem.capacity), dtype=np.int64)
    for item, option in enumerate(solution.assignment):
        w = int(problem.item_workload[item])
        if option != UNPLACED and problem.service[w]:
            held[int(option)] += int(problem.demand[w])
    pools = []
    for o in range(len(problem.capacity)):
        site = estate.sites[problem.sites[int(problem.option_site[o])]]
        pool = next(p for p in site.pools if p.name == problem.option_pool[o])
        free = max(int(problem.capacity[o]) - int(held[o]), 0)
        pools.append((free, pool.power_w * site.pue / 1000.0))
    return pools


def schedule_jobs(
    problem: Problem,
    solution: Solution,
    estate: Estate,
    request: HorizonRequest,
    *,
    objective: str,
    seed: int = 0,
) -> Timing:
    """Schedule every job of a solved placement problem over the horizon.

    Args:
        problem: The compiled problem.
        solution: Its spatial solution (the services' placements are kept).
        estate: The estate it was compiled from.
        request: The horizon.
        objective: The default objective preset (a workload's own wins).
        seed: Seed of the scheduler's restarts.

    Returns:
        The schedule.
    """
    signals = site_signals(estate, request)
    specs = estate.workloads()
    option_pools = _option_pools(problem, estate, solution)
    pools = []
    for o, (free, kw) in enumerate(option_pools):
        signal = signals[problem.sites[int(problem.option_site[o])]]
        prices = signal.price_usd_per_mwh
        pools.append(
            ShiftPool(
                name=f"{signal.site}/{problem.option_pool[o]}",
                capacity=np.full(request.hours, free, dtype=np.int64),
                kw_per_device=kw,
                intensity_g_per_kwh=np.array(signal.intensity_g_per_kwh),
                # The compute price already holds power at its average: the hour's price
                # counts by how far it lies from the horizon's mean.
                price_usd_per_mwh=None if prices is None else np.array(prices) - np.mean(prices),
            )
        )
    end = request.start + timedelta(hours=request.hours)
    jobs: list[ShiftJob] = []
    items: list[int] = []
    skipped: dict[int, tuple[str, str | None, datetime | None, datetime | None]] = {}
    for item in range(len(problem.item_workload)):
        w = int(problem.item_workload[item])
        if problem.service[w]:
            continue
        spec = specs[problem.workloads[w]]
        hours = float(spec.compute.hours or 0.0)  # every job has hours (measured ones too)
        window = spec.window
        earliest = max(window.earliest_start, request.start) if window else request.start
        deadline = min(window.deadline, end) if window else None
        options = np.flatnonzero(np.isfinite(problem.objective[w]))
        options, spread = _spread_options(problem, w, int(problem.item_replica[item]), options)
        release = math.ceil(_slot(earliest, request.start) - 1e-9)
        occupied = math.ceil(hours - 1e-9)
        last = (
            release + occupied
            if deadline is None
            else math.floor(_slot(deadline, request.start) + 1e-9)
        )
        if deadline is None:
            deadline = request.start + timedelta(hours=last)
        why = spread or _outside(spec.window, request, end, occupied, release, last, len(options))
        if why is not None:
            own = (window.earliest_start, window.deadline) if window else (earliest, deadline)
            code = None if why in (spread, NO_OPTION) else "window"
            skipped[item] = (why, code, *own)
            continue
        carbon_price = PRESETS[spec.objective or objective].carbon_usd_per_t
        static = problem.carbon_kgco2e[w, options] * 1000.0 * carbon_price * USD_PER_G
        jobs.append(
            ShiftJob(
                name=f"{problem.workloads[w]}#{int(problem.item_replica[item])}",
                devices=int(problem.demand[w]),
                hours=hours,
                release=release,
                deadline=last,
                pools=tuple(int(o) for o in options),
                utilisation=spec.compute.utilisation,
                weight=carbon_price,
                fixed=tuple(float(v) for v in problem.objective[w, options] - static),
                interruptible=window is not None and window.interruptible,
            )
        )
        items.append(item)
    windowed = {
        item for item in items if specs[problem.workloads[int(problem.item_workload[item])]].window
    }
    return _solve(problem, request, pools, jobs, items, windowed, skipped, signals, seed)


def _spread_options(
    problem: Problem, w: int, replica: int, options: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], str | None]:
    """The options one replica may be scheduled on, keeping its workload's ``min_sites``.

    Over a horizon each replica is scheduled on its own, so the rule that a job's first
    ``min_sites`` replicas run at as many sites is kept by giving the r-th of them the r-th
    cheapest site (by its cheapest option's objective on the annual figures): it chooses its
    pool and start there. Later replicas may go anywhere.

    Returns:
        The options, and why the replica cannot be scheduled (too few sites) or ``None``.
    """
    need = int(problem.min_sites[w])
    if need <= 1 or replica >= need:
        return options, None
    sites = problem.option_site[options]
    cheapest: dict[int, float] = {}
    for option, site in zip(options.tolist(), sites.tolist(), strict=True):
        cheapest[site] = min(cheapest.get(site, math.inf), float(problem.objective[w, option]))
    ranked = sorted(cheapest, key=lambda site: (cheapest[site], site))
    if len(ranked) < need:
        why = (
            f"its first {need} replicas must run at {need} different sites (min_sites), and"
            f" only {len(ranked)} may take it"
        )
        return options[:0], why
    return options[sites == ranked[replica]], None


def _outside(  # noqa: PLR0917 (the facts of one job, checked together)
    window: Any,
    request: HorizonRequest,
    end: datetime,
    occupied: int,
    release: int,
    last: int,
    options: int,
) -> str | None:
    """Why a job cannot be scheduled in this horizon, or ``None`` if it can."""
    if options == 0:
        return NO_OPTION
    if window is not None and window.deadline <= request.start:
        return f"its deadline {_iso(window.deadline)} is before the horizon starts"
    if window is not None and window.earliest_start >= end:
        return f"its window opens {_iso(window.earliest_start)}, after the horizon ends"
    if window is None and occupied > request.hours:
        return f"it runs {occupied} h, longer than the {request.hours} h horizon"
    if occupied > request.hours or last - release < occupied:
        return (
            f"it runs {occupied} h, which the horizon's part of its window"
            f" ({max(last - release, 0)} h) cannot hold: plan with a horizon covering its window"
        )
    return None


def _solve(  # noqa: PLR0917 (one schedule's parts)
    problem: Problem,
    request: HorizonRequest,
    pools: list[ShiftPool],
    jobs: list[ShiftJob],
    items: list[int],
    windowed: set[int],
    skipped: dict[int, tuple[str, str | None, datetime | None, datetime | None]],
    signals: dict[str, SiteSignal],
    seed: int,
) -> Timing:
    price_weight = 1.0 if request.energy_price else 0.0
    horizon = (
        Horizon(pools, jobs, carbon_weight=USD_PER_G, price_weight=price_weight) if jobs else None
    )
    found = (
        schedule(horizon, seed=seed, time_limit_s=MILP_S, budget_s=SEARCH_S)
        if horizon is not None
        else None
    )
    at = {item: index for index, item in enumerate(items)}
    runs = []
    for item in range(len(problem.item_workload)):
        w = int(problem.item_workload[item])
        if problem.service[w]:
            continue
        workload, replica = problem.workloads[w], int(problem.item_replica[item])
        if item in skipped:
            why, code, earliest, deadline = skipped[item]
            runs.append(ScheduledRun(item, workload, replica, UNPLACED, None, None, None, None,
                                     earliest, deadline, 0.0, 0.0, 0.0, why, code))  # fmt: skip
            continue
        assert horizon is not None
        assert found is not None
        runs.append(
            _run(problem, horizon, found, at[item], request, item, signals,
                 windowed=item in windowed)
        )  # fmt: skip
    bound = lp_bound(horizon, time_limit_s=BOUND_S) if horizon is not None else 0.0
    compared = _baselines(horizon) if horizon is not None else []
    return Timing(request, runs, signals, compared, bound)


def _hour(request: HorizonRequest, slot: float) -> datetime:
    return request.start + timedelta(hours=slot)


def _run(  # noqa: PLR0917 (one run's facts)
    problem: Problem,
    horizon: Horizon,
    found: ShiftSchedule,
    index: int,
    request: HorizonRequest,
    item: int,
    signals: dict[str, SiteSignal],
    *,
    windowed: bool,
) -> ScheduledRun:
    job = horizon.jobs[index]
    workload = problem.workloads[int(problem.item_workload[item])]
    replica = int(problem.item_replica[item])
    earliest, deadline = _hour(request, job.release), _hour(request, job.deadline)
    pool, start = int(found.pool[index]), int(found.start[index])
    if pool == UNPLACED:
        why = found.unplaced.get(index, "no room")
        code = "window" if job.deadline - job.release < horizon.occupied[index] else "capacity"
        return ScheduledRun(item, workload, replica, UNPLACED, None, None, None, None, earliest,
                            deadline, 0.0, 0.0, 0.0, why, code)  # fmt: skip
    slots = found.slots(horizon, index)
    carbon = horizon.run_carbon_g(index, pool, slots) / 1000.0
    at_once = horizon.run_carbon_g(index, pool, job.release) / 1000.0
    site = problem.sites[int(problem.option_site[pool])]
    prices = signals[site].price_usd_per_mwh
    electricity = at_once_electricity = None
    if prices is not None:  # the pool is priced at the deviation from the mean: add it back
        mean_usd = float(np.mean(prices)) * horizon.run_energy_kwh(index, pool) / 1000.0
        electricity = horizon.run_price_usd(index, pool, slots) + mean_usd
        at_once_electricity = horizon.run_price_usd(index, pool, job.release) + mean_usd
    begins = _hour(request, start)
    where = f"{site}/{problem.option_pool[pool]}"
    spans = _spans(request, horizon, index, slots)
    gains = _gains(carbon, at_once, electricity, at_once_electricity)
    if len(spans) > 1:
        listed = ", ".join(f"{a:%a %H:%M}-{b:%H:%M}" for a, b in spans)
        gained = f": {gains} than starting at once" if gains else ""
        why = (
            f"runs in {len(spans)} chunks at {where} ({listed}){gained}, deadline"
            f" {deadline:%a %H:%M}"
        )
    elif not windowed:
        why = f"starts {begins:%a %H:%M} at {where}: it has no window, so it runs now"
    elif start == job.release:
        why = f"starts {begins:%a %H:%M} at {where}, as soon as its window allows"
    elif gains:
        why = (
            f"starts {begins:%a %H:%M} at {where}: {gains} than starting at once, deadline"
            f" {deadline:%a %H:%M}"
        )
    else:
        why = f"starts {begins:%a %H:%M} at {where}: the pool is full until then"
    return ScheduledRun(
        item, workload, replica, pool, site, problem.option_pool[pool], begins, spans[-1][1],
        earliest, deadline, carbon, at_once, horizon.slots_cost(index, pool, slots), why,
        chunks=spans if len(spans) > 1 else [], electricity_usd=electricity,
        at_once_electricity_usd=at_once_electricity,
    )  # fmt: skip


def _gains(
    carbon: float, at_once: float, electricity: float | None, at_once_electricity: float | None
) -> str:
    """What waiting gains (``38% less carbon and 21% cheaper electricity``); ``""`` if none."""
    said = []
    if at_once > 0 and carbon < at_once:
        said.append(f"{1 - carbon / at_once:.0%} less carbon")
    if electricity is not None and at_once_electricity is not None:
        cheaper = at_once_electricity - electricity
        if at_once_electricity > 0 and cheaper > 0:
            said.append(f"{cheaper / at_once_electricity:.0%} cheaper electricity")
        elif cheaper > 0:  # prices below zero at once
            said.append(f"USD {cheaper:,.2f} less for electricity")
    return " and ".join(said)


def _spans(
    request: HorizonRequest, horizon: Horizon, index: int, slots: npt.NDArray[np.int64]
) -> list[tuple[datetime, datetime]]:
    """A run's slots as stretches of time (its last ends part-way through a slot if it may)."""
    spans: list[list[int]] = []
    for slot in (int(t) for t in slots):
        if spans and spans[-1][1] == slot:
            spans[-1][1] = slot + 1
        else:
            spans.append([slot, slot + 1])
    part = float(horizon.fraction[index])
    found = [(_hour(request, a), _hour(request, b)) for a, b in spans]
    if part:
        found[-1] = (found[-1][0], found[-1][1] - timedelta(hours=1 - part))
    return found


def _baselines(horizon: Horizon) -> list[dict[str, Any]]:
    """Run-now, capacity-blind advice and that advice queued, scored on the same horizon.

    Run-now starts each job at once, at the pool where it costs least with room (what a plan
    that ignores time does); the advice is each job's own best pool and start.
    """
    blind = capacity_blind(horizon)
    rows = []
    for name, plan in (
        ("run now", run_now(horizon)),
        ("capacity-blind advice", blind),
        ("capacity-blind advice, queued", queue(horizon, blind)),
    ):
        score = evaluate(horizon, plan)
        placed = [i for i in range(len(horizon.jobs)) if plan.pool[i] != UNPLACED]
        objective = sum(
            horizon.slots_cost(i, int(plan.pool[i]), plan.slots(horizon, i)) for i in placed
        )
        rows.append(
            {
                "name": name,
                "carbon_kgco2e": round(score.carbon_g / 1000.0, 4),
                "objective_usd": round(objective, 4),
                "ran": score.ran,
                "late": score.late,
                "overfilled_pool_hours": score.overfilled_slots,
            }
        )
    return rows


def services_only(problem: Problem) -> Problem:
    """The problem with every job's options closed, for placing the services first.

    The spatial solver treats all workloads as running at once; over a horizon the jobs take
    turns in time instead, so they must not crowd a service out of a pool.
    """
    closed = np.where(problem.service[:, None], problem.objective, np.inf)
    return replace(problem, objective=closed)


def timed_solution(problem: Problem, solution: Solution, timing: Timing) -> Solution:
    """The spatial solution with every job at the option the schedule gave it (or none).

    Its objective is the services' (as solved) plus the jobs' (carbon priced by the hour);
    the spatial bound does not bound it, so it has none (the schedule has its own).
    """
    assignment = solution.assignment.copy()
    for run in timing.runs:
        assignment[run.item] = run.option
    services = [
        float(problem.objective[int(problem.item_workload[item]), int(option)])
        for item, option in enumerate(assignment)
        if option != UNPLACED and problem.service[int(problem.item_workload[item])]
    ]
    total = sum(services) + sum(r.objective_usd for r in timing.runs if r.start is not None)
    return replace(
        solution,
        assignment=assignment,
        objective=total,
        penalised=total,
        bound=math.nan,
        gap=None,
        bound_method="none",
    )


def timed_plan(plan: Plan, timing: Timing) -> Plan:
    """A plan built from :func:`timed_solution`, with the jobs' figures from the schedule.

    Job placements get their carbon and objective on the hourly signal; a job the schedule
    could not take is unplaced with its reason (``window`` or ``capacity``) and, as its
    relaxation, what the schedule said; the totals are added again.
    """
    runs: dict[tuple[str, str | None, str | None], list[ScheduledRun]] = {}
    for run in timing.runs:
        runs.setdefault((run.workload, run.site, run.pool), []).append(run)
    placements = []
    for placed in plan.placements:
        found = runs.get((placed.workload, placed.site, placed.pool))
        if placed.period == "run" and found:
            placed = replace(  # noqa: PLW2901 (the placement, with the schedule's figures)
                placed,
                carbon_kgco2e=sum(r.carbon_kgco2e for r in found),
                objective_usd=sum(r.objective_usd for r in found),
                reasons=[*placed.reasons, *sorted({r.why for r in found})],
            )
        placements.append(placed)
    unplaced = []
    for missing in plan.unplaced:
        missed = [r for r in runs.get((missing.workload, None, None), []) if r.code is not None]
        if missed:
            missing = replace(  # noqa: PLW2901 (the schedule's reasons replace the plan's)
                missing,
                reasons=sorted({r.code for r in missed if r.code}),
                relaxations=sorted({r.why for r in missed}),
            )
        unplaced.append(missing)
    return replace(
        plan,
        placements=placements,
        unplaced=unplaced,
        totals=period_totals(placements),
        schedule=timing.to_json(),
    )
