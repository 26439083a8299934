"""Readiness as a service: gather the facts, score them, store and record the assessment.

Invariants:
    * An assessment reads the estate, the latest committed plan, the registry, lineage,
      monitors, runs and the whole ledger (which it verifies), and nothing else; the digests
      of those inputs are stored with it and written to its ``readiness.assessed`` ledger
      entry, in the same transaction as the stored row.
    * Scores cover the whole estate; a caller who may not read a resource sees the counts but
      not its name, nor the scorecard of a site it may not read (:func:`redact`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from keel import progress, readiness, wire
from keel.errors import IntegrityError, LedgerError
from keel.estate import Estate
from keel.estate.digest import canonical_json
from keel.estate.resources import (
    DatasetSpec,
    ModelSpec,
    MonitorSpec,
    QuestionnaireSpec,
)
from keel.lineage.graph import KEEL_NAMESPACE
from keel.placement.problem import compile_problem
from keel.readiness.facts import (
    Answers,
    DatasetFacts,
    Facts,
    LedgerFacts,
    ModelFacts,
    MonitorFacts,
    Outage,
    PoolFacts,
    PriceChange,
    RunFacts,
    SiteFacts,
    VersionFacts,
    WorkloadFacts,
)
from keel.readiness.guide import TIERS
from keel.service import engines, ledger, policy
from keel.service.actor import Actor
from keel.service.lineage import Visible
from keel.service.stored import estate_in
from keel.service.workspace import Unit, Workspace
from keel.store import ResourceRepository
from keel.store.ledger import LedgerRepository
from keel.store.lineage import LineageRepository
from keel.store.monitors import MonitorRepository
from keel.store.plans import PlanRepository
from keel.store.readiness import ReadinessRepository, StoredAssessment
from keel.store.registry import RegistryRepository
from keel.store.runs import RunRepository

SCAN_CHUNK = 5_000
"""Ledger entries read per query while scanning."""

TREND_POINTS = 100
"""Past assessments shown in a trend."""


def _digest(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value).encode()).hexdigest()


# -- gathering --------------------------------------------------------------------------------


def _sites(estate: Estate) -> tuple[SiteFacts, ...]:
    served = engines.clusters_by_site(estate)
    found = []
    for site in sorted(estate.sites.values(), key=lambda s: s.name):
        pue_from = site.defaults.get("pue", "")
        found.append(
            SiteFacts(
                name=site.name,
                kind=site.kind,
                provider=site.provider,
                available=site.available,
                pools=tuple(
                    PoolFacts(p.name, p.accelerator, p.count, p.usd_per_hour) for p in site.pools
                ),
                pue=site.pue,
                carbon_gco2e_per_kwh=site.carbon_intensity_gco2e_per_kwh,
                energy_published=not pue_from or pue_from.startswith("catalog:regions"),
                clusters=(served[site.name][0],) if site.name in served else (),
            )
        )
    return tuple(found)


def _feasibility(
    estate: Estate,
) -> tuple[dict[str, int], dict[str, tuple[str, ...]], set[str]]:
    """Feasible sites (how many) and site kinds per workload; the workloads denied outright."""
    engine = policy.engine_for(estate)
    decisions = policy.decide(estate, engine=engine)
    problem = compile_problem(estate, objective="balanced", policy=policy.denial_mask(decisions))
    denied = {name for name, d in decisions.items() if d.denied}
    if not problem.workloads or not len(problem.option_site):
        return dict.fromkeys(problem.workloads, 0), {}, denied
    # Workloads x sites: feasible at a site when one of its options is (options grouped by site).
    order = np.argsort(problem.option_site, kind="stable")
    site_of = np.asarray(problem.option_site)[order]
    starts = np.flatnonzero(np.r_[True, site_of[1:] != site_of[:-1]])
    at_site = np.logical_or.reduceat(problem.feasible[:, order], starts, axis=1)
    site_kinds = np.array([problem.site_kind[s] for s in site_of[starts]])
    kinds_present = sorted(set(site_kinds))
    by_kind = np.stack([at_site[:, site_kinds == k].any(axis=1) for k in kinds_present], axis=1)
    counts = at_site.sum(axis=1)
    return (
        {name: int(counts[w]) for w, name in enumerate(problem.workloads)},
        {
            name: tuple(k for k, ok in zip(kinds_present, by_kind[w], strict=True) if ok)
            for w, name in enumerate(problem.workloads)
        },
        denied,
    )


def _monitors(
    estate: Estate, checks: dict[str, tuple[datetime, dict[str, Any]]], now: datetime
) -> tuple[tuple[MonitorFacts, ...], dict[str, list[str]], dict[str, bool | None], set[str]]:
    """Monitor facts; monitors per workload; latency met per workload; workloads measured."""
    found = []
    by_workload: dict[str, list[str]] = {}
    latency: dict[str, bool | None] = {}
    measured = set()
    for name, spec in sorted(estate.specs(MonitorSpec).items()):
        by_workload.setdefault(spec.workload, []).append(name)
        checked = checks.get(name)
        at = checked[0] if checked else None
        overdue = at is None or now - at > timedelta(minutes=2 * spec.every_minutes)
        found.append(MonitorFacts(name, spec.workload, overdue))
        if spec.performance is not None or spec.latency is not None:
            measured.add(spec.workload)
        if spec.latency is not None:
            conditions = (checked[1].get("conditions") or []) if checked else []
            seen = [c for c in conditions if str(c.get("key", "")).startswith("latency")]
            met = None if not seen else not any(c.get("firing") for c in seen)
            before = latency.get(spec.workload)
            if met is not None:  # every latency check that ran must be met
                latency[spec.workload] = met if before is None else before and met
    return tuple(found), by_workload, latency, measured


def _workloads(
    estate: Estate,
    plan: dict[str, Any] | None,
    monitors: dict[str, list[str]],
    latency: dict[str, bool | None],
    measured: set[str],
) -> tuple[WorkloadFacts, ...]:
    with progress.step("deciding where each workload could run"):
        sites, kinds, denied = _feasibility(estate)
    placed: dict[str, dict[tuple[str, str], int]] = {}
    unplaced: dict[str, int] = {}
    for p in (plan or {}).get("placements", []):
        where = placed.setdefault(p["workload"], {})
        where[(p["site"], p["pool"])] = where.get((p["site"], p["pool"]), 0) + int(p["devices"])
    for u in (plan or {}).get("unplaced", []):
        unplaced[u["workload"]] = unplaced.get(u["workload"], 0) + int(u["replicas"])
    found = []
    workloads = estate.workloads()
    for name in sorted(workloads):
        spec = workloads[name]
        found.append(
            WorkloadFacts(
                name=name,
                kind=str(spec.kind),
                model=spec.model.partition("@")[0],
                feasible_sites=sites.get(name, 0),
                feasible_kinds=kinds.get(name, ()),
                denied=name in denied,
                monitors=tuple(monitors.get(name, ())),
                latency_met=latency.get(name),
                measured=name in measured,
                placed=placed.get(name, {}),
                replicas=spec.compute.replicas,
                unplaced=unplaced.get(name, 0),
            )
        )
    return tuple(found)


def _models(
    estate: Estate, unit: Unit, origins: dict[tuple[str, str], set[str]]
) -> tuple[ModelFacts, ...]:
    repo = unit.repository(RegistryRepository)
    stored = {(v.model, v.version): v for v in repo.versions()}
    found = []
    for name, spec in sorted(estate.specs(ModelSpec).items()):
        versions = []
        for v in spec.versions:
            row = stored.get((name, v.version))
            events = repo.events(name, v.version) if row else []
            approvers = tuple(
                sorted({e.principal or "" for e in events if e.type == "approved"} - {""})
            )
            versions.append(
                VersionFacts(
                    model=name,
                    version=v.version,
                    state=row.state if row else v.state,
                    approvers=approvers or tuple(sorted(set(v.approved_by))),
                    evaluations=sum(1 for e in events if e.type == "evaluated"),
                    lineage=bool(origins.get(("model", f"{name}@{v.version}"))),
                    through_keel=row is not None and row.declared_state == "draft",
                )
            )
        found.append(
            ModelFacts(
                name=name,
                risk_tier=spec.risk_tier,
                owner=spec.owner is not None,
                oversight=spec.oversight_contact is not None,
                risk_assessment=spec.risk_assessment,
                logging=spec.logging_enabled,
                versions=tuple(versions),
            )
        )
    return tuple(found)


def _datasets(estate: Estate, origins: dict[tuple[str, str], set[str]]) -> tuple[DatasetFacts, ...]:
    # A dataset's lineage is known when a pipeline reported it (an OpenLineage edge); the
    # edges Keel draws from the estate (inputs, trained_on) are declared, not observed.
    return tuple(
        DatasetFacts(
            name=name,
            owner=spec.owner is not None,
            lineage="openlineage" in origins.get(("dataset", name), set()),
        )
        for name, spec in sorted(estate.specs(DatasetSpec).items())
    )


def _runs(unit: Unit) -> tuple[RunFacts, ...]:
    found = []
    for run in unit.repository(RunRepository).all():
        wait = None
        if run.submitted_at is not None and run.started_at is not None:
            wait = max(0.0, (run.started_at - run.submitted_at).total_seconds())
        found.append(
            RunFacts(
                workload=run.workload,
                site=run.site,
                state=run.state,
                decision_index=run.decision_index,
                wait_s=wait,
                energy_kwh=run.energy_kwh,
                measured=run.energy_source not in (None, "estimated"),
            )
        )
    return tuple(found)


class _LedgerScan:
    """What readiness needs from the ledger, in one pass over it."""

    def __init__(self) -> None:
        self.plan_index: int | None = None
        self.available: dict[str, bool] = {}
        self.prices: dict[tuple[str, str], float] = {}
        self.outages: list[dict[str, Any]] = []
        self.price_changes: list[PriceChange] = []
        self.raised: list[int] = []
        self.resolved: list[int] = []
        self.cancelled: list[tuple[int, str, str]] = []  # (index, workload, site)
        self.started: list[tuple[int, datetime, str, str]] = []

    def add(self, index: int, at: datetime, entry: dict[str, Any]) -> None:
        kind = entry.get("type")
        if kind == "plan.committed":
            self.plan_index = index
            for outage in self.outages:
                if outage["replanned_index"] is None:
                    outage.update(replanned_index=index, replanned_at=at)
        elif kind in ("estate.created", "estate.configured") and entry.get("kind") == "Site":
            self._site(index, at, entry)
        elif kind == "alert.raised":
            self.raised.append(index)
        elif kind == "alert.resolved":
            self.resolved.append(index)
        elif kind == "run.cancelled":
            self.cancelled.append((index, str(entry.get("workload")), str(entry.get("site"))))
        elif kind == "run.started":
            self.started.append((index, at, str(entry.get("workload")), str(entry.get("site"))))

    def _site(self, index: int, at: datetime, entry: dict[str, Any]) -> None:
        site = str(entry.get("name"))
        available = entry.get("available")
        if isinstance(available, bool):
            if not available and self.available.get(site, True):
                self.outages.append(
                    {"site": site, "index": index, "at": at, "replanned_index": None}
                )
            if available and not self.available.get(site, True):
                for outage in self.outages:
                    if outage["site"] == site and "recovered_index" not in outage:
                        outage.update(recovered_index=index, recovered_at=at)
            self.available[site] = available
        prices = entry.get("usd_per_device_hour")
        for pool, usd in (prices or {}).items() if isinstance(prices, dict) else ():
            before = self.prices.get((site, pool))
            if before is not None and before != usd:
                self.price_changes.append(
                    PriceChange(site, pool, index, at, float(before), float(usd))
                )
            self.prices[(site, pool)] = float(usd)

    def _moves(self, outage: dict[str, Any]) -> dict[str, Any]:
        """The work an outage stopped at its site, and when it started again elsewhere."""
        end = outage.get("recovered_index")
        moved = {
            w
            for i, w, site in self.cancelled
            if site == outage["site"] and i > outage["index"] and (end is None or i < end)
        }
        back: dict[str, tuple[int, datetime]] = {}
        for i, at, w, site in self.started:
            if w in moved and w not in back and i > outage["index"] and site != outage["site"]:
                back[w] = (i, at)
        last = max(back.values(), default=None)
        return {
            "moved": len(moved),
            "resumed": len(back),
            "resumed_index": last[0] if last else None,
            "resumed_at": last[1] if last else None,
        }

    def facts(self, size: int, verified: bool, checkpoint: int) -> LedgerFacts:
        return LedgerFacts(
            size=size,
            verified=verified,
            checkpoint_size=checkpoint,
            plan_index=self.plan_index,
            outages=tuple(Outage(**o, **self._moves(o)) for o in self.outages),
            price_changes=tuple(self.price_changes),
            alerts_raised=tuple(self.raised),
            alerts_resolved=tuple(self.resolved),
        )


def _scan_ledger(unit: Unit, size: int) -> _LedgerScan:
    repo = unit.repository(LedgerRepository)
    scan = _LedgerScan()
    for start in range(0, size, SCAN_CHUNK):
        for index, raw, at in repo.entries(start, min(size, start + SCAN_CHUNK)):
            scan.add(index, at, orjson.loads(raw))
    return scan


def _answers(estate: Estate) -> Answers | None:
    # The newest answers count; older questionnaires stay in the estate as a record.
    found = sorted(estate.specs(QuestionnaireSpec).items(), key=lambda i: (i[1].as_of, i[0]))
    if not found:
        return None
    name, spec = found[-1]
    return Answers(
        name=name,
        answered_by=spec.answered_by,
        as_of=spec.as_of.isoformat(),
        trained_share_pct=spec.talent.trained_share_pct,
        roadmap=spec.talent.roadmap,
        infrastructure_engineers=spec.talent.infrastructure_engineers,
        coe_exists=spec.centre_of_excellence.exists,
        coe_cross_functional=spec.centre_of_excellence.cross_functional,
        coe_shares_practices=spec.centre_of_excellence.shares_practices,
        partnership_model=spec.partnerships.model,
        judged_on_execution=spec.partnerships.judged_on_execution,
    )


def gather(workspace: Workspace) -> tuple[Facts, dict[str, str | int | None]]:
    """Read everything an assessment needs, with the digests of what was read.

    Args:
        workspace: The workspace.

    Returns:
        The facts and the inputs' digests and sizes.
    """
    now = datetime.now(UTC)
    with progress.step("verifying the ledger"):
        try:
            ledger.verify(workspace)
            verified = True
        except (IntegrityError, LedgerError):
            verified = False
    with (
        progress.step("reading the estate and its records"),
        workspace.unit(snapshot=True) as unit,  # the digest is this estate's
    ):
        estate = estate_in(unit)
        revision, estate_digest = unit.repository(ResourceRepository).revision()
        latest = unit.repository(PlanRepository).latest()
        checks = unit.repository(MonitorRepository).latest_checks()
        origins = unit.repository(LineageRepository).edge_origins(KEEL_NAMESPACE)
        models = _models(estate, unit, origins)
        runs = _runs(unit)
        ledger_repo = unit.repository(LedgerRepository)
        size = ledger_repo.size()
        checkpoint = ledger_repo.latest_checkpoint()
        scan = _scan_ledger(unit, size)
    monitor_facts, by_workload, latency, measured = _monitors(estate, checks, now)
    plan = latest[1] if latest else None
    facts = Facts(
        now=now,
        sites=_sites(estate),
        workloads=_workloads(estate, plan, by_workload, latency, measured),
        models=models,
        datasets=_datasets(estate, origins),
        monitors=monitor_facts,
        runs=runs,
        ledger=scan.facts(size, verified, checkpoint[0] if checkpoint else 0),
        packs=tuple(sorted({p.name for s in policy.policy_sets(estate).values() for p in s.packs})),
        plan_id=latest[0] if latest else None,
        answers=_answers(estate),
    )
    inputs: dict[str, str | int | None] = {
        "estate_revision": revision,
        "estate_digest": estate_digest,
        "policy_digest": plan.get("policy_digest") if plan else None,
        "plan_id": facts.plan_id,
        "plan_digest": _digest(plan) if plan else None,
        "ledger_size": size,
        "ledger_root": checkpoint[1].hex() if checkpoint else None,
        "runs_digest": _digest([asdict(r) for r in runs]),
        "checks_digest": _digest(
            sorted((name, at.isoformat()) for name, (at, _) in checks.items())
        ),
        "registry_digest": _digest(
            [[v.ref, v.state, v.approvers, v.evaluations] for m in models for v in m.versions]
        ),
    }
    return facts, inputs


# -- assessing, storing, reading --------------------------------------------------------------

TIER_OF = {key: tier for tier, keys in TIERS.items() for key in keys}


def to_json(found: readiness.Assessment) -> dict[str, Any]:
    """An assessment as stored (its sub-scores' values included, for trends)."""
    return {
        "scores": [
            {
                "key": s.key,
                "label": s.label,
                "axis": s.axis,
                "source": s.source,
                "tier": TIER_OF[s.key],
                "value": s.value,
                "components": [
                    {**asdict(c), "value": None if c.value is None else round(100 * c.value, 1)}
                    for c in s.components
                ],
            }
            for s in found.scores
        ],
        "tiers": [asdict(t) for t in found.tiers],
        "steps": [
            {**asdict(s), "value": None if s.value is None else round(100 * s.value, 1)}
            for s in found.steps
        ],
        "sites": [asdict(c) for c in found.sites],
    }


def assess(workspace: Workspace, *, actor: Actor) -> wire.Readiness:
    """Compute an assessment, store it and record it in the ledger, in one transaction.

    Args:
        workspace: The workspace.
        actor: Who asked (recorded with the entry).

    Returns:
        The assessment with the trend up to it.
    """
    facts, inputs = gather(workspace)
    with progress.step("scoring"):
        found = readiness.assess(facts)
    body = to_json(found)
    digest = _digest(body)
    now = datetime.now(UTC)
    values = {s.key: s.value for s in found.scores}
    with workspace.unit(actor.principal, write=True) as unit:
        entry: dict[str, Any] = {
            "type": "readiness.assessed",
            "assessment_digest": digest,
            "readiness": found.readiness,
            "maturity": found.maturity,
            "declared": found.declared,
            "level": found.level,
            "tier": found.tier,
            "scores": values,
            "inputs": inputs,
        }
        index, _ = ledger.record(unit, [entry])
        made = unit.repository(ReadinessRepository).add(
            StoredAssessment(
                id=0,
                created_at=now,
                readiness=found.readiness,
                maturity=found.maturity,
                declared=found.declared,
                level=found.level,
                tier=found.tier,
                ledger_index=index,
                inputs=inputs,
                scores=values,
                assessment=body,
            )
        )
    answer = latest(workspace, made)  # this one, even if another caller assessed since
    assert answer is not None
    return answer


def latest(workspace: Workspace, assessment_id: int | None = None) -> wire.Readiness | None:
    """The newest stored assessment (or one by id) with the trend up to it, or ``None``.

    Args:
        workspace: The workspace.
        assessment_id: Which one; the newest when ``None``.

    Returns:
        The assessment.
    """
    with workspace.unit() as unit:
        repo = unit.repository(ReadinessRepository)
        found = repo.get(assessment_id)
        if found is None:
            return None
        trend = repo.trend(found.id, TREND_POINTS)
    body = found.assessment
    return wire.Readiness(
        id=found.id,
        at=found.created_at,
        ledger_index=found.ledger_index,
        readiness=found.readiness,
        maturity=found.maturity,
        declared=found.declared,
        level=found.level,
        tier=found.tier,
        scores=[wire.ReadinessScore.model_validate(s) for s in body["scores"]],
        tiers=[wire.ReadinessTier.model_validate(t) for t in body["tiers"]],
        steps=[wire.ReadinessStep.model_validate(s) for s in body["steps"]],
        sites=[wire.SiteScorecard.model_validate(c) for c in body["sites"]],
        inputs=found.inputs,
        trend=[
            wire.TrendPoint(
                id=p.id,
                at=p.created_at,
                readiness=p.readiness,
                maturity=p.maturity,
                declared=p.declared,
                level=p.level,
                tier=p.tier,
                scores=p.scores,
            )
            for p in trend
        ],
    )


def _resources(refs: Iterable[str]) -> list[str]:
    return [r for r in refs if "/" in r and ":" not in r.partition("/")[0]]


def redact(found: wire.Readiness, visible: Visible) -> wire.Readiness:
    """An assessment without the names of resources the caller may not read.

    Scores and counts stay (they cover the whole estate); a withheld name is counted in its
    component's ``withheld``.

    Args:
        found: The assessment.
        visible: The caller's read decisions.

    Returns:
        The assessment as the caller may see it.
    """
    named = sorted(
        {r for s in found.scores for c in s.components for r in _resources([*c.refs, *c.gaps])}
        | {r for step in found.steps for r in _resources(step.gaps)}
        | {f"Site/{card.site}" for card in found.sites}
    )
    allowed = visible(named) if named else []
    hidden = {r for r, ok in zip(named, allowed, strict=True) if not ok}
    if not hidden:
        return found

    def keep(items: list[str]) -> list[str]:
        return [r for r in items if r not in hidden]

    scores = [
        s.model_copy(
            update={
                "components": [
                    c.model_copy(
                        update={
                            "refs": keep(c.refs),
                            "gaps": keep(c.gaps),
                            "withheld": sum(r in hidden for r in [*c.refs, *c.gaps]),
                        }
                    )
                    for c in s.components
                ]
            }
        )
        for s in found.scores
    ]
    steps = [s.model_copy(update={"gaps": keep(s.gaps)}) for s in found.steps]
    sites = [card for card in found.sites if f"Site/{card.site}" not in hidden]
    return found.model_copy(update={"scores": scores, "steps": steps, "sites": sites})
