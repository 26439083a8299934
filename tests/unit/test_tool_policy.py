"""Tool calls decided by Cedar: arguments as Cedar values, narrowing, fail closed, budgets."""

from __future__ import annotations

import json
import random

import cedarpy
import pytest
from test_compliance import demo_estate

from keel.policy.access.engine import (
    CALL,
    AccessEngine,
    AccessPolicyError,
    Request,
    context_use,
    schema_text,
)
from keel.policy.access.entities import entities
from keel.policy.access.tools import (
    ToolCallPolicy,
    ToolLabels,
    cedar_value,
    reasons,
    tool_entity,
)

TOOLS = {
    "crm-read": ToolLabels("bank", 2, 2, False, ("eu-customer-profiles",)),
    "case-create": ToolLabels("bank", 0, 2, False, ()),
    "payment-initiate": ToolLabels("bank", 0, 2, True, ()),
    "web-search": ToolLabels("web", 0, 0, False, ()),
}
AGENT = "kyc-review-agent"  # the demo's manifest grants crm-read, case-create, sanctions-...


def engine(custom: str | None = None) -> AccessEngine:
    found = entities(demo_estate()) + [tool_entity(n, labels) for n, labels in TOOLS.items()]
    return AccessEngine(found, {"custom": custom} if custom else None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        (-(2**63), -(2**63)),
        (2**63, str(2**63)),  # beyond Long: its text, so comparing it with a number errs
        (20000.0, 20000),
        (12.5, {"__extn": {"fn": "decimal", "arg": "12.5"}}),
        (-0.0001, {"__extn": {"fn": "decimal", "arg": "-0.0001"}}),
        (0.1 + 0.2, "0.30000000000000004"),  # more than four decimals: never rounded
        (1e300, "1e+300"),
        (True, True),
        ("x", "x"),
        ({"a": None, "b": [1, None, {"c": "d"}]}, {"b": [1, {"c": "d"}]}),
        (None, None),
    ],
)
def test_json_values_become_cedar_values_without_rounding(value: object, expected: object) -> None:
    assert cedar_value(value) == expected


def test_the_manifest_grants_tools_and_a_forbid_on_an_argument_narrows_it() -> None:
    cap = """@id("payments.cap")
    forbid (principal, action == Keel::Action::"call", resource == Keel::Tool::"case-create")
    unless { context.arguments has amount_eur && context.arguments.amount_eur <= 10000 };"""
    policy = ToolCallPolicy(engine(cap), AGENT, TOOLS)
    assert policy.decide("crm-read", {"customer_id": "C-1"}) == []
    assert policy.decide("web-search", {"q": "x"}) == ["tool.not_granted"]
    assert policy.decide("email-send", {}) == ["tool.not_granted"]  # no such tool entity
    assert policy.decide("case-create", {"amount_eur": 9000}) == []
    assert policy.decide("case-create", {"amount_eur": 12000}) == ["policy.forbid:payments.cap"]
    assert policy.decide("case-create", {}) == ["policy.forbid:payments.cap"]
    listed = [t for t in TOOLS if not policy.decide(t, {})]  # as tools/list decides
    assert "crm-read" in listed and "web-search" not in listed
    assert "case-create" not in listed  # no arguments: forbidden, so not listed


def test_a_policy_that_errs_blocks_the_call_and_keeps_no_message() -> None:
    cap = """@id("payments.cap")
    forbid (principal, action == Keel::Action::"call", resource == Keel::Tool::"case-create")
    when { context.arguments has amount_eur && context.arguments.amount_eur > 10000 };"""
    policy = ToolCallPolicy(engine(cap), AGENT, TOOLS)
    assert policy.decide("case-create", {"amount_eur": 12000}) == ["policy.forbid:payments.cap"]
    # Cedar skips a policy that errs, so a skipped forbid would let the call through
    for amount in ("12000 EUR", 12000.5, 2**64):
        assert policy.decide("case-create", {"amount_eur": amount}) == ["policy.error:payments.cap"]


def test_budgets_rates_and_taint_are_policies_over_the_usage() -> None:
    rules = """@id("kyc.budget")
    forbid (principal == Keel::Agent::"kyc-review-agent", action == Keel::Action::"call", resource)
    when { context.session_calls >= 20 || context.tool_calls_last_minute >= 5 };

    @id("no.web.after.confidential")
    forbid (principal, action == Keel::Action::"call", resource)
    when { context.session_taint_rank > resource.receives_rank };"""
    policy = ToolCallPolicy(engine(rules), AGENT, TOOLS)
    assert policy.decide("crm-read", {}, {"session_calls": 19, "session_taint_rank": 2}) == []
    assert policy.decide("crm-read", {}, {"session_calls": 20}) == ["policy.forbid:kyc.budget"]
    assert policy.decide("crm-read", {}, {"tool_calls_last_minute": 5}) == [
        "policy.forbid:kyc.budget"
    ]
    assert policy.decide("case-create", {}, {"session_taint_rank": 3}) == [
        "policy.forbid:no.web.after.confidential"
    ]
    assert policy.decide("case-create", {}, {"session_taint_rank": 2}) == []


