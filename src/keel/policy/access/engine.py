"""The access engine: Cedar policies parsed once, entities loaded once, decisions in batches."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import cedarpy

NAMESPACE = "Keel"
ACTIONS = ("read", "apply", "delete", "plan", "deploy", "approve", "admin")
"""What a principal may ask to do."""

PRINCIPAL_TYPES = ("User", "ServiceAccount", "Agent")
ROLES = ("viewer", "operator", "approver", "admin")
"""The baseline's roles."""


_POSITIONAL = re.compile(r"\bpolicy\d+\b")


def _read(filename: str) -> str:
    return (resources.files("keel.policy.access") / filename).read_text("utf-8")


def baseline_policies() -> str:
    """The baseline policy text (roles, separation of duties, guards)."""
    return _read("baseline.cedar")


def schema_text() -> str:
    """The Cedar schema access policies are validated against."""
    return _read("schema.cedarschema")


class AccessPolicyError(ValueError):
    """Cedar policies that do not parse or do not validate against the schema.

    Attributes:
        messages: One message per problem, naming the policy (its ``@id``) where known.
    """

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass(frozen=True, slots=True)
class Request:
    """One access question.

    Attributes:
        principal: ``(type, id)``: ``("User", "alice")``.
        action: One of :data:`ACTIONS`.
        resource: ``(type, id)``: ``("ModelVersion", "credit-scoring@3.2")``.
    """

    principal: tuple[str, str]
    action: str
    resource: tuple[str, str]

    def to_cedar(self) -> dict[str, Any]:
        """The request in cedarpy's structured form.

        Entity references are dicts, not strings, so Cedar parses nothing per call; there is no
        ``context`` key, which spares cedarpy a copy and a JSON dump per call (half the
        overhead; no baseline policy reads a context).
        """
        return {
            "principal": {"type": f"{NAMESPACE}::{self.principal[0]}", "id": self.principal[1]},
            "action": {"type": f"{NAMESPACE}::Action", "id": self.action},
            "resource": {"type": f"{NAMESPACE}::{self.resource[0]}", "id": self.resource[1]},
        }


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """The answer to one request.

    Attributes:
        allowed: Whether it is permitted (default deny; forbid wins).
        policies: The ``@id`` of each policy that decided it (the permits that allowed it, or
            the forbids that denied it; empty for a default deny).
        errors: Policy evaluation errors (an erroring policy is skipped, as Cedar specifies).
    """

    allowed: bool
    policies: tuple[str, ...] = field(default_factory=tuple)
    errors: tuple[str, ...] = field(default_factory=tuple)


def _check(text: str, schema: cedarpy.Schema) -> None:
    try:
        cedarpy.PolicySet.from_str(text)
    except ValueError as error:
        raise AccessPolicyError([f"does not parse: {error}"]) from None
    result = cedarpy.validate_policies(text, schema)
    if not result.validation_passed:
        ids = _policy_ids(text)
        raise AccessPolicyError(
            [_POSITIONAL.sub(lambda m: ids.get(m[0], m[0]), e.error) for e in result.errors]
        )


class AccessEngine:
    """Answers access requests against the baseline plus custom Cedar policies.

    Args:
        entities: Cedar entities (JSON objects with ``uid``, ``attrs``, ``parents``), built by
            :func:`keel.policy.access.entities.entities`.
        custom: Custom Cedar policy texts by name; each must parse and validate against the
            schema. Give every policy an ``@id("...")`` so decisions can name it.

    Raises:
        AccessPolicyError: If a custom text (or the baseline) does not parse or validate.
    """

    def __init__(self, entities: list[dict[str, Any]], custom: dict[str, str] | None = None):
        schema = cedarpy.Schema.from_str(schema_text())
        texts = {"baseline": baseline_policies(), **(custom or {})}
        for name, text in texts.items():
            try:
                _check(text, schema)
            except AccessPolicyError as error:
                raise AccessPolicyError([f"{name}: {m}" for m in error.messages]) from None
        combined = "\n".join(texts.values())
        _check(combined, schema)  # ids unique across texts
        self._policies = cedarpy.PolicySet.from_str(combined)
        self._ids = _policy_ids(combined)
        self._entities = cedarpy.Entities.from_json_str(json.dumps(entities))

    def _decision(self, result: cedarpy.AuthzResult) -> AccessDecision:
        reasons = tuple(self._ids.get(r, r) for r in result.diagnostics.reasons)
        errors = tuple(
            _POSITIONAL.sub(lambda m: self._ids.get(m[0], m[0]), str(e))
            for e in result.diagnostics.errors
        )
        return AccessDecision(bool(result.allowed), reasons, errors)

    def authorize(self, request: Request) -> AccessDecision:
        """Decide one request.

        Args:
            request: The request.

        Returns:
            The decision.
        """
        return self._decision(
            cedarpy.is_authorized(request.to_cedar(), self._policies, self._entities)
        )

    def authorize_batch(self, requests: list[Request]) -> list[AccessDecision]:
        """Decide many requests in one call.

        Args:
            requests: The requests.

        Returns:
            One decision per request, in order.
        """
        results = cedarpy.is_authorized_batch(
            [r.to_cedar() for r in requests], self._policies, self._entities
        )
        return [self._decision(r) for r in results]


def _policy_ids(text: str) -> dict[str, str]:
    """Cedar's positional ids (``policy0``) to the ``@id`` annotations, where present."""
    parsed = json.loads(cedarpy.policies_to_json_str(text))
    return {
        key: policy.get("annotations", {}).get("id") or key
        for key, policy in parsed.get("staticPolicies", {}).items()
    }
