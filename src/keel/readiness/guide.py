"""Where the scores place an organisation, and what to do next.

The report sorts the capabilities behind maturity and readiness into three tiers (IBM IBV 2025,
"AI 落地的必备要素"): **foundational** (a distributed AI platform for every security level and
compute scenario; a risk and governance framework; strategic partnerships), **enabling**
(resilient, secure, sustainable infrastructure; AI talent) and **accelerating** (a centre of
excellence; privacy and security standards; clear goals and metrics). Its action guide
("行动指南") gives beginners and mature organisations three steps each. Here each sub-score
belongs to the tier of the capability it measures; a tier is reached when every measured
sub-score in it (at least one of which measures something), and every declared one that was
answered, reaches :data:`TIER_PASS`, and the tiers below are reached too. Each weak sub-score
gets the guide's step for the organisation's stage, with the Keel change that would raise it,
naming what holds it back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keel.readiness.index import Score

TIER_PASS = 60.0
"""A sub-score that reaches a tier (and is not "weak")."""

TIERS: dict[str, tuple[str, ...]] = {
    "foundational": (
        "multi_environment",
        "integration",
        "governance",
        "risk_management",
        "partnerships",
    ),
    "enabling": ("scalability", "adaptability", "real_time", "infrastructure", "talent"),
    "accelerating": (
        "compliance",
        "performance_measurement",
        "process",
        "centre_of_excellence",
    ),
}
"""Sub-scores per tier, lowest tier first."""

LEVELS = ((25.0, "nascent"), (50.0, "developing"), (75.0, "established"), (101.0, "leading"))
"""The ordinal scale, on the lower of the two measured indices (leaders lead on both)."""

GUIDE: dict[str, dict[str, str]] = {
    "beginner": {
        "hybrid": "Design AI-ready hybrid infrastructure: workload first; find data silos and "
        "compute bottlenecks; plan capacity dynamically; match work to cloud, on-premises and "
        "edge on data flow, security level, latency and compute.",
        "trust": "Build trusted AI infrastructure: security, compliance and transparency by "
        "design; data lineage and a model registry for auditable decisions; continuous "
        "monitoring of bias, drift and security.",
        "scale": "Scale AI infrastructure capabilities: a talent roadmap that separates "
        "building from hiring; a centre of excellence; AI literacy; measurable evaluation of "
        "teams and partners.",
    },
    "mature": {
        "hybrid": "Make AI infrastructure flexible: automated orchestration by performance, "
        "latency and cost across cloud, edge and on-premises; continuous feedback that tunes "
        "itself.",
        "trust": "Embed trust across the stack: compliance review, bias detection and "
        "explanations in every release; automated monitoring and risk alerts; monitoring of "
        "autonomous agents; predictive risk analysis.",
        "scale": "Network talent and partners: co-innovate with strategic partners, judge "
        "them on delivery; modular architecture and open APIs; continuous learning.",
    },
}
"""The report's action guide, by stage, in three steps each (summarised in English)."""

STEP_OF = {
    "scalability": "hybrid",
    "multi_environment": "hybrid",
    "adaptability": "hybrid",
    "real_time": "hybrid",
    "infrastructure": "hybrid",
    "integration": "trust",
    "compliance": "trust",
    "governance": "trust",
    "risk_management": "trust",
    "process": "trust",
    "performance_measurement": "scale",
    "talent": "scale",
    "partnerships": "scale",
    "centre_of_excellence": "scale",
}
"""Which of the guide's three steps raises each sub-score."""

