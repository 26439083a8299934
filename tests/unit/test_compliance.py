"""The compliance engine against real regopy: packs, their Rego tests, failure modes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from keel.estate import build_estate, load_manifests
from keel.estate.estate import Estate
from keel.estate.resources import PolicySetSpec
from keel.policy.compliance.decision import ERROR_RULE
from keel.policy.compliance.engine import ComplianceEngine, PolicyCompileError
from keel.policy.compliance.inputs import InputBuilder, site_documents
from keel.policy.compliance.module import RegoModule
from keel.policy.compliance.packs import packs
from keel.policy.compliance.policyset import NO_POLICY_DIGEST, compile_policy
from keel.policy.compliance.selector import SelectorError, mismatch
from keel.policy.compliance.testing import ModuleLoadError, run_tests, shipped_tests

DEMO = Path(__file__).parents[2] / "src/keel/estate/demo"
ALL_PACKS = {"packs": [{"name": name} for name in packs()]}


def demo_estate() -> Estate:
    resources, problems = load_manifests([str(DEMO)])
    estate, more = build_estate(resources)
    assert problems == [] and more == []
    return estate


def engine(estate: Estate, spec: dict[str, object], **kwargs: float) -> ComplianceEngine:
    policy = compile_policy({"test": PolicySetSpec.model_validate(spec)})
    assert policy.problems == []
    return ComplianceEngine(policy, site_documents(estate), **kwargs)


def decide(estate: Estate, spec: dict[str, object], names: list[str] | None = None):  # type: ignore[no-untyped-def]
    builder = InputBuilder(estate)
    names = names or sorted(estate.of_kind("Workload"))
    with engine(estate, spec) as e:
        return dict(
            zip(
                names,
                e.decide([builder.document(n, sorted(estate.sites)) for n in names]),
                strict=True,
            )
        )


# -- the packs' own Rego tests ---------------------------------------------------------------


def test_every_shipped_pack_test_passes() -> None:
    results = run_tests(shipped_tests())
    assert len(results) >= 25
    assert [r.rule for r in results if not r.passed] == []
    tested = {r.rule.split(".")[3].removesuffix("_test") for r in results}
    assert tested == set(packs())


DECISION_BLOCK = re.compile(r"^(?:deny|warn|restrict) contains \{.*?^\}\n", re.M | re.S)


@pytest.mark.parametrize("name", sorted(packs()))
def test_removing_any_rule_of_a_pack_fails_its_tests(name: str) -> None:
    pack = packs()[name]
    source = pack.source()
    blocks = DECISION_BLOCK.findall(source)
    assert blocks, f"pack {name} has no decision rule"
    tests = [RegoModule(f"{name} tests", pack.test_source())]
    for block in blocks:
        mutated = source.replace(block, "")
        results = run_tests(tests, pack_sources={name: mutated})
        assert any(not r.passed for r in results), f"no test of {name} notices:\n{block}"


# -- decisions on the demo estate ------------------------------------------------------------


def test_demo_decisions_keep_cn_data_in_cn_and_restricted_data_on_premises() -> None:
    estate = demo_estate()
    decisions = decide(estate, ALL_PACKS)
    sites = estate.sites
    for name, decision in decisions.items():
        document = InputBuilder(estate).document(name, [])
        cn_personal = any(
            d.get("collected_in") == "CN" and "personal" in d.get("tags", [])
            for d in document["datasets"]
        )
        restricted = any(d["classification"] == "restricted" for d in document["datasets"])
        for site_name, site in sites.items():
            if cn_personal and site.country != "CN":
                assert "pipl.localisation" in decision.rules_at(site_name), (name, site_name)
            if restricted and site.kind != "on_prem":
                assert "classification.restricted" in decision.rules_at(site_name)
    assert decisions["cn-risk-retrain"].site_denials.keys() >= {"fra-dc1", "ams-private"}
    assert "sha-dc1" not in decisions["cn-risk-retrain"].site_denials


def test_selector_messages_say_which_attribute_failed() -> None:
    estate = demo_estate()
    decision = decide(estate, ALL_PACKS, ["us-benefits-claims-triage"])["us-benefits-claims-triage"]
    (finding,) = [f for f in decision.site_denials["fra-dc1"] if f.rule == "hipaa.baa"]
    assert "us-health-benefits" in finding.message
    assert finding.message.endswith("(here certifications lack hipaa)")
    assert "ny-dc1" not in decision.site_denials  # certified hipaa, on premises


def test_prohibited_model_is_denied_outright_and_high_risk_needs_its_controls() -> None:
    estate = demo_estate()
    text = (DEMO.parent / "demo_refused/staff-sentiment-monitor.yaml").read_text()
    extra, problems = load_manifests([str(DEMO.parent / "demo_refused")])
    assert problems == [] and "staff-emotion-monitor" in text
    estate, more = build_estate([*load_manifests([str(DEMO)])[0], *extra])
    assert more == []
    decision = decide(estate, ALL_PACKS, ["staff-sentiment-monitor"])["staff-sentiment-monitor"]
    assert [f.rule for f in decision.denied] == ["eu_ai_act.prohibited"]
    assert all(decision.denies(site) for site in estate.sites)


def test_no_policy_decides_nothing_and_has_the_empty_digest() -> None:
    estate = demo_estate()
    policy = compile_policy({})
    assert policy.empty and policy.digest == NO_POLICY_DIGEST
    with ComplianceEngine(policy, site_documents(estate)) as e:
        (decision,) = e.decide([InputBuilder(estate).document("kyc-agent", ["fra-dc1"])])
    assert decision.denied == [] and decision.site_denials == {}


def test_digest_changes_with_any_parameter_or_module() -> None:
    base = compile_policy({"a": PolicySetSpec.model_validate(ALL_PACKS)}).digest
    changed = {"packs": [{"name": "gdpr", "parameters": {"adequacy": []}}]}
    custom = {"modules": [{"name": "m", "rego": "package x.y\n\nimport rego.v1\n\nz := 1\n"}]}
    digests = {
        base,
        compile_policy({"a": PolicySetSpec.model_validate(changed)}).digest,
        compile_policy({"a": PolicySetSpec.model_validate(custom)}).digest,
    }
    assert len(digests) == 3
    assert compile_policy({"b": PolicySetSpec.model_validate(ALL_PACKS)}).digest == base


# -- bad policies ---------------------------------------------------------------------------

SLOW = """package custom.slow

