"""Benchmark: carbon-aware time shifting under capacity, on real grid data and a real job trace.

Grid: hourly carbon intensity of 2024 (Electricity Maps, direct, location-based) for six zones,
one site each: DE-LU, GB, US-CAL-CISO, US-TEX-ERCO, SG and IN-WE (IN-WE is estimated by the
source throughout). PUE per site from operators' published figures (``energy/pue``).
Jobs: GPU pods of the Alibaba GPU trace 2023 (``openb_pod_list_default.csv``: GPU count x
``gpu_milli``, run length from creation to deletion, arrival order and burstiness from
creation times, squeezed into the week). 5,000 consecutive pods from an offset set by the
seed. Each job may wait ``slack`` hours (0, 4, 12 or 24, one quarter each); 40% may run at any
site, the rest only in their own region (Europe: DE-LU, GB; Americas: US-CAL-CISO,
US-TEX-ERCO; Asia: SG, IN-WE). Every pool has a fixed number of devices (milli-GPUs of 700 W
each), sized so that the week's demand fills ``--load`` of them on average.

Policies, all scored on the same actual intensities (``--forecast`` is not used here):

* ``run-now``: each job as soon as an allowed pool has room, the pool with the lowest annual
  mean intensity among those that start soonest (what Keel did before hourly signals);
* ``blind advice``: each job at its own best site and hour, capacity ignored (what the Carbon
  Aware SDK returns per job); its overfilled pool-hours are counted;
* ``blind queued``: that advice replayed first come, first served: what does not fit waits;
* ``keel``: :func:`keel.placement.shifting.schedule`, all jobs at once, under capacity;
* ``bound``: the advice's own cost, a lower bound for every capacity-feasible schedule.

Savings are against run-now; ``share`` is a policy's saving as a share of the bound's.

Usage::

    python bench/shifting.py [--weeks 2024-03-04,2024-07-01] [--jobs 5000] [--seed 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from keel.energy import grid
from keel.placement import shifting
from keel.placement.shifting import Horizon, ShiftJob, ShiftPool

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ZONES = {
    "DE-LU": ("Europe", 1.19),  # Azure Poland (nearest published Azure figure in Europe)
    "GB": ("Europe", 1.18),  # Azure Ireland
    "US-CAL-CISO": ("Americas", 1.09),  # Google Henderson, Nevada
    "US-TEX-ERCO": ("Americas", 1.28),  # Azure Texas
    "SG": ("Asia", 1.13),  # Google Singapore
    "IN-WE": ("Asia", 1.58),  # Uptime Institute survey average 2023 (no operator figure)
}
WEEK_H = 168
TAIL_H = 72
SPILL_H = 168
"""Hours after the last deadline in which queued baselines may still run (late)."""
DEVICE_KW = 0.7 / 1000  # one milli-GPU of a 700 W device
SLACKS_H = (0, 4, 12, 24)


def load_jobs(count: int, seed: int, regions: list[str]) -> list[tuple[int, float, int, int, str]]:
    """(devices in milli-GPUs, hours, release hour, slack hours, region or 'any') per job."""
    path = DATA / "traces" / "alibaba-gpu-v2023" / "openb_pod_list_default.csv"
    with path.open() as handle:
        rows = [
            r
            for r in csv.DictReader(handle)
            if int(r["num_gpu"]) > 0 and int(r["deletion_time"]) > int(r["creation_time"])
        ]
    rows.sort(key=lambda r: int(r["creation_time"]))
    rng = np.random.default_rng(seed)
    offset = int(rng.integers(0, max(1, len(rows) - count)))
    chosen = rows[offset : offset + count]
    first, last = int(chosen[0]["creation_time"]), int(chosen[-1]["creation_time"])
    jobs = []
    for row in chosen:
        created = int(row["creation_time"])
        release = min(WEEK_H - 1, math.floor((created - first) / max(1, last - first) * WEEK_H))
        hours = min(48.0, (int(row["deletion_time"]) - created) / 3600)
        devices = int(row["num_gpu"]) * int(row["gpu_milli"])
        slack = SLACKS_H[int(rng.integers(0, len(SLACKS_H)))]
        region = "any" if rng.random() < 0.4 else regions[int(rng.integers(0, len(regions)))]
        jobs.append((devices, hours, release, slack, region))
    return jobs


def build(
    week: datetime, count: int, seed: int, load: float, interruptible: float = 0.0
) -> tuple[Horizon, list[float]]:
    slots = WEEK_H + TAIL_H + SPILL_H
    names = list(ZONES)
    regions = sorted({region for region, _ in ZONES.values()})
    intensities = []
    for zone in names:
        series = grid.read(DATA / "carbon" / "electricitymaps-hourly" / f"{zone}_2024_hourly.csv")
        values, note = series.window(week, slots).filled()
        if note:
            print(f"  note: {note}", file=sys.stderr)
        intensities.append(values)
    raw = load_jobs(count, seed, regions)
    demand = sum(d * math.ceil(h) for d, h, *_ in raw)
    share = {r: sum(d * math.ceil(h) for d, h, _, _, g in raw if g in (r, "any")) for r in regions}
    total = sum(share.values())
    capacity = {}
    for zone, (region, _) in ZONES.items():
        in_region = sum(1 for z in ZONES.values() if z[0] == region)
        capacity[zone] = math.ceil(demand / (WEEK_H * load) * share[region] / total / in_region)
    pools = [
        ShiftPool(
            zone,
            np.full(slots, capacity[zone], dtype=np.int64),
            DEVICE_KW * ZONES[zone][1],
            intensity,
        )
        for zone, intensity in zip(names, intensities, strict=True)
    ]
    jobs = []
    checkpoints = np.random.default_rng(seed + 1_000).random(len(raw)) < interruptible
    for n, (devices, hours, release, slack, region) in enumerate(raw):
        allowed = tuple(i for i, z in enumerate(names) if region in ("any", ZONES[z][0]))
        deadline = min(WEEK_H + TAIL_H, release + math.ceil(hours) + slack)
        chunked = bool(checkpoints[n]) and slack > 0
        jobs.append(
            ShiftJob(f"job-{n}", devices, hours, release, deadline, allowed, interruptible=chunked)
        )
    annual = []
    for zone in names:
        series = grid.read(DATA / "carbon" / "electricitymaps-hourly" / f"{zone}_2024_hourly.csv")
        annual.append(float(np.nanmean(series.values)))
    return Horizon(pools, jobs), annual


def run(
    week: datetime, count: int, seed: int, load: float, interruptible: float = 0.0
) -> dict[str, object]:
    horizon, annual = build(week, count, seed, load, interruptible)
    rows: dict[str, dict[str, float]] = {}

    def score(name: str, plan: shifting.ShiftSchedule, seconds: float) -> None:
        found = shifting.evaluate(horizon, plan)
        rows[name] = {
            "carbon_t": found.carbon_g / 1e6,
            "energy_mwh": found.energy_kwh / 1000,
            "ran": found.ran,
            "late": found.late,
            "overfilled_pool_hours": found.overfilled_slots,
            "unplaced": len(plan.unplaced),
            "seconds": seconds,
        }

    for name, make in (
        ("run-now", lambda: shifting.run_now(horizon, annual)),
        ("blind advice", lambda: shifting.capacity_blind(horizon)),
    ):
        began = time.perf_counter()
        plan = make()
        score(name, plan, time.perf_counter() - began)
        if name == "blind advice":
            advice = plan
    began = time.perf_counter()
    score("blind queued", shifting.queue(horizon, advice), time.perf_counter() - began)
    began = time.perf_counter()
    keel = shifting.schedule(horizon)
    score("keel", keel, time.perf_counter() - began)
    began = time.perf_counter()
    bound = shifting.lp_bound(horizon)
    rows["keel"]["lp_bound_t"] = (bound if bound is not None else math.nan) / 1e6
    rows["keel"]["lp_seconds"] = time.perf_counter() - began
    base = rows["run-now"]["carbon_t"]
    possible = base - rows["blind advice"]["carbon_t"]
    for row in rows.values():
        row["saving"] = 1 - row["carbon_t"] / base
        row["share_of_bound"] = (base - row["carbon_t"]) / possible if possible > 0 else 0.0
    return {
        "week": week.date().isoformat(),
        "jobs": count,
        "interruptible_jobs": sum(job.interruptible for job in horizon.jobs),
        "seed": seed,
        "load": load,
        "pools": [p.name for p in horizon.pools],
        "capacity_milli_gpu": [int(p.capacity[0]) for p in horizon.pools],
        "rows": rows,
    }


MOER = DATA / "carbon" / "moer-caiso-sgip"
CYCLE = 36
"""A planning cycle: 36 five-minute steps, as far as the CAISO forecasts reach (3 h)."""


def forecast_regret(seed: int, jobs_per_cycle: int, load: float) -> dict[str, float]:
    """Plan each 3-hour cycle of August 2021 on the forecasts, score on the actuals.

    Two sites (PG&E's and SCE's marginal emissions, 5-minute steps). Every cycle, the jobs
    released in it (durations and GPU sizes of the Alibaba trace's pods under an hour) must
    finish by its end; Keel plans them on the forecast made at the cycle's start, and again on
    the actuals (perfect foresight); both, and run-now, are scored on the actuals.
    """
    forecasts = [
        grid.read_forecast(MOER / f"SGIP_CAISO_{name}_2021-08.csv.gz", zone=name)
        for name in ("PGE", "SCE")
    ]
    steps = min(len(f.actual.values) for f in forecasts)
    rng = np.random.default_rng(seed)
    path = DATA / "traces" / "alibaba-gpu-v2023" / "openb_pod_list_default.csv"
    with path.open() as handle:
        pods = [
            (
                int(r["num_gpu"]) * int(r["gpu_milli"]),
                (int(r["deletion_time"]) - int(r["creation_time"])) / 3600,
            )
            for r in csv.DictReader(handle)
            if int(r["num_gpu"]) > 0
            and 0 < int(r["deletion_time"]) - int(r["creation_time"]) < 3600
        ]
    step_h = 5 / 60
    sizes = [pods[int(i)] for i in rng.integers(0, len(pods), jobs_per_cycle)]
    demand = sum(d * math.ceil(h / step_h) for d, h in sizes)
    capacity = math.ceil(demand / (CYCLE * load) / 2)
    totals = {"run-now": 0.0, "keel on forecast": 0.0, "keel on actuals": 0.0}
    late = 0
    for first in range(1, steps - CYCLE, CYCLE):
        cycle_jobs = []
        for n in range(jobs_per_cycle):
            devices, hours = pods[int(rng.integers(0, len(pods)))]
            held = math.ceil(hours / step_h - 1e-9)
            release = int(rng.integers(0, CYCLE - held + 1))
            cycle_jobs.append(ShiftJob(f"j{n}", devices, hours, release, CYCLE, (0, 1)))

        def horizon(values: list[np.ndarray], jobs: list[ShiftJob] = cycle_jobs) -> Horizon:
            pools = [
                ShiftPool(name, np.full(CYCLE, capacity, dtype=np.int64), DEVICE_KW, row)
                for name, row in zip(("PGE", "SCE"), values, strict=True)
            ]
            return Horizon(pools, jobs, step_h=step_h)

        actual = horizon([f.actual.values[first : first + CYCLE] for f in forecasts])
        planned = horizon([f.issued(first, CYCLE) for f in forecasts])
        annual = [float(np.mean(f.actual.values)) for f in forecasts]
        for name, plan in (
            ("run-now", shifting.run_now(actual, annual)),
            ("keel on forecast", shifting.schedule(planned, large_share=0)),
            ("keel on actuals", shifting.schedule(actual, large_share=0)),
        ):
            score = shifting.evaluate(planned, plan, actual)
            totals[name] += score.carbon_g / 1e6
            late += score.late if name == "run-now" else 0
    base = totals["run-now"]
    possible = base - totals["keel on actuals"]
    return {
        **{f"{k} t": v for k, v in totals.items()},
        "saving on forecast": 1 - totals["keel on forecast"] / base,
        "saving on actuals": 1 - totals["keel on actuals"] / base,
        "regret (share of the saving lost)": (
            totals["keel on forecast"] - totals["keel on actuals"]
        )
        / possible,
        "run-now late": late,
    }


WAIT_AWHILE = DATA / "carbon" / "lets-wait-awhile"


def _half_hourly(file: str, country: str) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A Let's Wait Awhile series from 2020-01-01, on the half hour as their simulator samples it.

    Gaps are filled with the mean, and a note says so.
    """
    series = grid.read(WAIT_AWHILE / file, zone=country)
    step_s = 1800
    per = step_s // series.step_s
    start = datetime(2020, 1, 1, tzinfo=UTC)
    values = series.values[series.index(start) :]
    halves = values[: len(values) // per * per].reshape(-1, per)[:, 0]  # on the half hour
    sampled = replace(series, start=start, step_s=step_s, values=halves,
                      estimated=np.zeros(len(halves), dtype=np.bool_))  # fmt: skip
    filled, note = sampled.filled()
    if note:
        print(f"  note: {note}", file=sys.stderr)
    return filled


WAIT_AWHILE_COUNTRIES = (("DE", "ger_ci.csv"), ("GB", "gb_ci.csv"), ("FR", "fr_ci.csv"))


def nightly(max_window_h: int = 8) -> dict[str, list[float]]:
    """Wiesner et al.'s Scenario I on their own data, with their sampling.

    A 30-minute job every night at 1:00 in 2020, free to run up to ``w`` hours earlier or
    later, on the series sampled on the half hour (as their simulator does). Returns, per
    window, the share of emissions saved against running at 1:00 (each job alone).
    """
    found: dict[str, list[float]] = {}
    for country, file in WAIT_AWHILE_COUNTRIES:
        filled = _half_hourly(file, country)[: 366 * 48]
        pool = ShiftPool(country, np.full(len(filled), 1, dtype=np.int64), 1.0, filled)
        widest = 2 * max_window_h
        # The same nights for every window: those where the widest window fits both sides.
        nights = [d for d in range(366) if 2 + 48 * d - widest >= 0
                  and 2 + 48 * d + widest + 1 <= len(filled)]  # fmt: skip
        emitted = []
        for window in range(max_window_h + 1):
            jobs = [
                ShiftJob(f"night-{d}", 1, 0.5, 2 + 48 * d - 2 * window,
                         2 + 48 * d + 2 * window + 1, (0,))
                for d in nights
            ]  # fmt: skip
            horizon = Horizon([pool], jobs, step_h=0.5)
            emitted.append(shifting.evaluate(horizon, shifting.capacity_blind(horizon)).carbon_g)
        found[country] = [1 - c / emitted[0] for c in emitted]
    return found


ADHOC_JOBS = 3387
"""Scenario II's ML jobs in 2020 (their count)."""
ADHOC_ERROR_SEEDS = 10
"""Their repetitions of a run with forecast errors (seeds 0-9), averaged."""
PUBLISHED_ADHOC = {
    # Share of emissions saved against starting at once, "Next Workday", 5% forecast error:
    # printed by the authors' own notebook (github.com/dos-group/lets-wait-awhile,
    # evaluation.ipynb, the "tons of CO2" cell; the notebook draws img/ml_results.pdf from
    # the same runs).
    (0.05, False): {"DE": 0.0591, "GB": 0.0656, "FR": 0.0477},
    (0.05, True): {"DE": 0.0793, "GB": 0.0903, "FR": 0.0592},
    # Without forecast errors: the authors' code rerun by a third party, which prints the
    # 5% figures above to the last digit (github.com/joy-lewis/lets-wait-awhile,
    # 2025_analysis/img/2020/tons_co2.txt).
    (0.0, False): {"DE": 0.0593, "GB": 0.0657, "FR": 0.0479},
    (0.0, True): {"DE": 0.0816, "GB": 0.0923, "FR": 0.0622},
}


def adhoc_jobs(count: int = ADHOC_JOBS, seed: int = 0) -> list[tuple[int, int, int]]:
    """Scenario II's jobs: ``(arrival, run, deadline)`` in half-hour steps from 2020-01-01.

    As the paper describes them, drawn in the order its generator draws: jobs spread
    uniformly over the workdays of 2020, arriving on the half hour between 9:00 and 17:00,
    running 4 to 89.5 hours. "Next workday": a job whose run would end outside working hours
    (a weekend, before 9:00, after 17:00) may finish as late as 9:00 of the next day (Monday
    after a Saturday), a job ending within them must end on time. Checked once against their
    published ``generate_batch_jobs`` and ``_forecast_duration`` (seed 0): the same 3,387
    arrivals, run lengths and deadlines.
    """
    rng = np.random.default_rng(seed)
    first = datetime(2020, 1, 1, tzinfo=UTC)
    days = [first + timedelta(days=d) for d in range(366)]
    workdays = [day for day in days if day.weekday() < 5]
    per_workday = dict(
        zip(workdays, rng.multinomial(count, [1 / len(workdays)] * len(workdays)), strict=True)
    )
    arrivals = []
    for day in days:
        minutes = np.sort(rng.choice(np.arange(9 * 60, 17 * 60, 30), size=per_workday.get(day, 0)))
        arrivals += [day + timedelta(minutes=int(m)) for m in minutes]
    runs = rng.choice(np.arange(4 * 60, 90 * 60, 30), size=count) // 30
    jobs = []
    for arrival, run in zip(arrivals, runs, strict=True):
        end = arrival + timedelta(minutes=30 * int(run))
        nine = end.replace(hour=9, minute=0)
        hour = end.hour + end.minute / 60
        if end.weekday() == 5:
            deadline = nine + timedelta(days=2)
        elif end.weekday() == 6 or hour > 17:
            deadline = nine + timedelta(days=1)
        elif hour < 9:
            deadline = nine
        else:
            deadline = end
        at = int((arrival - first).total_seconds()) // 1800
        jobs.append((at, int(run), int((deadline - first).total_seconds()) // 1800))
    return jobs


def _unbounded(
    jobs: list[tuple[int, int, int]],
    intensity: np.ndarray[Any, np.dtype[np.float64]],
    *,
    chunks: bool,
) -> Horizon:
    """Scenario II's jobs on one pool with room for all of them at once (their data centre)."""
    capacity = np.full(len(intensity), len(jobs), dtype=np.int64)
    return Horizon(
        [ShiftPool("dc", capacity, 1.0, intensity)],
        [
            ShiftJob(f"ml-{i}", 1, run / 2, at, deadline, (0,), interruptible=chunks)
            for i, (at, run, deadline) in enumerate(jobs)
        ],
        step_h=0.5,
    )


def adhoc() -> dict[tuple[float, bool], dict[str, float]]:
    """Wiesner et al.'s Scenario II (ad-hoc ML jobs, "Next Workday") on their data.

    Keel schedules every job of the year at once on one pool without a capacity limit (their
    data centre has none), interruptible or not, on the actual series or on a forecast with
    their error (Gaussian noise of 5% of the mean, ten seeds, averaged), and is scored on the
    actual series against every job starting on arrival.
    """
    jobs = adhoc_jobs()
    found: dict[tuple[float, bool], dict[str, float]] = {key: {} for key in PUBLISHED_ADHOC}
    for country, file in WAIT_AWHILE_COUNTRIES:
        values = _half_hourly(file, country)
        actual = _unbounded(jobs, values, chunks=False)
        base = shifting.evaluate(actual, shifting.run_now(actual)).carbon_g
        for error, chunks in PUBLISHED_ADHOC:
            truth = _unbounded(jobs, values, chunks=chunks)
            emitted = []
            for seed in range(ADHOC_ERROR_SEEDS) if error else (None,):
                noise = np.random.default_rng(seed).normal(0, error * values.mean(), len(values))
                planned = _unbounded(jobs, values + noise, chunks=chunks) if error else truth
                # Capacity never binds (one pool as large as the job count), so one greedy
                # construction is each job's own optimum; the MILP and search add nothing.
                plan = shifting.schedule(planned, starts=1, rounds=1, passes=0, large_share=0)
                alone = shifting.evaluate(planned, shifting.capacity_blind(planned)).carbon_g
                assert math.isclose(shifting.evaluate(planned, plan).carbon_g, alone), country
                emitted.append(shifting.evaluate(planned, plan, truth).carbon_g)
            found[error, chunks][country] = 1 - float(np.mean(emitted)) / base
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weeks", default="2024-01-08,2024-04-01,2024-07-01,2024-10-07")
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--load", type=float, default=0.5, help="mean share of devices busy")
    parser.add_argument(
        "--forecast", action="store_true", help="the regret of planning on CAISO forecasts"
    )
    parser.add_argument("--jobs-per-cycle", type=int, default=40)
    parser.add_argument(
        "--interruptible",
        type=float,
        default=0.0,
        help="share of the jobs that may wait which checkpoint (run in chunks)",
    )
    parser.add_argument(
        "--nightly", action="store_true", help="Wiesner et al.'s Scenario I on their data"
    )
    parser.add_argument(
        "--adhoc", action="store_true", help="Wiesner et al.'s Scenario II on their data"
    )
    args = parser.parse_args()
    if args.adhoc:
        print("Let's Wait Awhile, Scenario II (2020): 3,387 ad-hoc ML jobs of 4-89.5 h on")
        print("workdays, Next Workday deadlines; share of emissions saved against starting at")
        print("once, Keel against the published figures")
        for (error, chunks), shares in adhoc().items():
            kind = "interruptible" if chunks else "non-interruptible"
            print(
                f"  {kind:<17} forecast error {error:.0%}: "
                + "  ".join(
                    f"{c} {v:.2%} (paper {PUBLISHED_ADHOC[error, chunks][c]:.2%})"
                    for c, v in shares.items()
                )
            )
        return
    if args.nightly:
        print("Let's Wait Awhile, Scenario I (2020): a 30-minute job nightly at 1:00, moved")
        print("within +-w hours; share of its emissions saved against running at 1:00")
        for country, shares in nightly().items():
            print(f"  {country}: " + "  ".join(f"+-{w}h {v:.1%}" for w, v in enumerate(shares)))
        return
    if args.forecast:
        found = forecast_regret(args.seed, args.jobs_per_cycle, args.load)
        print("August 2021, PG&E and SCE marginal emissions, 5-minute steps, 3-hour cycles:")
        for key, value in found.items():
            print(
                f"  {key:<36} {value:.4f}" if isinstance(value, float) else f"  {key:<36} {value}"
            )
        return
    results = []
    for text in args.weeks.split(","):
        week = datetime.fromisoformat(text).replace(tzinfo=UTC)
        result = run(week, args.jobs, args.seed, args.load, args.interruptible)
        results.append(result)
        print(
            f"\nweek of {result['week']}: {args.jobs:,} jobs"
            f" ({result['interruptible_jobs']:,} interruptible), {WEEK_H + TAIL_H} hourly slots"
            f" (+{SPILL_H} for queues to drain),"
        )
        print(f"  pools {dict(zip(result['pools'], result['capacity_milli_gpu'], strict=True))}")
        print(
            f"  {'policy':<13} {'tCO2e':>8} {'saving':>7} {'share':>6} {'late':>5}"
            f" {'overfilled pool-h':>17} {'unplaced':>8} {'time s':>7}"
        )
        for name, row in result["rows"].items():  # type: ignore[attr-defined]
            print(
                f"  {name:<13} {row['carbon_t']:>8.3f} {row['saving']:>7.1%}"
                f" {row['share_of_bound']:>6.1%} {row['late']:>5} "
                f"{row['overfilled_pool_hours']:>17} {row['unplaced']:>8} {row['seconds']:>7.2f}"
            )
        keel = result["rows"]["keel"]  # type: ignore[index]
        print(
            f"  keel is {keel['carbon_t'] / keel['lp_bound_t'] - 1:.2%} above the"
            f" LP bound ({keel['lp_bound_t']:.3f} t, {keel['lp_seconds']:.1f} s), blind queued"
            f" {result['rows']['blind queued']['carbon_t'] / keel['carbon_t'] - 1:+.1%} of keel"  # type: ignore[index]
        )
        base = result["rows"]["run-now"]["carbon_t"]  # type: ignore[index]
        bound_saving = 1 - keel["lp_bound_t"] / base
        queued = result["rows"]["blind queued"]["saving"]  # type: ignore[index]
        verdict = (
            "so no schedule that meets every deadline saves as much as the late queue"
            if bound_saving < queued
            else "so a schedule meeting every deadline might save as much as the late queue"
        )
        print(
            f"  the LP bound saves at most {bound_saving:.1%} against the queue's {queued:.1%},"
            f" {verdict}"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "shifting.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
