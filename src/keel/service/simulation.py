"""``keel capacity simulate``: a trace replayed against the estate, with Keel's rules in the loop.

Each class of the trace behaves as one of the estate's workloads (``--like CLASS=WORKLOAD``):
its data rules, residency, classification, latency SLO, accelerators and objective. The
placement problem of those workloads is compiled with the policy in force, so a class only
ever runs where its workload may, and ranks the pools as the planner would. The replay itself
is :mod:`keel.capacity.replay`.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keel import progress
from keel.capacity import demand as demand_mod
from keel.capacity import replay as replay_mod
from keel.capacity.demand import Trace
from keel.errors import NotFoundError, UserError
from keel.estate import Estate
from keel.estate.spelling import did_you_mean
from keel.placement.problem import HOURS_PER_MONTH, Problem, compile_problem
from keel.service import policy
from keel.service.stored import estate_in
from keel.service.workspace import Workspace
from keel.store import ResourceRepository

SPOT_FACTOR = 1.10 / 1.861
"""Spot price as a share of on demand: AWS g6e.xlarge (L40S), 1.10 against 1.861 USD/h, August
2025 (``reference-facts.md``); applied to every accelerator, an assumption."""
RESERVED_FACTOR = 0.65
"""Reserved (one-year commitment) price as a share of on demand: an assumption (a 35%
discount), not a published figure; set it with ``--reserved-factor``."""
MAX_MAPPINGS = 1_000


@dataclass(frozen=True, slots=True)
class Market:
    """Prices and risks of renting, as shares of the on-demand price."""

    reserved_factor: float = RESERVED_FACTOR
    spot_factor: float = SPOT_FACTOR
    spot_preemptions_per_h: float = 0.01


@dataclass
class Scenario:
    """What a replay or an advice run is asked.

    Attributes:
        mapping: Workload per class; ``*`` for every class not named.
        reserve: Reserved devices per ``site/pool`` (public cloud).
        service_wait_s: A service usage meets its SLO when it starts within this.
        job_wait_s: A job usage meets its SLO when it starts within this.
        tick_s: Seconds between placement decisions.
        market: Reserved and spot prices, spot preemptions.
        seed: Seed of the preemption draws and of the sample.
        sample: Share of the trace's usages replayed, drawn at random (1 keeps them all): a
            trace from a fleet far larger than the estate is thinned to its size, its bursts
            kept in shape.
        net_of_plan: Take the devices the latest committed plan's services hold out of their
            pools first (they run all the time); the trace gets the rest.
    """

    mapping: dict[str, str]
    reserve: dict[str, int] = field(default_factory=dict)
    service_wait_s: float = 60.0
    job_wait_s: float = 3600.0
    tick_s: float = 60.0
    market: Market = field(default_factory=Market)
    seed: int = 0
    sample: float = 1.0
    net_of_plan: bool = True


@dataclass
class Model:
    """The estate as the replay sees it, and the trace's usages it can serve."""

    pools: list[replay_mod.Pool]
    classes: list[replay_mod.ClassModel]
    workload_of: list[str]
    usages: tuple[Any, Any, Any, Any]
    skipped: dict[str, int]
    estate_digest: str
    held: dict[str, int] = field(default_factory=dict)


def parse_pairs(values: list[str], what: str) -> dict[str, str]:
    """``NAME=VALUE`` options into a mapping.

    Raises:
        UserError: If one has no ``=`` or repeats a name.
    """
    if len(values) > MAX_MAPPINGS:
        raise UserError(f"{what}: at most {MAX_MAPPINGS:,} values")
    found: dict[str, str] = {}
    for value in values:
        name, sep, target = value.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise UserError(f"{what} {value!r}: write NAME=VALUE")
        if name.strip() in found:
            raise UserError(f"{what} {value!r}: {name.strip()!r} is given twice")
        found[name.strip()] = target.strip()
    return found


def _held(workspace: Workspace) -> dict[str, int]:
    """Devices per ``site/pool`` the latest committed plan's services hold."""
    from keel.service import planning

    plan = planning.latest(workspace)
    held: dict[str, int] = {}
    for placed in plan.placements if plan is not None else []:
        if placed.period == "month":
            name = f"{placed.site}/{placed.pool}"
            held[name] = held.get(name, 0) + placed.devices
    return held