import rego.v1

deny contains {"rule": "custom.slow", "message": "never"} if {
	input.workload.name == "kyc-agent"
	count([x | some x in numbers.range(1, 100000000)]) < 0
}
"""

FAILING = """package custom.failing

import rego.v1

deny contains {"rule": "custom.failing", "message": "x"} if {
	to_number(input.workload.name) > 0
}
"""


def test_a_policy_that_fails_during_evaluation_fails_closed() -> None:
    estate = demo_estate()
    spec = {"modules": [{"name": "failing", "rego": FAILING}]}
    decision = decide(estate, spec, ["kyc-agent"])["kyc-agent"]
    assert decision.failed
    (finding,) = decision.denied
    assert finding.rule == ERROR_RULE and "evaluation failed" in finding.message
    assert all(decision.denies(site) for site in estate.sites)


def test_a_policy_that_takes_too_long_is_stopped_and_fails_closed() -> None:
    estate = demo_estate()
    names = ["credit-decision-api", "kyc-agent", "treasury-research"]
    builder = InputBuilder(estate)
    with engine(estate, {"modules": [{"name": "slow", "rego": SLOW}]}, timeout_ms=300) as e:
        decisions = e.decide([builder.document(n, sorted(estate.sites)) for n in names])
    slow = decisions[1]
    assert slow.failed and "took too long" in slow.denied[0].message
    # The worker was replaced: the workloads after the slow one were decided normally.
    assert not decisions[0].failed and not decisions[2].failed


def test_a_malformed_rule_result_fails_closed() -> None:
    estate = demo_estate()
    bad = 'package custom.bad\n\nimport rego.v1\n\nrestrict contains {"rule": "r", "sites": {"colour": {"in": ["red"]}}} if true\n'
    decision = decide(estate, {"modules": [{"name": "bad", "rego": bad}]}, ["kyc-agent"])[
        "kyc-agent"
    ]
    assert decision.failed and "unknown site attribute 'colour'" in decision.denied[0].message


def test_syntax_errors_name_the_line() -> None:
    estate = demo_estate()
    broken = "package custom.broken\n\nimport rego.v1\n\ndeny contains x if {\n  input.x == \n}\n"
    policy = compile_policy(
        {"test": PolicySetSpec.model_validate({"modules": [{"name": "b", "rego": broken}]})}
    )
    with pytest.raises(PolicyCompileError) as caught:
        ComplianceEngine(policy, site_documents(estate))
    assert caught.value.problem.line == 6
    assert caught.value.problem.source is not None
    assert caught.value.problem.source.field == ("modules", 0, "rego")


@pytest.mark.parametrize(
    ("call", "why"),
    [
        ('http.send({"method": "get", "url": "https://x"})', "network"),
        ('net.cidr_contains("10.0.0.0/8", "10.0.0.1")', "does not implement"),
        ("time.now_ns()", "clock"),
        ('sprintf("%s", ["a"])', "concat"),
    ],
)
def test_forbidden_builtins_are_rejected_at_load_with_their_line(call: str, why: str) -> None:
    source = f"package custom.net\n\nimport rego.v1\n\n# {call} in a comment is fine\nx := {call}\n"
    module = RegoModule("m.rego", source)
    ((line, message),) = module.problems()
    assert line == 6 and why in message


def test_unknown_pack_and_bad_parameters_are_reported_by_field() -> None:
    spec = PolicySetSpec.model_validate(
        {
            "packs": [
                {"name": "gdrp"},
                {"name": "pipl", "parameters": {"allowed_country": ["CN"]}},
                {"name": "classification", "parameters": {"confidential_computing_exempts": "yes"}},
            ],
            "modules": [{"name": "k", "rego": "package keel.packs.mine\n\nimport rego.v1\n"}],
        }
    )
    problems = compile_policy({"s": spec}).problems
    messages = {p.field: p.message for p in problems}
    assert "did you mean 'gdpr'" in messages[("packs", 0, "name")]
    assert (
        "did you mean 'allowed_countries'"
        in messages[("packs", 1, "parameters", "allowed_country")]
    )
    assert (
        "must be a bool" in messages[("packs", 2, "parameters", "confidential_computing_exempts")]
    )
    assert "reserved" in messages[("modules", 0, "rego")]


def test_a_crashing_policy_is_reported_and_the_caller_survives() -> None:
    # rego-cpp 1.5 crashes when a module has `with input as {...}` and a rule applies a built-in
    # to input (it compiles the whole module on the first query, so every query crashes). The
    # crash stays in the worker: each test fails with the signal, the caller carries on.
    source = """package custom.crash_test

