"""The Cedar access engine against real cedarpy: baseline roles, forbids, agents, custom text."""

from __future__ import annotations

import cedarpy
import pytest
from test_compliance import demo_estate

from keel.policy.access.engine import (
    AccessEngine,
    AccessPolicyError,
    Request,
    baseline_policies,
    schema_text,
)
from keel.policy.access.entities import entities, parse_principal, parse_resource, request


@pytest.fixture(scope="module")
def engine() -> AccessEngine:
    return AccessEngine(entities(demo_estate()))


def test_the_baseline_validates_against_the_schema() -> None:
    result = cedarpy.validate_policies(baseline_policies(), schema_text())
    assert result.validation_passed, result.errors


@pytest.mark.parametrize(
    ("principal", "action", "resource", "allowed", "policies"),
    [
        # roles
        ("user:dana", "read", "Site/fra-dc1", True, ("viewer.read",)),
        ("user:dana", "apply", "Site/fra-dc1", False, ()),
        ("user:bob", "apply", "Site/fra-dc1", True, ("operator.operate",)),
        ("user:bob", "approve", "ModelVersion/credit-scoring@3.1", False, ()),
        ("user:erin", "approve", "ModelVersion/credit-scoring@3.2", True, ("approver.approve",)),
        ("user:erin", "deploy", "Workload/kyc-agent", False, ()),
        ("user:root-ops", "admin", "Ledger", True, ("admin.all",)),
        ("service_account:ci-pipeline", "plan", "Workload/kyc-agent", True, ("operator.operate",)),
        # separation of duties: alice is an approver, but registered 3.2 herself
        (
            "user:alice",
            "approve",
            "ModelVersion/credit-scoring@3.2",
            False,
            ("sod.no_self_approval",),
        ),
        ("user:alice", "approve", "ModelVersion/credit-scoring@3.1", True, ("approver.approve",)),
        # restricted data: not even an admin's permit for a viewer; admins yes
        ("user:dana", "read", "Dataset/aml-alerts", False, ("restricted.owner_or_admin",)),
        ("user:root-ops", "read", "Dataset/aml-alerts", True, ("admin.all",)),
        ("user:dana", "read", "Dataset/eu-customer-profiles", True, ("viewer.read",)),
        # agents: granted data up to their ceiling, never governance
        (
            "agent:kyc-review-agent",
            "read",
            "Dataset/eu-customer-profiles",
            True,
            ("agent.granted_data",),
        ),
        ("agent:treasury-research-agent", "read", "Dataset/eu-customer-profiles", False, ()),
        (
            "agent:cn-service-agent",
            "read",
            "Dataset/cn-customer-profiles",
            True,
            ("agent.granted_data",),
        ),
        (
            "agent:kyc-review-agent",
            "approve",
            "ModelVersion/credit-scoring@3.2",
            False,
            ("agent.no_governance",),
        ),
        # unknown principals get the default deny
        ("user:mallory", "read", "Site/fra-dc1", False, ()),
    ],
)
def test_baseline_decisions(  # noqa: PLR0917 - one parameter per table column
    engine: AccessEngine,
    principal: str,
    action: str,
    resource: str,
    allowed: bool,
    policies: tuple[str, ...],
) -> None:
    decision = engine.authorize(request(principal, action, resource))
    assert (decision.allowed, decision.policies) == (allowed, policies)


def test_a_prohibited_workload_is_never_deployed_even_by_an_admin() -> None:
    found = entities(demo_estate())
    workload = next(e for e in found if e["uid"] == {"type": "Keel::Workload", "id": "kyc-agent"})
    workload["attrs"]["risk_tier"] = "prohibited"
    decision = AccessEngine(found).authorize(
        request("user:root-ops", "deploy", "Workload/kyc-agent")
    )
    assert not decision.allowed and decision.policies == ("ai_act.no_prohibited_deploy",)


def test_an_agent_above_its_ceiling_is_denied() -> None:
    found = entities(demo_estate())
    agent = next(e for e in found if e["uid"]["id"] == "kyc-review-agent")
    agent["attrs"]["max_classification_rank"] = 1  # internal; eu-customer-profiles is confidential
    decision = AccessEngine(found).authorize(
        request("agent:kyc-review-agent", "read", "Dataset/eu-customer-profiles")
    )
    assert not decision.allowed


def test_a_custom_forbid_overrides_the_baseline_permit() -> None:
    custom = {
        "freeze": '@id("freeze.no_apply")\nforbid (principal, action == Keel::Action::"apply", resource is Keel::Site);'
    }
    engine = AccessEngine(entities(demo_estate()), custom)
    decision = engine.authorize(request("user:bob", "apply", "Site/fra-dc1"))
    assert not decision.allowed and decision.policies == ("freeze.no_apply",)
    assert engine.authorize(request("user:bob", "apply", "Dataset/market-data-feed")).allowed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("permit (principal, action, resource) when { x == };", "does not parse"),
        (
            'permit (principal, action == Keel::Action::"read", resource) when { resource.colour == "red" };',
            "colour",
        ),
        ('permit (principal, action == Keel::Action::"fly", resource);', "fly"),
    ],
)
def test_a_bad_custom_policy_is_rejected_naming_it(text: str, message: str) -> None:
    with pytest.raises(AccessPolicyError) as caught:
        AccessEngine(entities(demo_estate()), {"PolicySet/x: mine": text})
    assert caught.value.messages[0].startswith("PolicySet/x: mine: ")
    assert message in str(caught.value)


def test_batch_decisions_match_single_ones(engine: AccessEngine) -> None:
    requests = [
        Request(("User", user), action, ("Dataset", dataset))
        for user in ("dana", "bob", "root-ops", "mallory")
        for action in ("read", "apply", "delete")
        for dataset in ("aml-alerts", "eu-customer-profiles", "market-data-feed")
    ]
    assert engine.authorize_batch(requests) == [engine.authorize(r) for r in requests]


@pytest.mark.parametrize("text", ["alice", "group:alice", "user:"])
def test_malformed_principals(text: str) -> None:
    with pytest.raises(ValueError, match="is not a principal"):
        parse_principal(text)


def test_resources_parse_by_kind() -> None:
    assert parse_resource("ModelVersion/m@1") == ("ModelVersion", "m@1")
    assert parse_resource("Link/a-b") == ("Resource", "Link/a-b")
    assert parse_resource("Ledger") == ("Ledger", "ledger")
    with pytest.raises(ValueError, match="Kind/name"):
        parse_resource("fra-dc1")