def _pools(
    estate: Estate, problem: Problem, scenario: Scenario, held: dict[str, int]
) -> list[replay_mod.Pool]:
    market = scenario.market
    pools = []
    names = [
        f"{problem.sites[problem.option_site[o]]}/{problem.option_pool[o]}"
        for o in range(len(problem.option_pool))
    ]
    unknown = sorted(set(scenario.reserve) - set(names))
    if unknown:
        raise NotFoundError(
            f"--reserve {unknown[0]}: no such pool{did_you_mean(unknown[0], names)}"
        )
    for o, name in enumerate(names):
        site = estate.sites[problem.sites[problem.option_site[o]]]
        pool = next(p for p in site.pools if p.name == problem.option_pool[o])
        owned = site.kind != "public_cloud"
        reserved = scenario.reserve.get(name, 0)
        devices = max(pool.count - held.get(name, 0), 0)
        if reserved and owned:
            raise UserError(f"--reserve {name}: an owned pool ({site.kind}) is not reserved")
        if reserved > devices:
            raise UserError(
                f"--reserve {name}={reserved}: the pool's quota is {pool.count}"
                + (f", {held[name]} of them held by the plan's services" if held.get(name) else "")
            )
        pools.append(
            replay_mod.Pool(
                name=name,
                site=site.name,
                accelerator=pool.accelerator,
                owned=owned,
                devices=devices,
                reserved=reserved,
                usd_per_device_h=pool.usd_per_hour,
                reserved_usd_per_device_h=pool.usd_per_hour * market.reserved_factor,
                spot_usd_per_device_h=pool.usd_per_hour * market.spot_factor,
                kwh_per_device_h=pool.power_w * site.pue / 1000.0,
                kgco2e_per_kwh=site.carbon_intensity_gco2e_per_kwh / 1000.0,
            )
        )
    return pools


def _mapping(trace: Trace, estate: Estate, mapping: dict[str, str]) -> dict[str, str]:
    workloads = estate.workloads()
    for target in mapping.values():
        if target not in workloads:
            raise NotFoundError(
                f"--like ...={target}: no workload {target!r} in the estate"
                f"{did_you_mean(target, workloads)}"
            )
    names = sorted(set(trace.classes))
    extra = sorted(set(mapping) - set(names) - {"*"})
    if extra:
        raise UserError(
            f"--like {extra[0]}=...: the trace has no class {extra[0]!r}"
            f"{did_you_mean(extra[0], names)}"
        )
    unmapped = [n for n in names if n not in mapping and "*" not in mapping]
    if unmapped:
        raise UserError(
            f"{len(unmapped)} class(es) of the trace behave as no workload, e.g."
            f" {', '.join(unmapped[:3])}: say which with --like CLASS=WORKLOAD"
            " or --like '*=WORKLOAD'"
        )
    return {n: mapping.get(n, mapping.get("*", "")) for n in names}