import rego.v1

r := count(input.d)

test_crashes if {
	r == 1 with input as {"d": [1]}
}

test_would_pass if {
	r == 1 with input.d as [1]
}
"""
    results = run_tests([RegoModule("crash_test.rego", source)])
    assert len(results) == 2
    for result in results:
        assert not result.passed
        assert result.error is not None and "crashed (signal 11)" in result.error
    fixed = source.replace('with input as {"d": [1]}', "with input.d as [1]")
    assert all(r.passed for r in run_tests([RegoModule("crash_test.rego", fixed)]))


def test_a_module_that_does_not_compile_is_a_load_error() -> None:
    with pytest.raises(ModuleLoadError) as caught:
        run_tests([RegoModule("x.rego", "package x\n\nimport rego.v1\n\ntest_a if {\n")])
    assert caught.value.module.name == "x.rego"


# -- selectors ------------------------------------------------------------------------------

SITE = {
    "name": "s",
    "kind": "public_cloud",
    "country": "US",
    "certifications": ["soc2"],
    "confidential_computing": False,
    "labels": {"zone": "dmz"},
}


@pytest.mark.parametrize(
    ("selector", "why"),
    [
        ({"country": {"in": ["US", "CA"]}}, None),
        ({"country": {"in": ["DE"]}}, "country is US"),
        ({"kind": {"not_in": ["public_cloud"]}}, "kind is public_cloud"),
        ({"certifications": {"has": "hipaa"}}, "certifications lack hipaa"),
        ({"labels.zone": {"equals": "dmz"}}, None),
        ({"labels.tier": {"equals": "core"}}, "labels.tier is none"),
        (
            {"any": [{"kind": {"in": ["on_prem"]}}, {"confidential_computing": {"equals": True}}]},
            "none of: kind is public_cloud; confidential_computing is False",
        ),
        ({"country": {"in": ["US"]}, "kind": {"in": ["edge"]}}, "kind is public_cloud"),
    ],
)
def test_selectors(selector: dict[str, object], why: str | None) -> None:
    assert mismatch(selector, SITE) == why


@pytest.mark.parametrize(
    "selector",
    [
        [],
        {"colour": {"in": []}},
        {"country": {"near": "DE"}},
        {"country": "US"},
        {"any": []},
        {"country": {"has": "x"}},
    ],
)
def test_malformed_selectors_are_errors(selector: object) -> None:
    with pytest.raises(SelectorError):
        mismatch(selector, SITE)


# -- the worker's input converter -------------------------------------------------------------

ODD_DOCUMENTS = [
    {},
    [],
    {"workload": {"name": "naïve-模型", "labels": {}, "count": 3, "hours": 2.5, "on": True}},
    {"flags": [True, False, 1, 0, 1.0, None], "empty": {"a": [], "b": {}}},
    # Plain strings only: regopy's own output reader mangles quotes and control characters.
    {"big": 2**62, "negative": -7, "quarter": 0.25, "text": "plain text, 100%"},
    {"nested": [[[{"deep": ["x", ("tuple", 1)]}]]]},
]


@pytest.mark.parametrize("document", ODD_DOCUMENTS)
def test_the_workers_input_converter_gives_what_regopy_gives(document: object) -> None:
    import regopy
    from regopy import rego_shared

    from keel.policy.compliance.worker import _input

    def read_back(set_input: object) -> object:
        interpreter = regopy.Interpreter()
        assert callable(set_input)
        set_input(interpreter)
        return interpreter.query("x := input").results[0].bindings["x"]

    def fast(interpreter: regopy.Interpreter) -> None:
        handle = _input(rego_shared.rego, document)
        rego_shared.rego_set_input(interpreter._impl, handle)
        rego_shared.rego.regoFreeInput(handle)

    theirs = read_back(lambda interpreter: interpreter.set_input(document))
    ours = read_back(fast)
    assert ours == theirs
    assert [type(v) for v in _leaves(ours)] == [type(v) for v in _leaves(theirs)]


def _leaves(value: object) -> list[object]:
    if isinstance(value, dict):
        return [leaf for key in sorted(value) for leaf in _leaves(value[key])]
    if isinstance(value, list):
        return [leaf for member in value for leaf in _leaves(member)]
    return [value]


def test_the_worker_falls_back_to_regopy_for_other_types() -> None:
    from regopy import rego_shared

    from keel.policy.compliance.worker import _input, _UnconvertibleError

    with pytest.raises(_UnconvertibleError):
        _input(rego_shared.rego, {"a": {1, 2}})
    with pytest.raises(_UnconvertibleError):
        _input(rego_shared.rego, {1: "integer key"})


# -- the decision cache ----------------------------------------------------------------------

NAME_READER = """package custom.names

