"""The access engine: Cedar policies parsed once, entities loaded once, decisions in batches."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import cedarpy

NAMESPACE = "Keel"
ACTIONS = ("read", "apply", "delete", "plan", "deploy", "approve", "admin")
"""What a principal may ask to do on the estate."""
CALL = "call"
"""An agent calling a tool (:mod:`keel.policy.access.tools`), decided with a context."""

PRINCIPAL_TYPES = ("User", "ServiceAccount", "Agent")
ROLES = ("viewer", "operator", "approver", "admin")
"""The baseline's roles."""


_POSITIONAL = re.compile(r"\bpolicy\d+\b")
_ERRED = re.compile(r"policy `(policy\d+)`")


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
        context: Cedar's context (JSON values), for the ``call`` action only.
    """

    principal: tuple[str, str]
    action: str
    resource: tuple[str, str]
    context: dict[str, Any] | None = None

    def to_cedar(self) -> dict[str, Any]:
        """The request in cedarpy's structured form.

        Entity references are dicts, not strings, so Cedar parses nothing per call. Without a
        context there is no ``context`` key, which spares cedarpy a copy and a JSON dump per
        call (half the overhead; only ``call`` policies read a context).
        """
        found = {
            "principal": {"type": f"{NAMESPACE}::{self.principal[0]}", "id": self.principal[1]},
            "action": {"type": f"{NAMESPACE}::Action", "id": self.action},
            "resource": {"type": f"{NAMESPACE}::{self.resource[0]}", "id": self.resource[1]},
        }
        if self.context is not None:
            found["context"] = self.context
        return found


@dataclass(frozen=True, slots=True)
class AccessDecision:
    """The answer to one request.

    Attributes:
        allowed: Whether it is permitted (default deny; forbid wins).
        policies: The ``@id`` of each policy that decided it (the permits that allowed it, or
            the forbids that denied it; empty for a default deny).
        errors: Policy evaluation errors (an erroring policy is skipped, as Cedar specifies).
        failed: The ``@id`` of each policy that erred (the ids in ``errors``).
    """

    allowed: bool
    policies: tuple[str, ...] = field(default_factory=tuple)
    errors: tuple[str, ...] = field(default_factory=tuple)
    failed: tuple[str, ...] = field(default_factory=tuple)


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
        self._parsed: dict[str, Any] = json.loads(cedarpy.policies_to_json_str(combined))
        self._ids = _policy_ids(self._parsed)
        self._entities = cedarpy.Entities.from_json_str(json.dumps(entities))
        self._subsets: dict[tuple[str, ...], tuple[cedarpy.PolicySet, ContextUse]] = {}

    def with_entities(self, extra: list[dict[str, Any]]) -> AccessEngine:
        """The same policies over this engine's entities and ``extra`` (parsed once, shared)."""
        found = copy.copy(self)
        found._entities = self._entities.with_added_json_str(json.dumps(extra))
        return found

    def narrowed(
        self, principal: tuple[str, str], action: str, resource: tuple[str, str]
    ) -> Narrowed:
        """The policies that may apply to one principal, action and resource.

        Decided with only those, a request gives the same answer whatever its context, faster.
        A policy is left out only when its scope cannot match: ``==`` another entity, or
        ``is`` another type, or an action list without ``action``. ``in`` scopes are kept.
        """
        uids = {
            "principal": f"{NAMESPACE}::{principal[0]}",
            "action": f"{NAMESPACE}::Action",
            "resource": f"{NAMESPACE}::{resource[0]}",
        }
        ids = {"principal": principal[1], "action": action, "resource": resource[1]}
        kept = {
            key: policy
            for key, policy in self._parsed.get("staticPolicies", {}).items()
            if all(_may_match(policy[part], uids[part], ids[part]) for part in uids)
        }
        known = self._subsets.get(tuple(kept))  # many agents and tools share a subset
        if known is None:
            text = json.dumps({"staticPolicies": kept, "templates": {}, "templateLinks": []})
            uses = context_use([p["conditions"] for p in kept.values()])
            known = self._subsets[tuple(kept)] = (cedarpy.PolicySet.from_json_str(text), uses)
        return Narrowed(self, known[0], uses=known[1])

    def _decision(self, result: cedarpy.AuthzResult) -> AccessDecision:
        reasons = tuple(self._ids.get(r, r) for r in result.diagnostics.reasons)
        raw = [str(e) for e in result.diagnostics.errors]
        errors = tuple(_POSITIONAL.sub(lambda m: self._ids.get(m[0], m[0]), e) for e in raw)
        failed = tuple(
            self._ids.get(m[1], m[1]) for m in (_ERRED.search(e) for e in raw) if m is not None
        )
        return AccessDecision(bool(result.allowed), reasons, errors, failed)

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


