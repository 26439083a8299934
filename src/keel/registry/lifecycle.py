"""The lifecycle of a model version: ``draft -> validated -> approved -> deployed -> retired``.

Rules:
    * ``validated`` needs evaluation records: at least one benchmark and one vulnerability
      probe, and every probe passed.
    * ``approved`` needs approvals from principals the access policy lets approve (never the
      registrant: separation of duties): two for the ``high`` risk tier, one otherwise; a
      ``prohibited`` model is never approved.
    * ``deployed`` follows when a serving workload that references an approved version is
      applied.
    * ``retired`` ends every path; a retired version is referenced by nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

STATES = ("draft", "validated", "approved", "deployed", "retired")
"""Every lifecycle state, in order."""

TRANSITIONS: dict[str, frozenset[str]] = {
    "draft": frozenset({"validated", "retired"}),
    "validated": frozenset({"approved", "draft", "retired"}),
    "approved": frozenset({"deployed", "retired"}),
    "deployed": frozenset({"retired"}),
    "retired": frozenset(),
}
"""Where each state may go."""

SERVING_KINDS = frozenset({"batch_inference", "online_inference", "agent"})
"""Workload kinds that serve a model, and so need an approved version."""

USABLE_STATES = frozenset({"approved", "deployed"})
"""States a serving workload may reference."""

EvaluationKind = Literal["benchmark", "probe"]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One evaluation record of a model version.

    Attributes:
        kind: ``benchmark`` (a quality measure) or ``probe`` (a vulnerability test: prompt
            injection, membership inference, bias...).
        name: What was run.
        passed: Whether it passed.
        score: Its score, if it has one.
        details: Anything else the evaluator reported.
    """

    kind: EvaluationKind
    name: str
    passed: bool
    score: float | None = None
    details: dict[str, Any] | None = None


def approvals_needed(risk_tier: str) -> int | None:
    """How many approvers a version of a model in a risk tier needs.

    Args:
        risk_tier: The model's EU AI Act tier.

    Returns:
        The number, or ``None`` when no number of approvals is enough (``prohibited``).
    """
    if risk_tier == "prohibited":
        return None
    return 2 if risk_tier == "high" else 1


def evaluation_gaps(evaluations: list[Evaluation]) -> list[str]:
    """What the evaluations lack before a version may be validated.

    Args:
        evaluations: Every evaluation recorded, oldest first; a later record of the same
            ``(kind, name)`` replaces an earlier one.

    Returns:
        One sentence per gap; empty when the version may be validated.
    """
    latest = {(e.kind, e.name): e for e in evaluations}
    gaps = []
    if not any(kind == "benchmark" for kind, _ in latest):
        gaps.append("no benchmark result is recorded")
    if not any(kind == "probe" for kind, _ in latest):
        gaps.append("no vulnerability probe is recorded")
    failed = sorted(name for (kind, name), e in latest.items() if kind == "probe" and not e.passed)
    if failed:
        gaps.append(f"probes failed: {', '.join(failed)}")
    return gaps


def transition_gap(current: str, target: str) -> str | None:
    """Why a version in one state cannot go straight to another, or ``None`` if it can.

    Args:
        current: Its state.
        target: The state asked for.

    Returns:
        The reason, or ``None``.
    """
    if target not in STATES:
        return f"{target!r} is not a lifecycle state; states: {', '.join(STATES)}"
    if target in TRANSITIONS[current]:
        return None
    allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is final)"
    return f"a {current} version cannot become {target}; from {current} it may become {allowed}"


def usable_by(workload_kind: str, state: str) -> bool:
    """Whether a workload of a kind may reference a version in a state.

    Training and fine-tuning make a version, so any state but ``retired`` will do; serving
    needs an approved (or deployed) version.

    Args:
        workload_kind: The workload's kind.
        state: The version's lifecycle state.

    Returns:
        Whether the reference is admitted.
    """
    if state == "retired":
        return False
    return workload_kind not in SERVING_KINDS or state in USABLE_STATES
