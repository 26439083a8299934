"""The model lifecycle's rules."""

from __future__ import annotations

import pytest

from keel.registry.lifecycle import (
    STATES,
    TRANSITIONS,
    Evaluation,
    approvals_needed,
    evaluation_gaps,
    transition_gap,
    usable_by,
)


def test_approvals_by_tier() -> None:
    assert approvals_needed("high") == 2
    assert approvals_needed("limited") == approvals_needed("minimal") == 1
    assert approvals_needed("prohibited") is None


def test_evaluation_gaps() -> None:
    bench = Evaluation("benchmark", "auc", True, 0.8)
    probe = Evaluation("probe", "injection", True)
    assert evaluation_gaps([]) == [
        "no benchmark result is recorded",
        "no vulnerability probe is recorded",
    ]
    assert evaluation_gaps([bench, probe]) == []
    failed = Evaluation("probe", "injection", False)
    assert evaluation_gaps([bench, failed]) == ["probes failed: injection"]
    # A later run of the same probe replaces the earlier result.
    assert evaluation_gaps([bench, failed, probe]) == []


@pytest.mark.parametrize("current", STATES)
@pytest.mark.parametrize("target", STATES)
def test_transitions_follow_the_table(current: str, target: str) -> None:
    gap = transition_gap(current, target)
    assert (gap is None) == (target in TRANSITIONS[current])


def test_retired_is_final_and_unknown_states_are_named() -> None:
    assert "final" in (transition_gap("retired", "draft") or "")
    assert "not a lifecycle state" in (transition_gap("draft", "shipped") or "")


@pytest.mark.parametrize(
    ("kind", "state", "ok"),
    [
        ("online_inference", "approved", True),
        ("online_inference", "deployed", True),
        ("online_inference", "validated", False),
        ("agent", "draft", False),
        ("batch_inference", "draft", False),
        ("training", "draft", True),
        ("fine_tuning", "validated", True),
        ("training", "retired", False),
        ("online_inference", "retired", False),
    ],
)
def test_who_may_use_which_state(kind: str, state: str, ok: bool) -> None:
    assert usable_by(kind, state) is ok
