"""``keel capacity advise``: how many devices to own, reserve and rent, on evidence.

1. The trace's usages are read and classed as in :mod:`keel.service.simulation` (each class
   behaves as one of the estate's workloads, under the policy in force).
2. Each class's **pool type** is the accelerator of the pool Keel ranks best for it; its
   demand is summed per pool type at ``step_s``.
3. The demand to plan for is the upper bound of the ``level``% interval of the AutoETS
   forecast (``basis="forecast"``), or the history itself (``basis="history"``).
4. Per pool type, every mix of owned and reserved devices is priced and its carbon counted
   (:mod:`keel.capacity.advice`): the frontier, and the recommended mix at the objective's
   carbon price. Owning is offered where the estate already owns that accelerator at a site
   the work may use (more of the same, at the same amortised price).
5. Two baselines are priced on the same demand: **on-premises first** (the devices owned
   today, the rest on demand) and **all on demand**.
6. **Check by replay**: the trace is replayed (:mod:`keel.capacity.replay`) with the
   recommended mix and with each baseline in place of today's owned and reserved devices, so
   SLO attainment, cost and carbon are compared on the same usages.
7. The run is stored whole and recorded in the ledger (``capacity.advised``) with the digests
   of the trace file, the estate and the prices, so a purchase can be traced to its evidence.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from keel import progress, wire
from keel.capacity import advice as advice_mod
from keel.capacity import demand as demand_mod
from keel.capacity import forecast as forecast_mod
from keel.capacity import replay as replay_mod
from keel.errors import NotFoundError, UserError
from keel.estate.digest import canonical_json
from keel.placement.problem import HOURS_PER_MONTH, PRESETS
from keel.service import access, ledger, simulation
from keel.service.actor import Actor
from keel.service.workspace import Workspace
from keel.store.advice import AdviceRepository, StoredAdvice

BASES = ("forecast", "history")
STRATEGIES = ("keel", "on_prem_first", "all_on_demand")
MAX_FRONTIER = 40
"""Frontier points kept per pool type (evenly spread, ends kept)."""

REFINE_POINTS = 4
"""Frontier mixes per pool type tried by replay, besides the advised one and the baselines."""
REFINE_ROUNDS = 2

Plans = dict[str, dict[str, tuple[int, int, list[int], int | None]]]
"""Per strategy, per pool type: owned and reserved devices, owned pools, the cloud pool."""


def _digest(data: object) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _pool_type(model: simulation.Model) -> list[str]:
    """The accelerator of each class's best-ranked pool."""
    return [model.pools[int(np.argmin(c.rank_usd_per_device_h))].accelerator for c in model.classes]


def _prices(
    model: simulation.Model, accelerator: str, classes: list[int], scenario: simulation.Scenario
) -> tuple[advice_mod.Prices, list[int], int | None]:
    """Prices per device-hour of one pool type, from the pools its classes may use.

    Returns:
        The prices, the owned pools of that type, and the cheapest cloud pool (or ``None``).
    """
    allowed: set[int] = set()
    for c in classes:
        finite = np.isfinite(model.classes[c].rank_usd_per_device_h)
        allowed |= {int(p) for p in np.flatnonzero(finite)}
    mine = [p for p in sorted(allowed) if model.pools[p].accelerator == accelerator]
    owned = [p for p in mine if model.pools[p].owned]
    cloud = [p for p in mine if not model.pools[p].owned]
    utilisation = float(np.mean([model.classes[c].utilisation for c in classes]))

    def kg(p: int) -> float:
        pool = model.pools[p]
        return pool.kwh_per_device_h * utilisation * pool.kgco2e_per_kwh

    owned_devices = sum(model.pools[p].devices for p in owned)
    owned_usd: float | None = None
    owned_kg = 0.0
    if owned_devices:
        share = {p: model.pools[p].devices / owned_devices for p in owned}
        owned_usd = sum(w * model.pools[p].usd_per_device_h for p, w in share.items())
        owned_kg = sum(w * kg(p) for p, w in share.items())
    best = min(cloud, key=lambda p: model.pools[p].usd_per_device_h, default=None)
    od = None if best is None else model.pools[best].usd_per_device_h
    prices = advice_mod.Prices(
        owned_usd_per_device_h=owned_usd,
        reserved_usd_per_device_h=None if od is None else od * scenario.market.reserved_factor,
        on_demand_usd_per_device_h=od,
        owned_kgco2e_per_device_h=owned_kg,
        cloud_kgco2e_per_device_h=kg(best) if best is not None else 0.0,
    )
    return prices, owned, best


