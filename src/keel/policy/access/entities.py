"""Cedar entities from the estate: principals with their roles, resources with attributes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keel.estate.estate import Estate
from keel.estate.resources import (
    CLASSIFICATION_ORDER,
    AgentSpec,
    DatasetSpec,
    ModelSpec,
    PrincipalSpec,
    WorkloadSpec,
    split_model_ref,
)
from keel.policy.access.engine import NAMESPACE, ROLES, Request

TYPED_KINDS = {"Site", "Dataset", "Model", "Workload", "PolicySet", "Principal", "Agent", "Cluster"}
"""Kinds with their own entity type; every other kind is a ``Resource`` named ``Kind/name``."""

GOVERNANCE_KINDS = ("Agent", "PolicySet", "Principal", "Cluster")
"""Kinds only admins may apply or delete (the baseline's ``governance.admin_only``): who may
do what, which rules bind, and where code runs with which credentials (clusters)."""

PRINCIPAL_PREFIXES = {"user": "User", "service_account": "ServiceAccount", "agent": "Agent"}


def _uid(kind: str, name: str) -> dict[str, str]:
    return {"type": f"{NAMESPACE}::{kind}", "id": name}


def _entity(
    kind: str, name: str, attrs: dict[str, Any], parents: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    clean = {k: v for k, v in attrs.items() if v is not None}
    return {"uid": _uid(kind, name), "attrs": clean, "parents": parents or []}


def _rank(classification: str) -> int:
    return CLASSIFICATION_ORDER.index(classification)  # type: ignore[arg-type,unused-ignore]


def principal_name(principal: str) -> str:
    """The ``name`` attribute of a principal reference: ``user:alice`` -> ``alice``.

    Args:
        principal: ``user:NAME``, ``service_account:NAME`` or ``agent:NAME``.

    Returns:
        The name policies compare with (``registered_by``, ``owner``).
    """
    return principal.partition(":")[2]


def entities(
    estate: Estate, registrants: Mapping[str, str | None] | None = None
) -> list[dict[str, Any]]:
    """Every principal and resource of an estate as Cedar entities.

    Args:
        estate: The estate.
        registrants: Who registered each version (``model@version`` -> principal reference),
            from the registry; a version not in it takes its manifest's ``registered_by``.

    Returns:
        Entity JSON objects (roles, users and service accounts, agents, sites, datasets,
        models and their versions, workloads, other resources, the ledger).
    """
    found = [_entity("Role", role, {}) for role in ROLES]
    custom_roles: set[str] = set()
    for name, resource in estate.of_kind("Principal").items():
        spec = resource.spec
        assert isinstance(spec, PrincipalSpec)
        custom_roles |= set(spec.roles) - set(ROLES)
        kind = PRINCIPAL_PREFIXES[spec.type]
        parents = [_uid("Role", role) for role in spec.roles]
        found.append(_entity(kind, name, {"name": name}, parents))
    found += [_entity("Role", role, {}) for role in sorted(custom_roles)]
    datasets = estate.of_kind("Dataset")
    for name, resource in datasets.items():
        spec = resource.spec
        assert isinstance(spec, DatasetSpec)
        attrs: dict[str, Any] = {
            "owner": spec.owner,
            "classification": spec.classification,
            "classification_rank": _rank(spec.classification),
        }
        found.append(_entity("Dataset", name, attrs))
    for name, resource in estate.of_kind("Agent").items():
        spec = resource.spec
        assert isinstance(spec, AgentSpec)
        attrs = {
            "name": name,
            "owner": spec.owner,
            "autonomy": spec.autonomy,
            "datasets": [{"__entity": _uid("Dataset", d)} for d in spec.datasets],
            "tools": list(spec.tools),
            "max_classification_rank": _rank(spec.max_classification),
        }
        found.append(_entity("Agent", name, attrs))
    models = estate.of_kind("Model")
    for name, resource in models.items():
        spec = resource.spec
        assert isinstance(spec, ModelSpec)
        found.append(_entity("Model", name, {"owner": spec.owner, "risk_tier": spec.risk_tier}))
        for version in spec.versions:
            ref = f"{name}@{version.version}"
            registrant = (registrants or {}).get(ref)
            attrs = {
                "owner": spec.owner,
                "risk_tier": spec.risk_tier,
                "state": version.state,
                "registered_by": (
                    principal_name(registrant) if registrant else version.registered_by
                ),
            }
            found.append(
                _entity("ModelVersion", f"{name}@{version.version}", attrs, [_uid("Model", name)])
            )
    for name, resource in estate.of_kind("Workload").items():
        spec = resource.spec
        assert isinstance(spec, WorkloadSpec)
        model = models.get(split_model_ref(spec.model)[0])
        tier = model.spec.risk_tier if model and isinstance(model.spec, ModelSpec) else "minimal"
        ranks = [
            _rank(d.spec.classification)
            for d in (datasets.get(i) for i in spec.inputs)
            if d is not None and isinstance(d.spec, DatasetSpec)
        ]
        attrs = {
            "owner": resource.labels.get("owner"),
            "risk_tier": tier,
            "classification_rank": max(ranks, default=0),
        }
        found.append(_entity("Workload", name, attrs))
    for name, resource in estate.of_kind("Site").items():
        found.append(_entity("Site", name, {"owner": resource.labels.get("owner")}))
    found += [_entity("PolicySet", name, {}) for name in estate.of_kind("PolicySet")]
    found += [_entity("Principal", name, {}) for name in estate.of_kind("Principal")]
    found += [_entity("Cluster", name, {}) for name in estate.of_kind("Cluster")]
    for kind, group in estate.resources.items():
        if kind in TYPED_KINDS:
            continue
        for name, resource in group.items():
            owner = resource.labels.get("owner")
            found.append(_entity("Resource", f"{kind}/{name}", {"owner": owner}))
    found.append(_entity("Ledger", "ledger", {}))
    return found


def parse_principal(text: str) -> tuple[str, str]:
    """``user:alice``, ``service_account:ci`` or ``agent:kyc-agent`` as an entity reference.

    Args:
        text: What the caller typed.

    Returns:
        ``(type, id)``.

    Raises:
        ValueError: If the prefix is not one of ``user``, ``service_account``, ``agent``.
    """
    prefix, sep, name = text.partition(":")
    if not sep or prefix not in PRINCIPAL_PREFIXES or not name:
        raise ValueError(
            f"{text!r} is not a principal: write user:NAME, service_account:NAME or agent:NAME"
        )
    return PRINCIPAL_PREFIXES[prefix], name


def parse_resource(text: str) -> tuple[str, str]:
    """``Kind/name`` (or ``ModelVersion/model@version``, or ``Ledger``) as an entity reference.

    Args:
        text: What the caller typed.

    Returns:
        ``(type, id)``.

    Raises:
        ValueError: If it is not ``Kind/name``.
    """
    if text == "Ledger":
        return "Ledger", "ledger"
    kind, sep, name = text.partition("/")
    if not sep or not kind or not name:
        raise ValueError(f"{text!r} is not a resource: write Kind/name, such as Dataset/customers")
    if kind in TYPED_KINDS or kind == "ModelVersion":
        return kind, name
    return "Resource", text


def request(principal: str, action: str, resource: str) -> Request:
    """Build a request from the strings a user types.

    Args:
        principal: ``user:alice``, ...
        action: An action name.
        resource: ``Kind/name``.

    Returns:
        The request.

    Raises:
        ValueError: If any part is malformed.
    """
    return Request(parse_principal(principal), action, parse_resource(resource))