import rego.v1

deny contains {"rule": "custom.names", "message": "not on the list"} if {
	not input.workload.name in {"kyc-agent"}
}
"""


def _renamed(document: dict[str, object], name: str) -> dict[str, object]:
    workload = document["workload"]
    assert isinstance(workload, dict)
    return {**document, "workload": {**workload, "name": name}}


def test_an_unchanged_input_is_decided_again_from_the_cache_with_the_same_result() -> None:
    estate = demo_estate()
    builder = InputBuilder(estate)
    names = sorted(estate.of_kind("Workload"))
    documents = [builder.document(n) for n in names]
    with engine(estate, ALL_PACKS) as e:
        first = e.decide(documents)
        again = e.decide(documents)
    assert not any(d.cached for d in first)
    assert all(d.cached and d.elapsed_ns == 0 for d in again)
    strip = [
        {k: v for k, v in d.to_json().items() if k not in ("elapsed_ms", "cached")} for d in first
    ]
    assert strip == [
        {k: v for k, v in d.to_json().items() if k not in ("elapsed_ms", "cached")} for d in again
    ]
    assert any(d.denied or d.site_denials for d in first)  # the comparison covers denials


def test_workloads_alike_but_for_the_name_share_an_evaluation_only_when_no_module_reads_it() -> (
    None
):
    estate = demo_estate()
    document = InputBuilder(estate).document("kyc-agent")
    twins = [document, _renamed(document, "kyc-agent-copy")]
    with engine(estate, ALL_PACKS) as e:
        blind = e.decide(twins)
    assert [d.cached for d in blind] == [False, True]
    assert [d.workload for d in blind] == ["kyc-agent", "kyc-agent-copy"]
    # A module that reads the name: each twin is evaluated, and they are decided apart.
    with engine(estate, {"modules": [{"name": "names", "rego": NAME_READER}]}) as e:
        reading = e.decide(twins)
    assert [d.cached for d in reading] == [False, False]
    assert not reading[0].denied and [f.rule for f in reading[1].denied] == ["custom.names"]


def test_a_failed_evaluation_is_not_kept() -> None:
    estate = demo_estate()
    document = InputBuilder(estate).document("kyc-agent")
    with engine(estate, {"modules": [{"name": "failing", "rego": FAILING}]}) as e:
        first, again = e.decide([document]), e.decide([document])
    assert first[0].failed and again[0].failed and not again[0].cached


@pytest.mark.parametrize(
    ("rego", "reads"),
    [
        ("x if input.workload.kind == 1", False),
        ("x if input.model.name == 1", False),
        ("x if input.workload.names == 1", False),
        ('x := "input.workload.name" # input', False),
        ("x if input.workload.name == 1", True),
        ('x if input.workload["name"] == 1', True),
        ("w := input.workload", True),
        ('x if object.get(input.workload, "name", 1)', True),
        ("x if walk(input, y)", True),
        ("import input.workload", True),
        ("x := y with input as {}", True),
    ],
)
def test_which_modules_may_read_the_workload_name(rego: str, reads: bool) -> None:
    assert RegoModule("m", f"package p\n\n{rego}\n").reads_workload_name is reads


def test_no_shipped_pack_reads_the_workload_name() -> None:
    assert not compile_policy({"all": PolicySetSpec.model_validate(ALL_PACKS)}).reads_workload_name


def test_the_cache_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from keel.policy.compliance import engine as engine_module

    estate = demo_estate()
    builder = InputBuilder(estate)
    documents = [builder.document(n) for n in sorted(estate.of_kind("Workload"))[:3]]
    monkeypatch.setattr(engine_module, "CACHED_BYTES", 1)  # room for no result at all
    with engine(estate, ALL_PACKS) as e:
        e.decide(documents)
        again = e.decide(documents)
    assert sum(d.cached for d in again) <= 1  # at most the last one kept survives
