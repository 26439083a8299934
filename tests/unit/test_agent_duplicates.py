"""Duplicate agents: scores from model family, tools, datasets and purpose, with evidence."""

from __future__ import annotations

from keel.gateway.duplicates import LIKELY, Profile, compare, family


def profile(model: str, tools: set[str], data: set[str], purpose: str | None) -> Profile:
    return Profile(model, frozenset(tools), frozenset(data), purpose)


def test_family_drops_version_and_size() -> None:
    assert family("aurelia-assistant-70b@1.0") == "aurelia-assistant"
    assert family("Aurelia-Assistant-8B@2") == "aurelia-assistant"
    assert family("llama-3.1-405b") == "llama-3.1"
    assert family("credit-scoring@3.2") == "credit-scoring"


def test_the_same_job_twice_is_likely_and_different_jobs_are_not() -> None:
    kyc = "reads the customer record, screens the name against sanctions and opens a case"
    pairs = compare({
        "a": profile("m-70b@1", {"crm", "sanctions", "case"}, {"profiles"}, kyc),
        "b": profile("m-8b@2", {"crm", "sanctions", "case", "ticket"}, {"profiles"},
                     "screens new customers: reads the customer record, screens the name"
                     " against sanctions lists, opens a case"),
        "c": profile("other@1", {"search", "sheet"}, {"fx"}, "researches FX markets"),
        "d": profile("m-70b@1", {"crm"}, set(), None),
    })  # fmt: skip
    by = {(p.first, p.second): p for p in pairs}
    ab = by[("a", "b")]
    assert pairs[0] is ab and ab.likely and ab.score >= LIKELY
    assert ab.family == "m" and ab.shared_tools == ["case", "crm", "sanctions"]
    assert ab.parts["tools"] == 0.75 and ab.parts["datasets"] == 1.0 and ab.parts["purpose"] > 0.3
    assert by[("a", "c")].score == 0.0 and by[("a", "c")].family is None
    ad = by[("a", "d")]  # same family, one shared tool, no purpose: not a duplicate
    assert not ad.likely and ad.parts["purpose"] == 0.0 and ad.parts["model"] == 1.0
    assert [p.score for p in pairs] == sorted((p.score for p in pairs), reverse=True)


def test_identical_agents_score_one_and_empty_grants_do_not_divide_by_zero() -> None:
    same = profile("x@1", {"t"}, {"d"}, "does one thing well")
    (pair,) = compare({"p": same, "q": same})
    assert pair.score == 1.0
    (empty,) = compare(
        {"p": profile("x", set(), set(), None), "q": profile("y", set(), set(), None)}
    )
    assert empty.score == 0.0