def _mix_json(mix: advice_mod.Mix | None, hours: float = HOURS_PER_MONTH) -> dict[str, Any] | None:
    if mix is None:
        return None
    return {
        "owned": mix.owned,
        "reserved": mix.reserved,
        "usd_per_month": round(mix.usd_per_h * hours, 2),
        "kgco2e_per_month": round(mix.kgco2e_per_h * hours, 3),
        "on_demand_devices_mean": round(mix.on_demand_device_h_per_h, 3),
        "unserved_devices_mean": round(mix.unserved_device_h_per_h, 3),
    }


def _thin(points: list[advice_mod.Mix]) -> list[advice_mod.Mix]:
    if len(points) <= MAX_FRONTIER:
        return points
    keep = np.unique(np.round(np.linspace(0, len(points) - 1, MAX_FRONTIER)).astype(int))
    return [points[int(k)] for k in keep]


def _apply(
    model: simulation.Model, mixes: dict[str, tuple[int, int, list[int], int | None]]
) -> list[replay_mod.Pool]:
    """The estate's pools with each pool type's owned and reserved devices set to a mix.

    Owned devices are shared among the type's owned pools in proportion to what each has
    today (the first takes the rest); reserved devices go to the cheapest cloud pool, whose
    quota grows if it must hold them.
    """
    pools = list(model.pools)
    for owned_n, reserved_n, owned, cloud in mixes.values():
        today = sum(pools[p].devices for p in owned)
        left = owned_n
        for k, p in enumerate(owned):
            share = left if k == len(owned) - 1 else round(owned_n * pools[p].devices / today)
            share = min(share, left)
            pools[p] = replace(pools[p], devices=share)
            left -= share
        if cloud is not None:
            pools[cloud] = replace(
                pools[cloud],
                reserved=reserved_n,
                devices=max(pools[cloud].devices, reserved_n),
            )
    return pools


def _settings(scenario: simulation.Scenario) -> replay_mod.Settings:
    return replay_mod.Settings(
        tick_s=scenario.tick_s,
        spot_preemptions_per_h=scenario.market.spot_preemptions_per_h,
        seed=scenario.seed,
    )


def _outcome(
    result: replay_mod.Result, pools: list[replay_mod.Pool], types: set[str]
) -> dict[str, Any]:
    """A replay's SLO attainment, wait, cost and carbon per month of its span.

    ``usd_per_month`` is the whole estate's (every pool committed, and what was rented);
    ``types_usd_per_month`` that of the pools of the advised types alone.
    """
    whole = simulation.overall(result)
    rented = sum(p.usage_usd for p in result.pools)
    hours = max(result.span_h, 1e-9)
    return {
        "slo_attainment": whole["slo_attainment"],
        "wait_p95_s": whole["wait_p95_s"],
        "never_started": whole["never_started"],
        "span_h": round(result.span_h, 3),
        "usd_per_month": round((result.committed_usd + rented) / hours * HOURS_PER_MONTH, 2),
        "types_usd_per_month": round(
            sum(
                pool.committed_usd_per_h + used.usage_usd / hours
                for pool, used in zip(pools, result.pools, strict=True)
                if pool.accelerator in types
            )
            * HOURS_PER_MONTH,
            2,
        ),
        "kgco2e_per_month": round(whole["kgco2e"] / hours * HOURS_PER_MONTH, 3),
    }