ContextUse = dict[str, frozenset[str] | None] | None
"""What policies read of a request's context: ``None`` for all of it, else each attribute
read, with the attributes read of its value (``None``: the whole value). ``{}``: nothing."""


def context_use(conditions: list[Any]) -> ContextUse:
    """What the conditions (Cedar's JSON form) read of the context.

    A record can be observed only through its attributes (``.a``, ``has a``) or whole (as a
    value: ``==``, in a set). So a context holding only what this returns, with every value
    read whole, gets the same decision as the full context.
    """
    found: dict[str, set[str] | None] = {}
    whole = False

    def chain(node: Any) -> tuple[str, ...] | None:
        if node == {"Var": "context"}:
            return ()
        if isinstance(node, dict) and len(node) == 1 and "." in node:
            inner = chain(node["."]["left"])
            return None if inner is None else (*inner, node["."]["attr"])
        return None

    def walk(node: Any) -> None:
        nonlocal whole
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        if node == {"Var": "context"}:
            whole = True
            return
        op = next(iter(node)) if len(node) == 1 else None
        if op in (".", "has"):
            left = chain(node[op]["left"])
            if left is not None:
                path = (*left, node[op]["attr"])
                subs = found.get(path[0], set())
                if len(path) == 1 or subs is None:
                    found[path[0]] = None
                else:
                    found[path[0]] = subs | {path[1]}
                return
        for value in node.values():
            walk(value)

    walk(conditions)
    if whole:
        return None
    return {k: None if v is None else frozenset(v) for k, v in found.items()}


class Narrowed:
    """An engine's policies narrowed to one principal, action and resource.

    Made by :meth:`AccessEngine.narrowed`; its requests differ by context only.

    Attributes:
        uses: What the policies read of the context (:func:`context_use`); a request whose
            context holds only that gets the same decision.
    """

    def __init__(self, engine: AccessEngine, policies: cedarpy.PolicySet, *, uses: ContextUse):
        self._engine = engine
        self._policies = policies
        self.uses = uses

    @property
    def reads_context(self) -> bool:
        """Whether any of the policies reads the context (if none, every context decides alike)."""
        return self.uses is None or bool(self.uses)

    def authorize(self, request: Request) -> AccessDecision:
        """Decide a request for the principal, action and resource narrowed to."""
        engine = self._engine
        return engine._decision(
            cedarpy.is_authorized(request.to_cedar(), self._policies, engine._entities)
        )


def _may_match(scope: dict[str, Any], type_: str, id_: str) -> bool:
    """Whether a policy's scope (Cedar's JSON form) may match the entity ``type_::id_``."""
    op = scope.get("op")
    if op == "==":
        return bool(scope["entity"] == {"type": type_, "id": id_})
    if op == "is":
        return bool(scope["entity_type"] == type_)
    if op == "in" and "entities" in scope:  # an action list: the schema has no action groups
        return {"type": type_, "id": id_} in scope["entities"]
    return True


def _policy_ids(text: str | dict[str, Any]) -> dict[str, str]:
    """Cedar's positional ids (``policy0``) to the ``@id`` annotations, where present."""
    parsed = json.loads(cedarpy.policies_to_json_str(text)) if isinstance(text, str) else text
    return {
        key: policy.get("annotations", {}).get("id") or key
        for key, policy in parsed.get("staticPolicies", {}).items()
    }