def build(workspace: Workspace, trace: Trace, scenario: Scenario) -> Model:
    """The pools and classes of a replay, from the stored estate, its policy and the trace.

    Usages the estate can never serve (their class's workload may run nowhere, or they need
    more devices than any pool it may use has) are left out and counted with the reason.

    Raises:
        NotFoundError: If a workload or a reserved pool is unknown.
        UserError: If a class behaves as no workload.
    """
    with workspace.unit(snapshot=True) as unit:
        estate = estate_in(unit)
        _revision, digest = unit.repository(ResourceRepository).revision()
    of_class = _mapping(trace, estate, scenario.mapping)
    templates = sorted(set(of_class.values()))
    with progress.step(f"placing {len(templates)} workload(s) under the policy in force"):
        decisions = policy.decide(estate, engine=policy.engine_for(estate))
        problem = compile_problem(estate, templates, policy=policy.denial_mask(decisions))
    held = _held(workspace) if scenario.net_of_plan else {}
    pools = _pools(estate, problem, scenario, held)
    row = {name: w for w, name in enumerate(problem.workloads)}
    specs = estate.workloads()
    names = sorted(of_class)
    classes = []
    for name in names:
        w, spec = row[of_class[name]], specs[of_class[name]]
        per = max(spec.compute.count, 1)
        hours = HOURS_PER_MONTH if problem.service[w] else (spec.compute.hours or 1.0)
        classes.append(
            replay_mod.ClassModel(
                name=name,
                rank_usd_per_device_h=problem.objective[w] / (per * hours),
                service=bool(problem.service[w]),
                interruptible=not bool(problem.service[w]),
                utilisation=spec.compute.utilisation,
                wait_target_s=scenario.service_wait_s
                if problem.service[w]
                else scenario.job_wait_s,
            )
        )
    index = {n: i for i, n in enumerate(names)}
    cls = np.array([index[c] for c in trace.classes], dtype=np.int64)
    devices = np.asarray(trace.devices, dtype=np.float64)
    largest = np.array(
        [
            max((p.devices for p, r in zip(pools, c.rank_usd_per_device_h, strict=True)
                 if math.isfinite(r)), default=0)
            for c in classes
        ],
        dtype=np.float64,
    )  # fmt: skip
    skipped: Counter[str] = Counter()
    nowhere = largest[cls] == 0
    too_big = ~nowhere & (np.ceil(devices - replay_mod.EPS) > largest[cls])
    for i in np.flatnonzero(nowhere):
        skipped[f"class {trace.classes[i]}: {of_class[trace.classes[i]]} may run on no pool"] += 1
    if too_big.any():
        skipped["need more devices than any pool their workload may use"] = int(too_big.sum())
    keep = ~(nowhere | too_big)
    if scenario.sample < 1.0:
        drawn = np.random.default_rng(scenario.seed).random(len(keep)) < scenario.sample
        skipped[f"left out by --sample {scenario.sample:g}"] = int((keep & ~drawn).sum())
        keep &= drawn
    order = np.argsort(trace.start_s[keep], kind="stable")
    usages = (
        cls[keep][order],
        devices[keep][order],
        np.asarray(trace.start_s, dtype=np.float64)[keep][order],
        np.asarray(trace.end_s - trace.start_s, dtype=np.float64)[keep][order],
    )
    return Model(pools, classes, [of_class[n] for n in names], usages, dict(skipped), digest, held)


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@dataclass
class Simulation:
    """A replay's outcome, summarised for people and machines."""

    source: str
    format: str
    usages: int
    skipped: dict[str, int]
    span_h: float
    events: int
    ticks: int
    elapsed_s: float
    committed_usd: float
    overall: dict[str, Any]
    classes: list[dict[str, Any]]
    pools: list[dict[str, Any]]
    scenario: dict[str, Any]

    @property
    def usage_usd(self) -> float:
        """Paid per use (on demand, spot) over the span."""
        return sum(float(p["usage_usd"]) for p in self.pools)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["usage_usd"] = round(self.usage_usd, 2)
        data["total_usd"] = round(self.usage_usd + self.committed_usd, 2)
        return data


def overall(result: replay_mod.Result) -> dict[str, Any]:
    """A replay's outcome over every class: SLO attainment, wait percentiles, totals."""
    classes = result.classes
    waits = [w for found in classes for w in found.waits_s]
    usages = sum(found.usages for found in classes)
    return {
        "usages": usages,
        "never_started": sum(found.never_started for found in classes),
        "slo_attainment": round(sum(f.met_slo for f in classes) / usages, 4) if usages else None,
        "wait_p50_s": _percentile(waits, 50),
        "wait_p95_s": _percentile(waits, 95),
        "wait_p99_s": _percentile(waits, 99),
        "device_h": round(sum(found.device_h for found in classes), 3),
        "kwh": round(sum(found.kwh for found in classes), 3),
        "kgco2e": round(sum(found.kgco2e for found in classes), 3),
        "preemptions": sum(found.preemptions for found in classes),
        "fragmentation_delayed": sum(f.fragmentation_delayed for f in classes),
    }