class _Search:
    """Mixes judged by replay: the cheapest (cost plus carbon) that meets the SLO wins."""

    def __init__(
        self,
        model: simulation.Model,
        settings: replay_mod.Settings,
        slo: float,
        carbon_price: float,
    ) -> None:
        self.model, self.settings, self.slo, self.carbon_price = model, settings, slo, carbon_price
        self.seen: dict[tuple[tuple[str, int, int], ...], dict[str, Any]] = {}

    def run(self, mixes: dict[str, tuple[int, int, list[int], int | None]]) -> dict[str, Any]:
        key = tuple(sorted((a, n, r) for a, (n, r, *_) in mixes.items()))
        if key not in self.seen:
            pools = _apply(self.model, mixes)
            label = ", ".join(f"{a} {n}+{r}" for a, n, r in key)
            with progress.step(f"replaying with owned+reserved {label}"):
                result = replay_mod.replay(
                    pools, self.model.classes, self.model.usages, self.settings
                )
            self.seen[key] = _outcome(result, pools, set(mixes))
        return self.seen[key]

    def rank(self, mixes: dict[str, tuple[int, int, list[int], int | None]]) -> tuple[float, ...]:
        found = self.run(mixes)
        attained = found["slo_attainment"] or 0.0
        cost = found["usd_per_month"] + self.carbon_price * found["kgco2e_per_month"] / 1000
        return (0.0, cost) if attained >= self.slo - 1e-9 else (1.0, -attained, cost)

    def refine(
        self,
        plans: Plans,
        candidates: dict[str, list[tuple[int, int, list[int], int | None]]],
    ) -> dict[str, tuple[int, int, list[int], int | None]]:
        """Start from the best of the strategies, then change one pool type at a time."""
        current = dict(plans[min(plans, key=lambda name: self.rank(plans[name]))])
        for _round in range(REFINE_ROUNDS):
            changed = False
            for accelerator, options in candidates.items():
                for option in options:
                    trial = {**current, accelerator: option}
                    if self.rank(trial) < self.rank(current):
                        current, changed = trial, True
            if not changed:
                break
        return current


