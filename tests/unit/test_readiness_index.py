"""The readiness index: formulas, evidence, tiers and next steps, on facts (no database)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keel import readiness
from keel.readiness.facts import (
    Answers,
    DatasetFacts,
    Facts,
    LedgerFacts,
    ModelFacts,
    MonitorFacts,
    Outage,
    PoolFacts,
    SiteFacts,
    VersionFacts,
    WorkloadFacts,
)
from keel.readiness.guide import ACTIONS, GUIDE, STEP_OF, TIER_PASS, TIERS, level
from keel.readiness.index import scores

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "readiness.md"

KINDS = ("on_prem", "private_cloud", "public_cloud", "edge")


def _site(name: str, kind: str, *, available: bool = True, devices: int = 8) -> SiteFacts:
    return SiteFacts(
        name=name,
        kind=kind,
        provider=None if kind in ("on_prem", "edge") else "cloudco",
        available=available,
        pools=(PoolFacts("gpu", "H100", devices, 2.0),),
        pue=1.2,
        carbon_gco2e_per_kwh=300.0,
        energy_published=True,
        clusters=("c1",),
    )


def _workload(name: str, kind: str = "online_inference", **changes: object) -> WorkloadFacts:
    base = WorkloadFacts(
        name=name,
        kind=kind,
        model="m",
        feasible_sites=2,
        feasible_kinds=("on_prem", "public_cloud"),
        denied=False,
        monitors=("mon",),
        latency_met=True,
        measured=True,
        placed={("s-on_prem", "gpu"): 2},
        replicas=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def facts(**changes: object) -> Facts:
    """A small, healthy estate: every score measurable."""
    base = Facts(
        now=NOW,
        sites=tuple(_site(f"s-{k}", k) for k in KINDS),
        workloads=(
            _workload("api", placed={("s-on_prem", "gpu"): 2, ("s-edge", "gpu"): 1}),
            _workload(
                "batch", "batch_inference", latency_met=None, placed={("s-public_cloud", "gpu"): 2}
            ),
            _workload(
                "train",
                "training",
                monitors=(),
                measured=False,
                latency_met=None,
                placed={("s-private_cloud", "gpu"): 4},
            ),
        ),
        models=(
            ModelFacts(
                "m",
                "high",
                True,
                True,
                "approved",
                True,
                (VersionFacts("m", "1", "deployed", ("user:a", "user:b"), 2, True, True),),
            ),
        ),
        datasets=(DatasetFacts("d", True, True),),
        monitors=(MonitorFacts("mon", "api", False),),
        runs=(),
        ledger=LedgerFacts(size=10, verified=True, checkpoint_size=10, plan_index=5),
        packs=("gdpr",),
        plan_id=1,
        answers=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def by_key(found: readiness.Assessment) -> dict[str, float | None]:
    return {s.key: s.value for s in found.scores}


def part(found: readiness.Assessment, score: str, component: str) -> readiness.index.Component:
    (match,) = [
        c for s in found.scores if s.key == score for c in s.components if c.key == component
    ]
    return match


def test_a_share_counts_and_names_what_meets_it_and_what_does_not() -> None:
    found = readiness.assess(
        facts(workloads=(_workload("api"), _workload("chat", monitors=(), measured=False)))
    )
    monitored = part(found, "integration", "monitored")
    assert monitored.value == pytest.approx(0.5)
    assert monitored.detail == "1 of 2 serving workloads with a monitor"
    assert monitored.refs == ("Workload/api",) and monitored.gaps == ("Workload/chat",)


def test_nothing_to_measure_is_left_out_never_scored_zero_or_full() -> None:
    found = readiness.assess(facts(workloads=(_workload("train", "training", monitors=()),)))
    assert part(found, "real_time", "slo").value is None
    assert by_key(found)["real_time"] is None
    assert part(found, "integration", "monitored").value is None
    assert part(found, "adaptability", "recovery").detail == "no site outage recorded yet"


def test_an_empty_estate_reaches_no_tier() -> None:
    empty = Facts(NOW, (), (), (), (), (), (), LedgerFacts(size=0, verified=True))
    found = readiness.assess(empty)
    assert found.tier is None and not any(t.reached for t in found.tiers)
    assert found.readiness is None or found.readiness == 0.0


def test_declared_answers_never_move_the_measured_indices() -> None:
    answers = Answers("q", "dana", "2026-11-01", 90, "build_and_hire", 9, True, True, True,
                      "strategic", True)  # fmt: skip
    without = readiness.assess(facts())
    with_answers = readiness.assess(facts(answers=answers))
    assert (without.readiness, without.maturity) == (with_answers.readiness, with_answers.maturity)
    talent = 100 * (0.9 + 1 + 1) / 3  # 90% trained, both roadmaps, 9 engineers (5 is full)
    assert without.declared is None
    assert with_answers.declared == pytest.approx((talent + 100 + 100) / 3, abs=0.1)
    declared = {s.key for s in with_answers.scores if s.source == "declared"}
    assert declared == {"talent", "partnerships", "centre_of_excellence"}


def test_a_site_outage_appears_as_evidence_and_is_scored_by_how_fast_it_was_replanned() -> None:
    down = _site("s-on_prem", "on_prem", available=False)
    fast = Outage("s-on_prem", 7, NOW, 8, NOW + timedelta(minutes=5))
    slow = Outage("s-on_prem", 7, NOW, 8, NOW + timedelta(hours=12))
    sites = (down, *(_site(f"s-{k}", k) for k in KINDS[1:]))
    quick = readiness.assess(
        facts(sites=sites, ledger=LedgerFacts(size=10, verified=True, outages=(fast,)))
    )
    late = readiness.assess(
        facts(sites=sites, ledger=LedgerFacts(size=10, verified=True, outages=(slow,)))
    )
    recovery = part(quick, "adaptability", "recovery")
    assert recovery.value == 1.0 and "ledger:7" in recovery.refs and "ledger:8" in recovery.refs
    assert 0 < (part(late, "adaptability", "recovery").value or 0) < 1
    assert part(quick, "infrastructure", "available").gaps == ("Site/s-on_prem",)
    (card,) = [c for c in quick.sites if c.site == "s-on_prem"]
    assert card.outages == 1 and not card.available and card.refs == ("ledger:7",)


def test_a_ledger_that_fails_verification_scores_zero() -> None:
    bad = readiness.assess(facts(ledger=LedgerFacts(size=10, verified=False, checkpoint_size=10)))
    assert part(bad, "compliance", "ledger").value == 0.0
    assert "FAILED" in part(bad, "compliance", "ledger").detail


def test_a_high_risk_version_needs_two_approvers_and_an_approved_assessment() -> None:
    one = ModelFacts("m", "high", True, True, "approved", True,
                     (VersionFacts("m", "1", "deployed", ("user:a",), 1, True, True),))  # fmt: skip
    found = readiness.assess(facts(models=(one,)))
    assert part(found, "compliance", "high_risk").gaps == ("ModelVersion/m@1",)


def test_headroom_is_full_at_twenty_percent_spare_and_names_tight_classes() -> None:
    tight = (_workload("api", placed={("s-on_prem", "gpu"): 31}),)
    found = readiness.assess(facts(workloads=tight))
    headroom = part(found, "scalability", "headroom")
    assert headroom.value == pytest.approx(min(1.0, (1 - 31 / 32) / 0.2))
    assert headroom.gaps == ("H100 (31 of 32 devices held)",)
    assert part(readiness.assess(facts()), "scalability", "headroom").value == 1.0


def test_tiers_are_reached_in_order_and_steps_name_the_weak_parts() -> None:
    found = readiness.assess(
        facts(
            workloads=(_workload("api", monitors=(), measured=False),),
            datasets=(DatasetFacts("d", True, False),),
        )
    )
    assert by_key(found)["integration"] is not None
    assert by_key(found)["integration"] < TIER_PASS  # type: ignore[operator]
    assert found.tiers[0].name == "foundational" and not found.tiers[0].reached
    assert not any(t.reached for t in found.tiers)  # nothing above an unreached tier
    step = next(s for s in found.steps if (s.score, s.component) == ("integration", "monitored"))
    assert step.gaps == ("Workload/api",) and step.stage == "beginner"
    assert step.guide == GUIDE["beginner"]["trust"]


def test_a_healthy_estate_reaches_tiers_and_gets_the_mature_guide() -> None:
    answers = Answers("q", "dana", "2026-11-01", 90, "build_and_hire", 9, True, True, True,
                      "strategic", True)  # fmt: skip
    found = readiness.assess(facts(answers=answers))
    assert found.tier == "accelerating", [(t.name, t.weak) for t in found.tiers]
    assert found.level == "leading"
    assert all(s.stage == "mature" for s in found.steps)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(None, None, "nascent"), (10, 90, "nascent"), (49.9, 80, "developing"), (75, 75, "leading")],
)
def test_the_level_is_set_by_the_lower_index(
    low: float | None, high: float | None, expected: str
) -> None:
    assert level(low, high) == expected


# -- properties: each sub-score moves the way the estate does ---------------------------------

names = st.lists(st.sampled_from([f"w{i}" for i in range(8)]), min_size=1, max_size=8, unique=True)


@settings(max_examples=60, deadline=None)
@given(names, st.data())
def test_adding_a_monitor_never_lowers_integration(
    workloads: list[str], data: st.DataObject
) -> None:
    kinds = data.draw(
        st.lists(
            st.sampled_from(["online_inference", "batch_inference", "agent", "training"]),
            min_size=len(workloads),
            max_size=len(workloads),
        )
    )
    watched = data.draw(st.lists(st.booleans(), min_size=len(workloads), max_size=len(workloads)))
    before = tuple(
        _workload(n, k, monitors=("m",) if w else ())
        for n, k, w in zip(workloads, kinds, watched, strict=True)
    )
    target = data.draw(st.sampled_from(workloads))
    after = tuple(replace(w, monitors=("m", "m2")) if w.name == target else w for w in before)
    old = by_key(readiness.assess(facts(workloads=before)))["integration"]
    new = by_key(readiness.assess(facts(workloads=after)))["integration"]
    assert old is not None and new is not None and new >= old


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(KINDS), st.integers(min_value=1, max_value=64))
def test_taking_a_site_down_lowers_available_devices_and_names_it(kind: str, devices: int) -> None:
    up = tuple(_site(f"s-{k}", k, devices=devices if k == kind else 8) for k in KINDS)
    down = tuple(replace(s, available=False) if s.kind == kind else s for s in up)
    before = part(readiness.assess(facts(sites=up)), "infrastructure", "available")
    after = part(readiness.assess(facts(sites=down)), "infrastructure", "available")
    assert (after.value or 0) < (before.value or 0)
    assert after.gaps == (f"Site/s-{kind}",)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=3))
def test_resolving_an_alert_never_lowers_risk_management(raised: int, resolved: int) -> None:
    resolved = min(resolved, raised)
    ledger = LedgerFacts(size=10, verified=True, alerts_raised=tuple(range(raised)),
                         alerts_resolved=tuple(range(resolved)))  # fmt: skip
    more = replace(ledger, alerts_resolved=tuple(range(min(raised, resolved + 1))))
    old = by_key(readiness.assess(facts(ledger=ledger)))["risk_management"]
    new = by_key(readiness.assess(facts(ledger=more)))["risk_management"]
    assert old is not None and new is not None and new >= old


# -- the docs and the code agree ---------------------------------------------------------------


def test_every_component_has_an_action_and_a_formula_in_the_docs() -> None:
    text = DOCS.read_text(encoding="utf-8")
    found = scores(facts())
    for score in found:
        assert score.key in STEP_OF, score.key
        assert f"`{score.key}`" in text, f"docs/readiness.md does not define {score.key}"
        for component in score.components:
            if score.source == "measured":
                assert (score.key, component.key) in ACTIONS, (score.key, component.key)
            assert f"`{score.key}.{component.key}`" in text, (score.key, component.key)
    assert {k for keys in TIERS.values() for k in keys} == {s.key for s in found}
    assert {key for key, _ in ACTIONS} <= {s.key for s in found}
    assert re.search(r"TIER_PASS.*60|60.*pass", text, re.IGNORECASE | re.DOTALL)


def test_energy_is_measured_over_runs_that_ran_and_ended() -> None:
    from keel.readiness.facts import RunFacts

    runs = (
        RunFacts("train", "s-on_prem", "succeeded", 9, 1.0, 0.5, True),
        RunFacts("train", "s-on_prem", "failed", 9, 2.0, None, False),  # ran, not accounted
        RunFacts("train", "s-on_prem", "cancelled", 9, None, None, False),  # never started
        RunFacts("api", "s-on_prem", "running", 9, 1.0, None, False),  # not ended
    )
    energy = part(readiness.assess(facts(runs=runs)), "performance_measurement", "energy")
    assert energy.value == 0.5 and energy.detail == "1 of 2 runs, 1 metered"
    assert part(readiness.assess(facts()), "performance_measurement", "energy").value is None


def test_work_an_outage_stopped_counts_once_it_runs_again_elsewhere() -> None:
    all_back = Outage("s-on_prem", 7, NOW, 8, NOW + timedelta(minutes=1), moved=2, resumed=2,
                      resumed_index=12, resumed_at=NOW + timedelta(minutes=3))  # fmt: skip
    half_back = replace(all_back, resumed=1)
    none_back = replace(all_back, resumed=0, resumed_index=None, resumed_at=None)
    nothing_moved = replace(all_back, moved=0, resumed=0, resumed_index=None, resumed_at=None)

    def resumed(outage: Outage) -> readiness.index.Component:
        ledger = LedgerFacts(size=20, verified=True, outages=(outage,))
        return part(readiness.assess(facts(ledger=ledger)), "adaptability", "resumed")

    assert resumed(all_back).value == 1.0 and resumed(all_back).refs == ("ledger:7", "ledger:12")
    assert resumed(half_back).value == 0.5 and resumed(half_back).gaps == ("Site/s-on_prem",)
    assert resumed(none_back).value == 0.0
    assert resumed(nothing_moved).value is None
