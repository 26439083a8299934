"""The readiness and maturity index: sub-scores from facts, each with its evidence.

The report (IBM IBV, 2025, "AI 落地的必备要素" and "调研和分析方法") combines two survey measures:
**maturity** of the AI operating model (governance, infrastructure, talent, process,
partnerships, risk management, performance measurement) and **readiness** of the AI
infrastructure (scalability, integration, adaptability, real-time, multi-environment
deployment, compliance). Keel computes each from what it recorded instead of asking.

Every sub-score is the mean of its components, each a share in [0, 1] shown as 0-100, with
the counts and names behind it. A component with nothing to measure (no online workload for
real-time, no outage yet for recovery) is ``None`` and left out of the mean, never scored as 0
or 100. Talent, partnerships and a centre of excellence cannot be seen in an estate: they come
from the Questionnaire, are marked ``declared`` and are kept out of the measured indices.

The formulas, with their sources, are in docs/readiness.md; a test keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import fmean
from typing import Literal

from keel.readiness.facts import SERVING_KINDS, SITE_KINDS, Facts, Outage

Axis = Literal["readiness", "maturity"]
Source = Literal["measured", "declared"]

HEADROOM_TARGET = 0.2
"""Spare devices per accelerator class that earn full marks: 20% above what the plan holds."""

RECOVERY_FULL_MIN = 15.0
"""An outage re-planned within this many minutes earns full marks..."""

RECOVERY_ZERO_MIN = 24 * 60.0
"""...falling linearly to nothing at a day."""

MAX_REFS = 50
"""Names shown per component; the count always covers all."""


@dataclass(frozen=True, slots=True)
class Component:
    """One measured part of a sub-score.

    Attributes:
        key: Stable key (``monitored``), unique within its score.
        label: What it measures, for people.
        value: A share in [0, 1], or ``None`` when there is nothing to measure.
        detail: The counts behind it, in words.
        refs: Evidence: resources (``Workload/x``), ledger entries (``ledger:172``), the plan
            (``plan:3``).
        gaps: The resources that hold it back (what a next step names).
    """

    key: str
    label: str
    value: float | None
    detail: str
    refs: tuple[str, ...] = ()
    gaps: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Score:
    """One sub-score of the index."""

    key: str
    label: str
    axis: Axis
    source: Source
    components: tuple[Component, ...]

    @property
    def value(self) -> float | None:
        """0-100: the mean of the components that measure something (``None`` if none do)."""
        known = [c.value for c in self.components if c.value is not None]
        return round(100 * fmean(known), 1) if known else None


def _names(items: Iterable[str], kind: str) -> tuple[str, ...]:
    """``Kind/name`` references (names that carry their kind already when ``kind`` is empty)."""
    return tuple(f"{kind}/{n}" if kind else n for n in sorted(items))[:MAX_REFS]


def share(
    key: str, label: str, good: Sequence[str], every: Sequence[str], *, kind: str, noun: str
) -> Component:
    """A component that is the share of ``every`` in ``good``.

    Args:
        key: The component's key.
        label: What it measures.
        good: Names that meet it.
        every: Every name it is measured over.
        kind: Resource kind of the names (``Workload``); empty when they carry it.
        noun: How to call ``every`` in the detail (``serving workloads``).

    Returns:
        The component; ``None`` valued when ``every`` is empty.
    """
    met = set(good)
    missing = [n for n in every if n not in met]
    if not every:
        return Component(key, label, None, "nothing to measure")
    return Component(
        key,
        label,
        (len(every) - len(missing)) / len(every),
        f"{len(every) - len(missing)} of {len(every)} {noun}",
        _names((n for n in every if n in met), kind),
        _names(missing, kind),
    )


def _plan_ref(facts: Facts) -> tuple[str, ...]:
    refs = []
    if facts.plan_id is not None:
        refs.append(f"plan:{facts.plan_id}")
    if facts.ledger.plan_index is not None:
        refs.append(f"ledger:{facts.ledger.plan_index}")
    return tuple(refs)


# -- readiness --------------------------------------------------------------------------------


def scalability(facts: Facts) -> Score:
    """Headroom per accelerator class, breadth of placement, replicas placed."""
    capacity: dict[str, int] = {}
    pool_accelerator = {}
    for site in facts.sites:
        for pool in site.pools:
            pool_accelerator[(site.name, pool.name)] = pool.accelerator
            if site.available:
                capacity[pool.accelerator] = capacity.get(pool.accelerator, 0) + pool.devices
    held: dict[str, int] = {}
    for w in facts.workloads:
        for where, devices in w.placed.items():
            accelerator = pool_accelerator.get(where)
            if accelerator is not None:
                held[accelerator] = held.get(accelerator, 0) + devices
    parts = []
    tight = []
    for accelerator in sorted(capacity):
        total, used = capacity[accelerator], held.get(accelerator, 0)
        spare = 1 - used / total if total else 0.0
        parts.append(min(1.0, max(0.0, spare) / HEADROOM_TARGET))
        if spare < HEADROOM_TARGET:
            tight.append(f"{accelerator} ({used} of {total} devices held)")
    held_text = ", ".join(f"{a} {held.get(a, 0)}/{capacity[a]}" for a in sorted(capacity))
    headroom = Component(
        "headroom",
        f"accelerator classes with {HEADROOM_TARGET:.0%} spare devices over what the plan holds",
        fmean(parts) if parts and facts.plan_id is not None else None,
        f"devices held by the plan / available: {held_text}" if parts else "no devices",
        _plan_ref(facts),
        tuple(tight),
    )
    names = [w.name for w in facts.workloads]
    broad = [w.name for w in facts.workloads if len(set(w.feasible_kinds)) >= 2]
    breadth = share(
        "breadth",
        "workloads placeable in two or more kinds of site",
        broad,
        names,
        kind="Workload",
        noun="workloads placeable in 2+ site kinds",
    )
    asked = sum(w.replicas for w in facts.workloads)
    got = asked - sum(w.unplaced for w in facts.workloads)
    unplaced = [w.name for w in facts.workloads if w.unplaced]
    placed = Component(
        "placed",
        "replicas the latest plan placed",
        got / asked if asked and facts.plan_id is not None else None,
        f"{got} of {asked} replicas placed" if facts.plan_id is not None else "no committed plan",
        _plan_ref(facts),
        _names(unplaced, "Workload"),
    )
    return Score("scalability", "Scalability", "readiness", "measured", (headroom, breadth, placed))


def integration(facts: Facts) -> Score:
    """Lineage of data and models, monitors on serving work, engines connected."""
    traced = [d.name for d in facts.datasets if d.lineage]
    lineage_data = share(
        "lineage_data",
        "datasets with lineage",
        traced,
        [d.name for d in facts.datasets],
        kind="Dataset",
        noun="datasets with lineage",
    )
    versions = [v for m in facts.models for v in m.versions]
    lineage_models = share(
        "lineage_models",
        "model versions with lineage (trained-on data or producing jobs)",
        [v.ref for v in versions if v.lineage],
        [v.ref for v in versions],
        kind="ModelVersion",
        noun="model versions with lineage",
    )
    serving = [w for w in facts.workloads if w.kind in SERVING_KINDS]
    monitored = share(
        "monitored",
        "serving workloads (online, batch inference, agents) with a monitor",
        [w.name for w in serving if w.monitors],
        [w.name for w in serving],
        kind="Workload",
        noun="serving workloads with a monitor",
    )
    with_devices = [s for s in facts.sites if s.devices and s.available]
    engines = share(
        "engines",
        "available sites served by an engine (a Cluster)",
        [s.name for s in with_devices if s.clusters],
        [s.name for s in with_devices],
        kind="Site",
        noun="available sites with an engine",
    )
    return Score(
        "integration",
        "Integration",
        "readiness",
        "measured",
        (lineage_data, lineage_models, monitored, engines),
    )


def _took(minutes: float) -> str:
    return f"{minutes * 60:.0f} s" if minutes < 1 else f"{minutes:.1f} min"


def _recovery(minutes: float) -> float:
    if minutes <= RECOVERY_FULL_MIN:
        return 1.0
    span = RECOVERY_ZERO_MIN - RECOVERY_FULL_MIN
    return max(0.0, 1 - (minutes - RECOVERY_FULL_MIN) / span)


def adaptability(facts: Facts) -> Score:
    """A fallback site for every workload; how fast outages were re-planned."""
    names = [w.name for w in facts.workloads if not w.denied]
    fallback = share(
        "fallback",
        "workloads with a second site to move to",
        [w.name for w in facts.workloads if w.feasible_sites >= 2],
        names,
        kind="Workload",
        noun="workloads with 2+ feasible sites",
    )
    outages = facts.ledger.outages
    value, waits, refs = _promptness([(o, o.replanned_index, o.replanned_at, 1.0) for o in outages])
    worst = f", slowest after {_took(max(waits))}" if waits else ""
    recovery = Component(
        "recovery",
        "site outages re-planned promptly",
        value,
        f"{len(outages)} outage(s); {len(waits)} re-planned{worst}; "
        f"full marks within {RECOVERY_FULL_MIN:g} min"
        if outages
        else "no site outage recorded yet",
        refs,
        tuple(f"Site/{o.site}" for o in outages if o.replanned_at is None),
    )
    return Score(
        "adaptability",
        "Adaptability",
        "readiness",
        "measured",
        (fallback, recovery, _resumed(facts)),
    )


def _promptness(
    done: Sequence[tuple[Outage, int | None, datetime | None, float]],
) -> tuple[float | None, list[float], tuple[str, ...]]:
    """Mark each outage by how soon something followed it.

    Args:
        done: Per outage: the ledger index and time of what followed (``None``: nothing yet),
            and the share of it that happened.

    Returns:
        The mean mark (``None`` without outages), the minutes waited, the ledger references.
    """
    marks, waits, refs = [], [], []
    for outage, index, at, part in done:
        refs.append(f"ledger:{outage.index}")
        if at is None:
            marks.append(0.0)
            continue
        minutes = (at - outage.at).total_seconds() / 60
        waits.append(minutes)
        marks.append(part * _recovery(minutes))
        refs.append(f"ledger:{index}")
    return (fmean(marks) if marks else None), waits, tuple(refs)[:MAX_REFS]


def _resumed(facts: Facts) -> Component:
    """How soon the work an outage stopped ran again elsewhere (from the runs' entries)."""
    moving = [o for o in facts.ledger.outages if o.moved]
    value, waits, refs = _promptness(
        [(o, o.resumed_index, o.resumed_at, o.resumed / o.moved) for o in moving]
    )
    moved = sum(o.moved for o in moving)
    back = sum(o.resumed for o in moving)
    slowest = f", the last after {_took(max(waits))}" if waits else ""
    return Component(
        "resumed",
        "work stopped by an outage running again elsewhere, promptly",
        value,
        f"{back} of {moved} moved workloads started again{slowest}"
        if moving
        else "no outage has moved running work yet",
        refs,
        tuple(f"Site/{o.site}" for o in moving if o.resumed < o.moved),
    )


def real_time(facts: Facts) -> Score:
    """Online workloads meeting their latency SLO at their latest check."""
    online = [w for w in facts.workloads if w.kind == "online_inference"]
    attained = share(
        "slo",
        "online workloads whose latest latency check met the SLO",
        [w.name for w in online if w.latency_met],
        [w.name for w in online],
        kind="Workload",
        noun="online workloads meeting their latency SLO",
    )
    return Score("real_time", "Real-time", "readiness", "measured", (attained,))


def multi_environment(facts: Facts) -> Score:
    """Work the latest plan spreads over on-premises, private, public and edge sites."""
    kind_of = {s.name: s.kind for s in facts.sites}
    devices = dict.fromkeys(SITE_KINDS, 0)
    for w in facts.workloads:
        for (site, _pool), count in w.placed.items():
            kind = kind_of.get(site)
            if kind in devices:
                devices[kind] += count
    used = [k for k in SITE_KINDS if devices[k]]
    spread = Component(
        "spread",
        "kinds of site the plan uses (on-premises, private cloud, public cloud, edge)",
        len(used) / len(SITE_KINDS) if facts.plan_id is not None else None,
        "devices held per kind: " + ", ".join(f"{k} {devices[k]}" for k in SITE_KINDS),
        _plan_ref(facts),
        tuple(f"site kind {k}" for k in SITE_KINDS if not devices[k]),
    )
    return Score("multi_environment", "Multi-environment", "readiness", "measured", (spread,))


def _high_risk_versions(facts: Facts) -> list[tuple[str, bool]]:
    """``(ref, ok)`` for approved or deployed versions of high-risk models."""
    return [
        (v.ref, len(set(v.approvers)) >= 2 and model.risk_assessment == "approved")
        for model in facts.models
        if model.risk_tier == "high"
        for v in model.versions
        if v.state in ("approved", "deployed")
    ]


def compliance(facts: Facts) -> Score:
    """Packs in force, denials resolved, high-risk models approved twice, the ledger."""
    packs = Component(
        "packs",
        "regulation packs in force",
        (1.0 if facts.packs else 0.0) if facts.workloads else None,
        f"{len(facts.packs)} pack(s): {', '.join(facts.packs)}" if facts.packs else "no pack",
        tuple(f"pack:{p}" for p in facts.packs),
        () if facts.packs else ("PolicySet packs",),
    )
    denials = share(
        "denials",
        "workloads no compliance rule denies outright",
        [w.name for w in facts.workloads if not w.denied],
        [w.name for w in facts.workloads],
        kind="Workload",
        noun="workloads not denied",
    )
    risky = _high_risk_versions(facts)
    approvals = share(
        "high_risk",
        "high-risk versions in use with two approvers and an approved risk assessment",
        [ref for ref, ok in risky if ok],
        [ref for ref, _ in risky],
        kind="ModelVersion",
        noun="high-risk versions approved twice with an assessment",
    )
    # Verification passes only when the newest signed checkpoint covers every entry, so a
    # verified ledger is a published one.
    ledger = facts.ledger
    audit = Component(
        "ledger",
        "ledger verified, with a current signed checkpoint",
        (1.0 if ledger.verified else 0.0) if ledger.size else None,
        f"{ledger.size} entries, {'verified' if ledger.verified else 'FAILED verification'}; "
        + (
            f"latest checkpoint covers {ledger.checkpoint_size}"
            if ledger.checkpoint_size
            else "no signed checkpoint"
        ),
        (f"checkpoint:{ledger.checkpoint_size}",) if ledger.checkpoint_size else (),
        () if ledger.verified else ("ledger checkpoint",),
    )
    return Score(
        "compliance", "Compliance", "readiness", "measured", (packs, denials, approvals, audit)
    )


# -- maturity (measured) ----------------------------------------------------------------------


def governance(facts: Facts) -> Score:
    """Named owners for models and data, an oversight contact for each model."""
    owned = share(
        "owners",
        "models and datasets with a named owner",
        [f"Model/{m.name}" for m in facts.models if m.owner]
        + [f"Dataset/{d.name}" for d in facts.datasets if d.owner],
        [f"Model/{m.name}" for m in facts.models] + [f"Dataset/{d.name}" for d in facts.datasets],
        kind="",
        noun="models and datasets with an owner",
    )
    oversight = share(
        "oversight",
        "models with a human oversight contact",
        [m.name for m in facts.models if m.oversight],
        [m.name for m in facts.models],
        kind="Model",
        noun="models with an oversight contact",
    )
    return Score("governance", "Governance", "maturity", "measured", (owned, oversight))


def infrastructure(facts: Facts) -> Score:
    """Devices available now; sites whose energy figures are their own."""
    total = sum(s.devices for s in facts.sites)
    up = sum(s.devices for s in facts.sites if s.available)
    down = [s.name for s in facts.sites if not s.available]
    available = Component(
        "available",
        "accelerator devices at available sites",
        up / total if total else None,
        f"{up} of {total} devices available",
        (),
        _names(down, "Site"),
    )
    energy = share(
        "energy_data",
        "sites with a stated or published PUE (not a generic default)",
        [s.name for s in facts.sites if s.energy_published],
        [s.name for s in facts.sites],
        kind="Site",
        noun="sites with their own PUE",
    )
    return Score("infrastructure", "Infrastructure", "maturity", "measured", (available, energy))


def process(facts: Facts) -> Score:
    """Versions through the lifecycle, runs from committed plans, monitors on schedule."""
    versions = [v for m in facts.models for v in m.versions if v.state != "draft"]
    lifecycle = share(
        "lifecycle",
        "versions past draft that reached their state through Keel's lifecycle",
        [v.ref for v in versions if v.through_keel],
        [v.ref for v in versions],
        kind="ModelVersion",
        noun="versions moved through the lifecycle in Keel",
    )
    runs = list(facts.runs)
    traced = [r for r in runs if r.decision_index is not None]
    dispatched = Component(
        "dispatched",
        "runs that carry the placement decision they came from",
        len(traced) / len(runs) if runs else None,
        f"{len(traced)} of {len(runs)} runs" if runs else "nothing dispatched yet",
        tuple(sorted({f"ledger:{r.decision_index}" for r in traced}))[:MAX_REFS],
        _names({r.workload for r in runs if r.decision_index is None}, "Workload"),
    )
    on_time = share(
        "on_schedule",
        "monitors checked within twice their period",
        [m.name for m in facts.monitors if not m.overdue],
        [m.name for m in facts.monitors],
        kind="Monitor",
        noun="monitors on schedule",
    )
    return Score("process", "Process", "maturity", "measured", (lifecycle, dispatched, on_time))


def risk_management(facts: Facts) -> Score:
    """Risk assessed, high-risk models logged and watched, alerts resolved."""
    tiered = [m for m in facts.models if m.risk_tier in ("limited", "high")]
    assessed = share(
        "assessed",
        "limited- and high-risk models with an approved risk assessment",
        [m.name for m in tiered if m.risk_assessment == "approved"],
        [m.name for m in tiered],
        kind="Model",
        noun="models with an approved risk assessment",
    )
    high = {m.name for m in facts.models if m.risk_tier == "high"}
    logging = share(
        "logging",
        "high-risk models that log their decisions (EU AI Act Art. 12)",
        [m.name for m in facts.models if m.name in high and m.logging],
        sorted(high),
        kind="Model",
        noun="high-risk models logging",
    )
    watched = [w for w in facts.workloads if w.model in high and w.kind in SERVING_KINDS]
    monitored = share(
        "high_risk_monitored",
        "serving workloads of high-risk models with a monitor",
        [w.name for w in watched if w.monitors],
        [w.name for w in watched],
        kind="Workload",
        noun="high-risk serving workloads monitored",
    )
    raised, resolved = facts.ledger.alerts_raised, facts.ledger.alerts_resolved
    alerts = Component(
        "alerts",
        "alerts raised that were resolved",
        min(1.0, len(resolved) / len(raised)) if raised else None,
        f"{len(resolved)} of {len(raised)} alerts resolved" if raised else "no alert raised",
        tuple(f"ledger:{i}" for i in (*raised, *resolved))[:MAX_REFS],
    )
    return Score(
        "risk_management",
        "Risk management",
        "maturity",
        "measured",
        (assessed, logging, monitored, alerts),
    )


def performance_measurement(facts: Facts) -> Score:
    """Versions in use evaluated, serving work measured, runs' energy measured."""
    used = [v for m in facts.models for v in m.versions if v.state in ("approved", "deployed")]
    evaluated = share(
        "evaluated",
        "approved or deployed versions with recorded evaluations",
        [v.ref for v in used if v.evaluations],
        [v.ref for v in used],
        kind="ModelVersion",
        noun="versions in use with evaluations",
    )
    serving = [w for w in facts.workloads if w.kind in SERVING_KINDS]
    measured = share(
        "measured",
        "serving workloads whose quality or latency a monitor measures",
        [w.name for w in serving if w.measured],
        [w.name for w in serving],
        kind="Workload",
        noun="serving workloads measured",
    )
    ran = [r for r in facts.runs if r.state in _ENDED and r.wait_s is not None]
    accounted = [r for r in ran if r.energy_kwh is not None]
    energy = Component(
        "energy",
        "runs that ran and ended with their energy accounted (metered or estimated)",
        len(accounted) / len(ran) if ran else None,
        f"{len(accounted)} of {len(ran)} runs, {sum(r.measured for r in accounted)} metered"
        if ran
        else "no run has ended yet",
    )
    return Score(
        "performance_measurement",
        "Performance measurement",
        "maturity",
        "measured",
        (evaluated, measured, energy),
    )


_ENDED = ("succeeded", "failed", "cancelled")


# -- maturity (declared) ----------------------------------------------------------------------

ROADMAP = {"none": 0.0, "hire_only": 0.5, "build_only": 0.5, "build_and_hire": 1.0}
"""The report asks for a balanced talent roadmap that separates building from hiring."""

PARTNERSHIP = {"vendor_pool": 0.0, "transactional": 1 / 3, "integrated": 2 / 3, "strategic": 1.0}
"""Only 5% integrate partners into operations; over a third treat them as a vendor pool."""

ENGINEERS_FULL = 5
"""Engineers running AI infrastructure that earn full marks (a team, not a person)."""


def declared(facts: Facts) -> list[Score]:
    """Talent, partnerships and a centre of excellence, from the Questionnaire."""
    a = facts.answers
    if a is None:
        missing = Component("answers", "the Questionnaire", None, "not declared")
        return [
            Score(key, label, "maturity", "declared", (missing,))
            for key, label in (
                ("talent", "Talent"),
                ("partnerships", "Partnerships"),
                ("centre_of_excellence", "Centre of excellence"),
            )
        ]
    ref = (f"Questionnaire/{a.name}",)
    said = f"declared by {a.answered_by} as of {a.as_of}"
    talent = Score(
        "talent",
        "Talent",
        "maturity",
        "declared",
        (
            Component(
                "trained",
                "staff trained in AI literacy",
                a.trained_share_pct / 100,
                f"{a.trained_share_pct:g}% ({said})",
                ref,
            ),
            Component(
                "roadmap",
                "a talent roadmap that builds and hires",
                ROADMAP[a.roadmap],
                a.roadmap.replace("_", " "),
                ref,
            ),
            Component(
                "engineers",
                f"engineers running AI infrastructure ({ENGINEERS_FULL}+ full)",
                min(1.0, a.infrastructure_engineers / ENGINEERS_FULL),
                f"{a.infrastructure_engineers} engineer(s)",
                ref,
            ),
        ),
    )
    partnerships = Score(
        "partnerships",
        "Partnerships",
        "maturity",
        "declared",
        (
            Component(
                "model",
                "partners integrated into operations",
                PARTNERSHIP[a.partnership_model],
                a.partnership_model.replace("_", " ") + f" ({said})",
                ref,
            ),
            Component(
                "execution",
                "partners judged on execution, not vision",
                1.0 if a.judged_on_execution else 0.0,
                "yes" if a.judged_on_execution else "no",
                ref,
            ),
        ),
    )
    coe = Score(
        "centre_of_excellence",
        "Centre of excellence",
        "maturity",
        "declared",
        (
            Component(
                "exists",
                "an AI centre of excellence",
                1.0 if a.coe_exists else 0.0,
                ("exists" if a.coe_exists else "none") + f" ({said})",
                ref,
            ),
            Component(
                "practice",
                "cross-functional, sharing practices",
                (a.coe_cross_functional + a.coe_shares_practices) / 2 if a.coe_exists else 0.0,
                f"cross-functional: {a.coe_cross_functional}, "
                f"shares practices: {a.coe_shares_practices}",
                ref,
            ),
        ),
    )
    return [talent, partnerships, coe]


MEASURED = (
    scalability,
    integration,
    adaptability,
    real_time,
    multi_environment,
    compliance,
    governance,
    infrastructure,
    process,
    risk_management,
    performance_measurement,
)
"""Every measured sub-score, readiness first (the report's order)."""


def scores(facts: Facts) -> list[Score]:
    """Every sub-score: measured readiness, measured maturity, declared maturity.

    Args:
        facts: What the estate and its records show.

    Returns:
        The scores, in a stable order.
    """
    return [f(facts) for f in MEASURED] + declared(facts)


def mean_of(found: Sequence[Score], axis: Axis, source: Source) -> float | None:
    """The index of one axis: the mean of its sub-scores that measure something.

    Args:
        found: Every score.
        axis: ``readiness`` or ``maturity``.
        source: ``measured`` or ``declared`` (never mixed).

    Returns:
        0-100, or ``None`` when nothing on that axis could be scored.
    """
    values = [
        s.value for s in found if s.axis == axis and s.source == source and s.value is not None
    ]
    return round(fmean(values), 1) if values else None