def _advise_type(  # noqa: PLR0917 (one pool type's inputs, all computed by the caller)
    model: simulation.Model,
    scenario: simulation.Scenario,
    accelerator: str,
    found: demand_mod.Demand,
    planned: dict[str, Any],
    bands: dict[str, dict[str, list[float]]],
    carbon_price: float,
    plans: Plans,
    candidates: dict[str, list[tuple[int, int, list[int], int | None]]],
) -> dict[str, Any]:
    """One pool type's frontier, advice and baselines.

    Its baselines' and advised mixes are added to ``plans``, the mixes worth a replay to
    ``candidates``.
    """
    classes = [
        k
        for k, c in enumerate(model.classes)
        if any(
            model.pools[int(p)].accelerator == accelerator
            for p in np.flatnonzero(np.isfinite(c.rank_usd_per_device_h))
        )
    ]
    prices, owned, cloud = _prices(model, accelerator, classes, scenario)
    series = planned[accelerator]
    with progress.step(f"pricing every mix of owned and reserved {accelerator}"):
        every = advice_mod.mixes(series, prices)
        front = advice_mod.frontier(every)
        best = advice_mod.recommend(every, carbon_price)
    owned_today = sum(model.pools[p].devices for p in owned)
    baselines = {
        "on_prem_first": advice_mod.mix_at(series, prices, owned_today, 0),
        "all_on_demand": advice_mod.mix_at(series, prices, 0, 0),
    }
    chosen = best or baselines["on_prem_first"]
    plans["keel"][accelerator] = (chosen.owned, chosen.reserved, owned, cloud)
    plans["on_prem_first"][accelerator] = (owned_today, 0, owned, cloud)
    plans["all_on_demand"][accelerator] = (0, 0, owned, cloud)
    shown = _thin(front)
    spread = shown[:: max(1, len(shown) // REFINE_POINTS)]
    tried = [(chosen.owned, chosen.reserved), (owned_today, 0), (0, 0)]
    tried += [(m.owned, m.reserved) for m in spread]
    candidates[accelerator] = [
        (n, r, owned, cloud) for n, r in dict.fromkeys(tried) if r == 0 or cloud is not None
    ]
    history = found.in_use[found.classes.index(accelerator)]
    return {
        "accelerator": accelerator,
        "classes": sorted(model.classes[k].name for k in classes),
        "owned_pools": [model.pools[p].name for p in owned],
        "cloud_pool": None if cloud is None else model.pools[cloud].name,
        "owned_today": owned_today,
        "prices": _prices_json(prices),
        "demand_mean": round(float(history.mean()), 3),
        "demand_peak": round(float(history.max()), 3),
        "planned_peak": round(float(series.max()), 3),
        "analytic": _mix_json(best),
        "recommended": _mix_json(best),
        "baselines": {k: _mix_json(v) for k, v in baselines.items()},
        "frontier": [_mix_json(m) for m in shown],
        "history": [round(float(v), 3) for v in history],
        "forecast": bands.get(accelerator),
    }


def advise(
    workspace: Workspace,
    path: Path,
    trace_format: str,
    scenario: simulation.Scenario,
    *,
    actor: Actor,
    step_s: int = 3600,
    horizon_steps: int = 168,
    level: int = 90,
    basis: str = "forecast",
    objective: str = "balanced",
    check: bool = True,
    slo: float = 0.99,
) -> wire.CapacityAdvice:
    """Advise how many devices of each pool type to own, reserve and rent; record it.

    Raises:
        TraceError: If the trace is bad, or too short to forecast.
        NotFoundError: If a workload or pool named is unknown.
        UserError: If a setting is out of range.
    """
    access.authorize(workspace, actor, [("plan", "Workload/*")])  # as a plan is
    if basis not in BASES:
        raise UserError(f"--basis {basis!r}: use forecast or history")
    if objective not in PRESETS:
        raise NotFoundError(f"--objective {objective!r}: use one of {', '.join(PRESETS)}")
    if not 0 < scenario.sample <= 1:
        raise UserError(f"--sample {scenario.sample:g}: a share in (0, 1]")
    if not 0 <= slo <= 1:
        raise UserError(f"--slo {slo:g}: a share of usages in [0, 1]")
    with progress.step(f"reading {path.name} ({trace_format})"):
        trace = demand_mod.read_trace(path, trace_format)
        trace_digest = _file_digest(path)
    model = simulation.build(workspace, trace, scenario)
    if not len(model.usages[0]):
        raise UserError("no usage of the trace can run in the estate", hint=str(model.skipped))
    settings = _settings(scenario)
    with progress.step(f"replaying {len(model.usages[0]):,} usages against today's estate"):
        today = replay_mod.replay(model.pools, model.classes, model.usages, settings)
    pool, devices, start, end = today.segments
    if not len(pool):
        raise UserError("no usage of the trace ran in the replay", hint=str(model.skipped))
    typed = demand_mod.Trace(
        source=trace.source,
        format=trace.format,
        epoch=trace.epoch,
        classes=[model.pools[int(p)].accelerator for p in pool],
        devices=devices,
        start_s=start,
        end_s=end,
    )
    with progress.step(f"aggregating the devices in use per pool type at {step_s:,} s steps"):
        found = demand_mod.demand(typed, step_s)
    planned = {name: found.in_use[row] for row, name in enumerate(found.classes)}
    bands: dict[str, dict[str, list[float]]] = {}
    if basis == "forecast":
        with progress.step(f"forecasting {len(found.classes)} pool type(s) {horizon_steps} steps"):
            ahead = forecast_mod.forecast(found, horizon_steps, level=level)
        for future in ahead:
            planned[future.name] = future.high
            bands[future.name] = {
                "mean": [round(float(v), 3) for v in future.mean],
                "low": [round(float(v), 3) for v in future.low],
                "high": [round(float(v), 3) for v in future.high],
            }
    carbon_price = PRESETS[objective].carbon_usd_per_t
    plans: Plans = {name: {} for name in STRATEGIES}
    candidates: dict[str, list[tuple[int, int, list[int], int | None]]] = {}
    per_type = [
        _advise_type(
            model, scenario, accelerator, found, planned, bands, carbon_price, plans, candidates
        )
        for accelerator in found.classes
    ]
    checks = {"today": _outcome(today, model.pools, set(found.classes))}
    replays = 1
    if check:
        search = _Search(model, settings, slo, carbon_price)
        plans["keel"] = search.refine(plans, candidates)
        checks |= {name: search.run(plans[name]) for name in STRATEGIES}
        replays += len(search.seen)
        for t in per_type:
            n, r, *_ = plans["keel"][t["accelerator"]]
            series = planned[t["accelerator"]]
            prices = advice_mod.Prices(**t["prices"])
            t["recommended"] = _mix_json(advice_mod.mix_at(series, prices, n, r))
    advice: dict[str, Any] = {
        "source": trace.source,
        "format": trace.format,
        "trace_digest": trace_digest,
        "estate_digest": model.estate_digest,
        "prices_digest": _digest({t["accelerator"]: t["prices"] for t in per_type}),
        "first": None if found.epoch is None else found.epoch.isoformat().replace("+00:00", "Z"),
        "step_s": step_s,
        "basis": basis,
        "level": level,
        "horizon_steps": horizon_steps if basis == "forecast" else None,
        "objective": objective,
        "carbon_usd_per_t": carbon_price,
        "usages": len(model.usages[0]),
        "skipped": {**trace.skipped, **model.skipped},
        "scenario": {
            "mapping": scenario.mapping,
            "reserved_factor": scenario.market.reserved_factor,
            "spot_factor": round(scenario.market.spot_factor, 4),
            "spot_preemptions_per_h": scenario.market.spot_preemptions_per_h,
            "service_wait_s": scenario.service_wait_s,
            "job_wait_s": scenario.job_wait_s,
            "sample": scenario.sample,
            "seed": scenario.seed,
            "held_by_plan_services": model.held,
        },
        "slo": slo,
        "replays": replays,
        "pool_types": per_type,
        "checks": checks,
    }
    return _record(workspace, advice, actor)


def _prices_json(prices: advice_mod.Prices) -> dict[str, float | None]:
    return {
        k: None if getattr(prices, k) is None else round(float(getattr(prices, k)), 6)
        for k in advice_mod.Prices.__slots__
    }


def _record(workspace: Workspace, advice: dict[str, Any], actor: Actor) -> wire.CapacityAdvice:
    """Store the run and append its ledger entry, in one transaction."""
    digest = _digest(advice)
    entry = {
        "type": "capacity.advised",
        "advice_digest": digest,
        "trace_digest": advice["trace_digest"],
        "estate_digest": advice["estate_digest"],
        "prices_digest": advice["prices_digest"],
        "basis": advice["basis"],
        "level": advice["level"],
        "objective": advice["objective"],
        "recommended": {
            t["accelerator"]: {
                k: (t["recommended"] or {}).get(k) for k in ("owned", "reserved", "usd_per_month")
            }
            for t in advice["pool_types"]
        },
    }
    now = datetime.now(UTC)
    with workspace.unit(actor.principal, write=True) as unit:
        index, _ = ledger.record(unit, [entry])
        advice_id = unit.repository(AdviceRepository).add(
            StoredAdvice(0, now, actor.principal or "", digest, index, advice)
        )
    return wire.CapacityAdvice.model_validate(
        {
            "id": advice_id,
            "ledger_index": index,
            "digest": digest,
            "created_at": _iso(now),
            "created_by": actor.principal or "",
            **advice,
        }
    )


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def stored(workspace: Workspace, advice_id: int | None = None) -> wire.CapacityAdvice:
    """A stored advice run (the newest without an id).

    Raises:
        NotFoundError: If there is none.
    """
    with workspace.unit(snapshot=True) as unit:
        found = unit.repository(AdviceRepository).get(advice_id)
    if found is None:
        what = "no capacity advice yet" if advice_id is None else f"no advice {advice_id}"
        raise NotFoundError(what, hint="keel capacity advise TRACE records one")
    return wire.CapacityAdvice.model_validate(
        {
            "id": found.id,
            "ledger_index": found.ledger_index,
            "digest": found.digest,
            "created_at": _iso(found.created_at),
            "created_by": found.created_by,
            **found.advice,
        }
    )


def recent(workspace: Workspace, limit: int = 20) -> wire.AdviceList:
    """The newest advice runs, summarised."""
    with workspace.unit(snapshot=True) as unit:
        found = unit.repository(AdviceRepository).recent(limit)
    return wire.AdviceList(
        advice=[
            wire.AdviceSummary(
                id=row.id,
                created_at=_iso(row.created_at),
                created_by=row.created_by,
                source=Path(row.advice["source"]).name,
                basis=row.advice["basis"],
                objective=row.advice["objective"],
                ledger_index=row.ledger_index,
                recommended={t["accelerator"]: t["recommended"] for t in row.advice["pool_types"]},
            )
            for row in found
        ]
    )


def redact(found: wire.CapacityAdvice, hidden: set[str]) -> wire.CapacityAdvice:
    """The advice without the names of workloads the caller may not read.

    Which workload each class behaved as is the only place the advice names workloads; a
    hidden one reads ``(withheld)``, so its existence is not told either.
    """
    mapping = found.scenario.get("mapping", {})
    if not hidden & set(mapping.values()):
        return found
    shown = {k: "(withheld)" if v in hidden else v for k, v in mapping.items()}
    return found.model_copy(update={"scenario": {**found.scenario, "mapping": shown}})