def test_tool_labels_and_the_via_are_there_for_policies() -> None:
    rules = """@id("no.approval.tools.by.check")
    forbid (principal, action == Keel::Action::"call", resource)
    when { resource.approval && context.via == "check" };

    @id("web.server.off")
    forbid (principal, action == Keel::Action::"call", resource)
    when { resource.server == "web" };

    @id("agents.call.payments")
    permit (principal is Keel::Agent, action == Keel::Action::"call",
            resource == Keel::Tool::"payment-initiate");"""
    policy = ToolCallPolicy(engine(rules), AGENT, TOOLS)
    assert policy.decide("payment-initiate", {}, via="mcp") == []
    assert policy.decide("payment-initiate", {}, via="check") == [
        "policy.forbid:no.approval.tools.by.check"
    ]
    assert policy.decide("web-search", {}) == ["policy.forbid:web.server.off"]


def test_reading_an_argument_without_has_is_refused_when_the_policy_is_loaded() -> None:
    unguarded = """@id("cap")
    forbid (principal, action == Keel::Action::"call", resource)
    when { context.arguments.amount_eur > 10000 };"""
    with pytest.raises(AccessPolicyError, match="cap"):
        engine(unguarded)


def test_reasons_name_every_forbid_and_error() -> None:
    from keel.policy.access.engine import AccessDecision

    assert reasons(AccessDecision(True, ("agent.granted_tools",))) == []
    assert reasons(AccessDecision(False)) == ["tool.not_granted"]
    assert reasons(AccessDecision(False, ("a", "b"))) == ["policy.forbid:a", "policy.forbid:b"]
    assert reasons(AccessDecision(True, ("p",), ("boom",), ("e",))) == ["policy.error:e"]


SCOPES = {
    "principal": [
        "principal",
        'principal == Keel::Agent::"kyc-review-agent"',
        'principal == Keel::Agent::"treasury-research-agent"',
        "principal is Keel::Agent",
        "principal is Keel::User",
        'principal in Keel::Role::"viewer"',
    ],
    "action": [
        "action",
        'action == Keel::Action::"call"',
        'action == Keel::Action::"read"',
        'action in [Keel::Action::"read", Keel::Action::"call"]',
        'action in [Keel::Action::"read", Keel::Action::"apply"]',
    ],
    "resource": [
        "resource",
        'resource == Keel::Tool::"crm-read"',
        'resource == Keel::Tool::"case-create"',
        "resource is Keel::Tool",
        "resource is Keel::Dataset",
    ],
}
CONDITIONS = [
    "",
    " when { context.session_calls > 3 }",
    ' when { context.arguments has q && context.arguments.q == "x" }',
    " unless { context.agent_calls_last_minute < 10 }",
    " when { context.arguments has limit && context.arguments.limit > 3 }",
    " when { context.arguments == {} }",  # the arguments read whole
    ' when { context.arguments has n && context.arguments.n == {"m": 1} }',
    ' when { context.via == "mcp" && context has session_calls }',
]
ARGUMENTS: list[dict[str, object]] = [
    {}, {"q": "x"}, {"q": "y"}, {"q": "x", "limit": 5}, {"limit": 2, "n": {"m": 1}},
    {"n": {"m": 1, "k": None}, "other": [1, 2]}, {"limit": "5"},
]  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_narrowed_decisions_equal_the_whole_policy_set(seed: int) -> None:
    """Random scopes and conditions: deciding with the narrowed policies (and the per-tool
    cache where no policy reads the context) gives the whole set's answer."""
    rng = random.Random(seed)
    schema = cedarpy.Schema.from_str(schema_text())
    texts: list[str] = []
    while len(texts) < 10:  # draws that do not validate (`principal is User` calling) are redrawn
        scope = ", ".join(rng.choice(SCOPES[part]) for part in ("principal", "action", "resource"))
        effect = rng.choice(["permit", "forbid"])
        text = f'@id("r{len(texts)}") {effect} ({scope}){rng.choice(CONDITIONS)};'
        if cedarpy.validate_policies(text, schema).validation_passed:
            texts.append(text)
    whole = engine("\n".join(texts))
    for agent in ("kyc-review-agent", "treasury-research-agent"):
        policy = ToolCallPolicy(whole, agent, TOOLS)
        for _ in range(40):
            tool = rng.choice(sorted(TOOLS))
            arguments = rng.choice(ARGUMENTS)
            usage = {
                "session_calls": rng.randint(0, 6),
                "agent_calls_last_minute": rng.randint(5, 15),
            }
            context = {"arguments": cedar_value(arguments), "via": "mcp", "tool_calls_last_minute": 0,
                       "session_taint_rank": 0, **usage}  # fmt: skip
            expected = reasons(
                whole.authorize(Request(("Agent", agent), CALL, ("Tool", tool), context))
            )
            assert policy.decide(tool, arguments, usage) == expected, (texts, agent, tool, context)


def test_what_policies_read_of_the_context() -> None:
    def uses(condition: str) -> object:
        text = f"permit (principal, action, resource) when {{ {condition} }};"
        parsed = json.loads(cedarpy.policies_to_json_str(text))["staticPolicies"]["policy0"]
        return context_use([parsed["conditions"]])

    assert uses("true") == {}
    assert uses("context.session_calls > 1 && context has via") == {
        "session_calls": None, "via": None
    }  # fmt: skip
    assert uses("context.arguments has a && context.arguments.a.b > 3") == {
        "arguments": frozenset({"a"})
    }
    assert uses("context.arguments has a && context.arguments == {}") == {"arguments": None}
    assert uses('context["arguments"]["x y"] == 1') == {"arguments": frozenset({"x y"})}
    assert uses("context == {}") is None
    assert uses("[context].contains(context)") is None