def summarise(
    trace: Trace, model: Model, result: replay_mod.Result, scenario: Scenario, elapsed_s: float
) -> Simulation:
    """Per class and pool: SLO attainment, waits, utilisation, cost, energy and carbon."""
    classes = []
    for found, workload, cls in zip(result.classes, model.workload_of, model.classes, strict=True):
        started = len(found.waits_s)
        classes.append({
            "name": found.name,
            "workload": workload,
            "kind": "service" if cls.service else "job",
            "usages": found.usages,
            "never_started": found.never_started,
            "slo_wait_s": cls.wait_target_s,
            "slo_attainment": round(found.met_slo / found.usages, 4) if found.usages else None,
            "wait_p50_s": _percentile(found.waits_s, 50),
            "wait_p95_s": _percentile(found.waits_s, 95),
            "wait_p99_s": _percentile(found.waits_s, 99),
            "started": started,
            "device_h": round(found.device_h, 3),
            "by_tier_device_h": {k: round(v, 3) for k, v in found.by_tier_device_h.items()},
            "usage_usd": round(found.usd, 2),
            "kwh": round(found.kwh, 3),
            "kgco2e": round(found.kgco2e, 3),
            "preemptions": found.preemptions,
            "fragmentation_delayed": found.fragmentation_delayed,
        })  # fmt: skip
    pools = []
    for pool, used in zip(model.pools, result.pools, strict=True):
        hours = pool.devices * result.span_h
        pools.append({
            "name": pool.name,
            "accelerator": pool.accelerator,
            "owned": pool.owned,
            "devices": pool.devices,
            "held_by_plan_services": model.held.get(pool.name, 0),
            "reserved": pool.reserved,
            "device_h": round(used.device_h, 3),
            "by_tier_device_h": {k: round(v, 3) for k, v in used.by_tier_device_h.items()},
            "utilisation": round(used.device_h / hours, 4) if hours else None,
            "peak_devices": round(used.peak_devices, 3),
            "committed_usd": round(pool.committed_usd_per_h * result.span_h, 2),
            "usage_usd": round(used.usage_usd, 2),
            "kwh": round(used.kwh, 3),
            "kgco2e": round(used.kgco2e, 3),
        })  # fmt: skip
    settings = {
        "mapping": scenario.mapping,
        "reserve": scenario.reserve,
        "service_wait_s": scenario.service_wait_s,
        "job_wait_s": scenario.job_wait_s,
        "tick_s": scenario.tick_s,
        "sample": scenario.sample,
        "seed": scenario.seed,
        "reserved_factor": scenario.market.reserved_factor,
        "spot_factor": round(scenario.market.spot_factor, 4),
        "spot_preemptions_per_h": scenario.market.spot_preemptions_per_h,
        "estate_digest": model.estate_digest,
        "held_by_plan_services": model.held,
    }
    return Simulation(
        source=trace.source,
        format=trace.format,
        usages=len(model.usages[0]),
        skipped={**trace.skipped, **model.skipped},
        span_h=round(result.span_h, 3),
        events=result.events,
        ticks=result.ticks,
        elapsed_s=round(elapsed_s, 3),
        committed_usd=round(result.committed_usd, 2),
        overall=overall(result),
        classes=classes,
        pools=pools,
        scenario=settings,
    )


def run(model: Model, scenario: Scenario) -> replay_mod.Result:
    """Replay a built model, with progress over the usages admitted."""
    total = len(model.usages[0])
    settings = replay_mod.Settings(
        tick_s=scenario.tick_s,
        spot_preemptions_per_h=scenario.market.spot_preemptions_per_h,
        seed=scenario.seed,
    )
    with progress.step(f"replaying {total:,} usages", total=total) as advance:
        seen = 0

        def tick(admitted: int) -> None:
            nonlocal seen
            if admitted > seen:
                advance(admitted - seen)
                seen = admitted

        return replay_mod.replay(model.pools, model.classes, model.usages, settings, tick=tick)


def simulate(workspace: Workspace, path: Path, trace_format: str, scenario: Scenario) -> Simulation:
    """Replay a trace file against the stored estate.

    Raises:
        TraceError: If the trace is bad.
        NotFoundError: If a workload or pool named is unknown.
        UserError: If a class behaves as no workload, or a setting is out of range.
    """
    if scenario.tick_s < 1:
        raise UserError("--tick: at least 1 s")
    if not 0 < scenario.sample <= 1:
        raise UserError(f"--sample {scenario.sample:g}: a share in (0, 1]")
    with progress.step(f"reading {path.name} ({trace_format})"):
        trace = demand_mod.read_trace(path, trace_format)
    model = build(workspace, trace, scenario)
    began = time.perf_counter()
    result = run(model, scenario)
    return summarise(trace, model, result, scenario, time.perf_counter() - began)
