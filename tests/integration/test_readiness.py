"""Readiness on the demo estate, on SQLite and PostgreSQL: deterministic scores, evidence that
resolves, the ledger entry and its inputs, scores that move with the estate, refusals, and
questionnaire errors located per question."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keel import wire
from keel.errors import ForbiddenError, ManifestError
from keel.estate.resources import KINDS
from keel.service import (
    Actor,
    Workspace,
    apply_manifests,
    get_resources,
    ledger,
    planning,
    readiness,
    registry,
    validate_manifests,
)
from keel.service.operations import LocalOperations

ADMIN = Actor.system("test")


def _plan(ws: Workspace) -> None:
    planning.commit_plan(ws, planning.compute_plan(ws), actor=ADMIN)


@pytest.fixture
def demo(workspace: Workspace, demo_dir: Path) -> Workspace:
    apply_manifests(workspace, [str(demo_dir)], actor=ADMIN)
    _plan(workspace)
    return workspace


def _values(found: wire.Readiness) -> dict[str, object]:
    """Every score and component (the ledger's size aside: each assessment adds an entry)."""
    return {
        s.key: (
            s.value,
            [
                (c.key, c.value)
                if c.key == "ledger"
                else (c.key, c.value, c.detail, c.refs, c.gaps)
                for c in s.components
            ],
        )
        for s in found.scores
    }


def _component(found: wire.Readiness, score: str, part: str) -> wire.ReadinessComponent:
    (match,) = [c for s in found.scores if s.key == score for c in s.components if c.key == part]
    return match


def _check_evidence(ws: Workspace, found: wire.Readiness) -> None:
    """Every resource, ledger entry and plan an assessment names exists."""
    size = ledger.size(ws)
    versions = {v.ref for v in registry.list_versions(ws)}
    refs = [r for s in found.scores for c in s.components for r in (*c.refs, *c.gaps)]
    assert refs
    for ref in refs:
        if ref.startswith("ledger:"):
            assert int(ref.split(":")[1]) < size, ref
        elif ref.startswith("plan:"):
            latest = planning.latest(ws)
            assert latest is not None and int(ref.split(":")[1]) <= (latest.plan_id or 0)
        elif ref.startswith("ModelVersion/"):
            assert ref.split("/", 1)[1] in versions, ref
        elif re.fullmatch(r"[A-Z][A-Za-z]+/[^/]+", ref):
            kind, name = ref.split("/")
            assert kind in KINDS, ref
            assert get_resources(ws, kind, name), ref


def test_an_assessment_is_deterministic_resolves_its_evidence_and_is_recorded(
    demo: Workspace,
) -> None:
    first = readiness.assess(demo, actor=ADMIN)
    second = readiness.assess(demo, actor=ADMIN)
    assert _values(first) == _values(second)
    assert (first.readiness, first.maturity, first.declared) == (
        second.readiness,
        second.maturity,
        second.declared,
    )
    assert [p.id for p in second.trend] == [first.id, second.id]
    _check_evidence(demo, second)
    # The demo's Questionnaire is declared, apart from the measured scores.
    declared = {s.key: s.value for s in second.scores if s.source == "declared"}
    assert set(declared) == {"talent", "partnerships", "centre_of_excellence"}
    assert all(v is not None for v in declared.values())
    assert _component(second, "talent", "trained").value == 35.0
    # The ledger entry: its scores and the digests of what was read.
    (shown,) = ledger.show(demo, start=second.ledger_index, limit=1)
    entry = shown.entry
    assert entry["type"] == "readiness.assessed"
    assert entry["scores"] == {s.key: s.value for s in second.scores}
    assert entry["readiness"] == second.readiness
    estate_digest = entry["inputs"]["estate_digest"]
    assert estate_digest == second.inputs["estate_digest"]
    assert entry["inputs"]["plan_id"] == planning.latest(demo).plan_id  # type: ignore[union-attr]
    assert ledger.verify(demo).size > second.ledger_index


def test_scores_move_with_the_estate(demo: Workspace, demo_dir: Path) -> None:
    before = readiness.assess(demo, actor=ADMIN)
    assert _component(before, "adaptability", "recovery").value is None  # no outage yet
    # Take fra-dc1 down and re-plan: the outage is evidence, its devices are unavailable.
    sites = demo_dir / "sites.yaml"
    text = sites.read_text()
    at = text.index("name: fra-dc1")
    spec = text.index("spec:", at)
    sites.write_text(text[:spec] + "spec:\n  available: false" + text[spec + 5 :])
    apply_manifests(demo, [str(demo_dir)], actor=ADMIN)
    _plan(demo)
    down = readiness.assess(demo, actor=ADMIN)
    # Monitor a serving workload that had none.
    unmonitored = [
        r for r in _component(before, "integration", "monitored").gaps if r.startswith("Workload/")
    ]
    workload = unmonitored[0].split("/")[1]
    (demo_dir / "extra-monitor.yaml").write_text(
        "kind: Monitor\nname: extra-health\nspec:\n"
        f"  workload: {workload}\n"
        "  reference: data/credit-decision-reference.parquet\n"
        "  current: data/credit-decision-current.parquet\n"
    )
    apply_manifests(demo, [str(demo_dir)], actor=ADMIN)
    after = readiness.assess(demo, actor=ADMIN)
    recovery = _component(after, "adaptability", "recovery")
    assert recovery.value == 100.0  # the demo re-planned within seconds
    outage = int(recovery.refs[0].split(":")[1])
    (entry,) = ledger.show(demo, start=outage, limit=1)
    assert entry.entry["type"] == "estate.configured" and entry.entry["name"] == "fra-dc1"
    assert entry.entry["available"] is False
    assert "Site/fra-dc1" in _component(after, "infrastructure", "available").gaps
    monitored = _component(after, "integration", "monitored")
    assert monitored.value > _component(down, "integration", "monitored").value  # type: ignore[operator]
    assert f"Workload/{workload}" in monitored.refs
    integration = {s.key: s.value for s in after.scores}["integration"]
    assert integration > {s.key: s.value for s in down.scores}["integration"]  # type: ignore[operator]
    (card,) = [c for c in after.sites if c.site == "fra-dc1"]
    assert card.outages == 1 and not card.available
    _check_evidence(demo, after)


def test_a_viewer_may_read_but_not_assess_and_the_refusal_is_recorded(demo: Workspace) -> None:
    ops = LocalOperations(demo, principal="user:dana")  # a viewer in the demo
    size = ledger.size(demo)
    with pytest.raises(ForbiddenError):
        ops.assess_readiness()
    assert readiness.latest(demo) is None  # nothing stored
    (refused,) = ledger.show(demo, start=size, limit=5)
    assert refused.entry["type"] == "access.denied"
    assert refused.entry["resource"] == "Resource/Readiness/all"
    readiness.assess(demo, actor=ADMIN)
    assert ops.readiness().id == 1


def test_restricted_names_are_withheld_from_a_caller_who_may_not_read_them(
    demo: Workspace,
) -> None:
    found = readiness.assess(demo, actor=ADMIN)
    named = sorted({r for s in found.scores for c in s.components for r in (*c.refs, *c.gaps)})
    hidden = {r for r in named if r.startswith("Dataset/")}
    assert hidden
    shown = readiness.redact(found, lambda refs: [r not in hidden for r in refs])
    for score, seen in zip(found.scores, shown.scores, strict=True):
        assert score.value == seen.value  # scores and counts cover the whole estate
        for full, part in zip(score.components, seen.components, strict=True):
            assert not hidden & {*part.refs, *part.gaps}
            assert part.withheld == len(hidden & {*full.refs, *full.gaps})
            assert part.detail == full.detail


QUESTIONNAIRE = """\
kind: Questionnaire
name: answers
spec:
  answered_by: dana
  as_of: 2026-11-02
  talent:
    trained_share_pct: 135
    roadmap: hire_everyone
    infrastructure_engineers: 4
  centre_of_excellence:
    exists: "yes"
  partnerships:
    model: transactional
"""


def test_a_questionnaire_with_bad_answers_gets_an_error_per_question(tmp_path: Path) -> None:
    path = tmp_path / "questionnaire.yaml"
    path.write_text(QUESTIONNAIRE)
    with pytest.raises(ManifestError) as caught:
        validate_manifests([str(path)])
    found = {(p.line, p.field): p.message for p in caught.value.problems}
    assert found.keys() == {
        (7, "spec.talent.trained_share_pct"),
        (8, "spec.talent.roadmap"),
        (11, "spec.centre_of_excellence.exists"),
        (12, "spec.partnerships.judged_on_execution"),
    }, found
    assert "100" in found[(7, "spec.talent.trained_share_pct")]
    assert "build_and_hire" in found[(8, "spec.talent.roadmap")]


def test_the_newest_answers_count(demo: Workspace, demo_dir: Path) -> None:
    newer = QUESTIONNAIRE.replace("135", "80").replace("hire_everyone", "build_only")
    newer = newer.replace('"yes"', "true") + "    judged_on_execution: true\n"
    newer = newer.replace("2026-11-02", "2026-11-20")
    (demo_dir / "newer-answers.yaml").write_text(newer)
    apply_manifests(demo, [str(demo_dir)], actor=ADMIN)
    found = readiness.assess(demo, actor=ADMIN)
    trained = _component(found, "talent", "trained")
    assert trained.value == 80.0 and trained.refs == ["Questionnaire/answers"]
    assert "2026-11-20" in trained.detail


def test_a_caller_whose_policy_forbids_reading_readiness_is_refused_everywhere(
    demo: Workspace,
) -> None:
    readiness.assess(demo, actor=ADMIN)
    # As the dashboard's page calls it: the caller's read decisions say no (a custom policy).
    ops = LocalOperations(demo, actor=Actor("user:bob"), visible=lambda refs: [False] * len(refs))
    size = ledger.size(demo)
    with pytest.raises(ForbiddenError):
        ops.readiness()
    (refused,) = ledger.show(demo, start=size, limit=5)
    assert refused.entry["type"] == "access.denied"
    assert (refused.entry["action"], refused.entry["resource"]) == (
        "read",
        "Resource/Readiness/all",
    )


def test_an_assessment_answers_with_itself_not_a_later_one(demo: Workspace) -> None:
    first = readiness.assess(demo, actor=ADMIN)
    second = readiness.assess(demo, actor=ADMIN)  # as if another caller assessed meanwhile
    again = readiness.latest(demo, first.id)
    assert again is not None and again.id == first.id and again.ledger_index == first.ledger_index
    assert [p.id for p in again.trend] == [first.id]  # the trend up to it, not past it
    assert readiness.latest(demo).id == second.id  # type: ignore[union-attr]


def test_a_site_the_caller_may_not_read_has_no_scorecard(demo: Workspace) -> None:
    found = readiness.assess(demo, actor=ADMIN)
    assert any(card.site == "fra-dc1" for card in found.sites)
    shown = readiness.redact(found, lambda refs: [r != "Site/fra-dc1" for r in refs])
    assert [c.site for c in shown.sites] == [c.site for c in found.sites if c.site != "fra-dc1"]
    assert all("Site/fra-dc1" not in (*c.refs, *c.gaps) for s in shown.scores for c in s.components)