ACTIONS: dict[tuple[str, str], str] = {
    ("scalability", "headroom"): "add pools (Site spec.pools) or burst capacity in a public "
    "cloud for the tight classes, then `keel plan`",
    ("scalability", "breadth"): "allow more accelerators (Workload spec.compute.accelerators) "
    "or replicate inputs (Dataset spec.replicas) so these run in a second kind of site",
    ("scalability", "placed"): "`keel plan --explain WORKLOAD` says why each is unplaced; add "
    "capacity or relax the rule it names",
    ("integration", "lineage_data"): "send OpenLineage events from the pipelines "
    "(`keel lineage ingest FILE` or POST /api/v1/lineage)",
    ("integration", "lineage_models"): "declare trained_on on each version (Model spec."
    "versions[].trained_on) or ingest the training jobs' OpenLineage events",
    ("integration", "monitored"): "add a Monitor for each (kind: Monitor, spec.workload)",
    ("integration", "engines"): "add a Cluster that serves these sites (kind: Cluster), then "
    "`keel dispatch`",
    ("adaptability", "fallback"): "give these a second feasible site: more accelerators, a "
    "data replica, or a site in the same jurisdiction",
    ("adaptability", "recovery"): "re-plan as soon as a site goes down: `keel plan` after "
    "`keel apply`, or run `keel dispatch --watch` with the plan",
    ("adaptability", "resumed"): "keep dispatch running (`keel dispatch --watch`) so moved "
    "work starts again at its new site",
    ("real_time", "slo"): "add a latency check (Monitor spec.latency) and move or scale the "
    "workloads that miss it",
    ("multi_environment", "spread"): "declare the missing kinds of site (Site spec.kind) and "
    "let the balanced objective use them",
    ("compliance", "packs"): "enable the regulation packs that apply (PolicySet spec.packs; "
    "`keel policy packs` lists them)",
    ("compliance", "denials"): "`keel policy eval WORKLOAD` names the rule; fix the "
    "workload or its data",
    ("compliance", "high_risk"): "a second approver (`keel model approve`) and an approved "
    "risk assessment (Model spec.risk_assessment)",
    ("compliance", "ledger"): "`keel ledger checkpoint` after changes and `keel ledger "
    "verify`; publish the checkpoint",
    ("governance", "owners"): "name an owner (spec.owner) for each",
    ("governance", "oversight"): "name a human oversight contact (Model spec.oversight_contact)",
    ("infrastructure", "available"): "bring these sites back (Site spec.available: true) or "
    "replace their capacity",
    ("infrastructure", "energy_data"): "state each site's measured PUE (Site spec.pue)",
    ("process", "lifecycle"): "move versions through `keel model promote` and `keel model "
    "approve` rather than declaring their state",
    ("process", "dispatched"): "hand work to engines with `keel dispatch`, from committed plans",
    ("process", "on_schedule"): "run monitors on schedule (`keel monitor run --due` from cron "
    "or the server)",
    ("risk_management", "assessed"): "complete and approve the risk assessment (Model spec."
    "risk_assessment: approved)",
    ("risk_management", "logging"): "turn on decision logging (Model spec.logging_enabled)",
    ("risk_management", "high_risk_monitored"): "add a Monitor for each",
    ("risk_management", "alerts"): "work the firing alerts (`keel monitor alerts`) to resolution",
    ("performance_measurement", "evaluated"): "record evaluations (`keel model evaluate`)",
    ("performance_measurement", "measured"): "add performance or latency checks to their monitors",
    ("performance_measurement", "energy"): "dispatch through Keel so each run's energy is "
    "accounted",
    ("talent", "trained"): "run AI literacy training for technical and non-technical staff",
    ("talent", "roadmap"): "write a talent roadmap that separates what to build from whom to hire",
    ("talent", "engineers"): "staff a team that runs the AI infrastructure",
    ("partnerships", "model"): "integrate strategic partners into operations (co-innovation), "
    "not a vendor pool",
    ("partnerships", "execution"): "judge partners on execution: the sites table of `keel "
    "readiness` gives each provider's outages, price changes, SLOs and time to capacity",
    ("centre_of_excellence", "exists"): "set up an AI centre of excellence that joins "
    "technology and business",
    ("centre_of_excellence", "practice"): "make the centre cross-functional and have it share "
    "practices across teams",
}
"""The change that raises each component: a Keel change for what Keel measures; for what is
declared, the organisation's change (then update the Questionnaire resource)."""

DECLARED_ACTION = "update the Questionnaire (kind: Questionnaire)"


@dataclass(frozen=True, slots=True)
class Tier:
    """One capability tier and whether the organisation reached it.

    Attributes:
        weak: Sub-scores below the pass mark.
        unanswered: Declared sub-scores with no answer (they do not block the tier).
    """

    name: str
    reached: bool
    weak: tuple[str, ...]
    unanswered: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Step:
    """A next step for one weak component.

    Attributes:
        score: The sub-score it raises; ``component`` the part of it.
        stage: ``beginner`` or ``mature``, from the tier reached.
        guide: The report's step for that stage.
        action: The Keel change, with the names that hold it back.
    """

    score: str
    component: str
    value: float | None
    stage: str
    guide: str
    action: str
    gaps: tuple[str, ...]


def level(readiness: float | None, maturity: float | None) -> str:
    """The ordinal level, on the lower of the measured readiness and maturity indices.

    Args:
        readiness: The measured readiness index.
        maturity: The measured maturity index.

    Returns:
        ``nascent``, ``developing``, ``established`` or ``leading``.
    """
    known = [v for v in (readiness, maturity) if v is not None]
    lowest = min(known) if known else 0.0
    return next(name for bound, name in LEVELS if lowest < bound)


def tiers(found: Sequence[Score]) -> list[Tier]:
    """Each tier, in order; a tier is reached only when those below it are.

    Args:
        found: Every score.

    Returns:
        One entry per tier.
    """
    by_key = {s.key: s for s in found}
    done: list[Tier] = []
    below = True
    for name, keys in TIERS.items():
        weak, unanswered = [], []
        measured = False
        for key in keys:
            score = by_key[key]
            if score.value is None:
                if score.source == "declared":
                    unanswered.append(key)
                continue
            measured = measured or score.source == "measured"
            if score.value < TIER_PASS:
                weak.append(key)
        below = below and measured and not weak
        done.append(Tier(name, below, tuple(weak), tuple(unanswered)))
    return done


def reached(found: Sequence[Tier]) -> str | None:
    """The highest tier reached, or ``None``."""
    names = [t.name for t in found if t.reached]
    return names[-1] if names else None


def steps(found: Sequence[Score], tier: str | None) -> list[Step]:
    """The next steps: one per weak component of a weak sub-score, lowest tier first.

    Args:
        found: Every score.
        tier: The highest tier reached (``None``: a beginner).

    Returns:
        The steps.
    """
    stage = "mature" if tier in ("enabling", "accelerating") else "beginner"
    order = [key for keys in TIERS.values() for key in keys]
    out = []
    for score in sorted(found, key=lambda s: order.index(s.key)):
        if score.value is None or score.value >= TIER_PASS:
            continue
        for part in score.components:
            if part.value is None or part.value >= TIER_PASS / 100:
                continue
            action = ACTIONS.get((score.key, part.key), DECLARED_ACTION)
            if score.source == "declared" and part.value is not None:
                action += ", then update the Questionnaire"
            out.append(
                Step(
                    score.key,
                    part.key,
                    part.value,
                    stage,
                    GUIDE[stage][STEP_OF[score.key]],
                    action,
                    part.gaps,
                )
            )
    return out
