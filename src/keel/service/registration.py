"""The registry's part in every apply: admission by its rules, versions registered as declared.

Registered in :mod:`keel.service` as an apply hook (see :mod:`keel.service.hooks`): while an
apply is planned, :func:`admission_problems` refuses what would break the registry's rules;
inside its transaction, :func:`sync_at_apply` registers new versions and deploys approved ones
that serving workloads start to use; their events are saved once the ledger indexed them, and
their OpenLineage registration events are emitted after the commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from keel.errors import NotFoundError, Problem
from keel.estate import Estate, LocatedResource
from keel.estate.resources import ModelSpec, ModelVersionSpec, WorkloadSpec, split_model_ref
from keel.lineage import emit
from keel.policy.access.engine import AccessEngine
from keel.policy.access.entities import request
from keel.registry.lifecycle import (
    SERVING_KINDS,
    usable_by,
)
from keel.service import access, lineage
from keel.service.actor import Actor
from keel.service.hooks import Recorded
from keel.service.registry import Pending, model_entry
from keel.service.workspace import Unit
from keel.store.registry import ModelEvent, RegistryRepository, StoredVersion


def _record(spec: ModelSpec, version: ModelVersionSpec) -> dict[str, Any]:
    return {
        "risk_tier": spec.risk_tier,
        "artifact_digest": version.artifact_digest,
        "framework": version.framework,
        "parameters_billion": version.parameters_billion,
        "hyperparameters": version.hyperparameters,
        "metrics": version.metrics,
        "trained_on": list(version.trained_on),
    }


def admission_problems(
    unit: Unit,
    estate: Estate,
    located: list[LocatedResource],
    touched: set[tuple[str, str]],
    *,
    actor: Actor,
    admin: bool,
) -> list[Problem]:
    """What an apply would break in the registry's rules.

    Checks each created or changed workload's model version against its kind (a serving
    workload needs an approved or deployed version, nothing may use a retired one), each new
    ``high`` risk version declared past ``validated`` against its ``approved_by``, and who may
    register what: a new version is registered by the actor that applies it, as ``draft``;
    only an admin may import history (another registrant, a later state, approvals).

    Args:
        unit: A unit of work (read).
        estate: The estate the apply would produce.
        located: Where each resource was declared.
        touched: ``(kind, name)`` of the resources the apply creates or changes.
        actor: Who applies.
        admin: Whether the actor may import history.

    Returns:
        The problems, located at the field that causes them.
    """
    states = unit.repository(RegistryRepository).states()
    where = {(i.resource.kind, i.resource.name): i for i in located}
    problems: list[Problem] = []
    engine = None
    for (kind, name), item in sorted(where.items()):
        if (kind, name) not in touched:
            continue
        spec = item.resource.spec
        if isinstance(spec, WorkloadSpec):
            model, version = split_model_ref(spec.model)
            if version is None:
                continue
            state = states.get((model, version)) or _declared_state(estate, model, version)
            if state is not None and not usable_by(spec.kind, state):
                need = (
                    "an approved" if spec.kind in SERVING_KINDS else "a version that is not retired"
                )
                problems.append(
                    item.problem(
                        ("spec", "model"),
                        f"{model}@{version} is {state}: a {spec.kind} workload needs {need} "
                        "version (keel model approve)",
                    )
                )
        elif isinstance(spec, ModelSpec):
            if not admin:
                problems += _import_problems(estate, item, spec, states, actor)
            if spec.risk_tier != "high":
                continue
            for index, declared in enumerate(spec.versions):
                if (name, declared.version) in states or declared.state not in (
                    "approved",
                    "deployed",
                ):
                    continue
                engine = engine or access.engine_for(estate)
                gap = _declared_approval_gap(estate, engine, name, declared)
                if gap:
                    problems.append(item.problem(("spec", "versions", index, "approved_by"), gap))
    return problems


def _import_problems(
    estate: Estate,
    item: LocatedResource,
    spec: ModelSpec,
    states: dict[tuple[str, str], str],
    actor: Actor,
) -> list[Problem]:
    """New versions a non-admin declares as history: another registrant, a state, approvals."""
    problems = []
    why = "only an admin may import a version's history"
    for index, version in enumerate(spec.versions):
        if (item.resource.name, version.version) in states:
            continue
        where = ("spec", "versions", index)
        if version.registered_by:
            claimed = access.principal_ref(estate, version.registered_by)
            if claimed != actor.principal:
                problems.append(
                    item.problem(
                        (*where, "registered_by"),
                        f"names {claimed}, but {actor.principal} applies it: a new version is "
                        f"registered by whoever applies it; {why}",
                    )
                )
        if version.state != "draft":
            problems.append(
                item.problem(
                    (*where, "state"),
                    f"a new version is registered as draft, not {version.state}; {why}",
                )
            )
        if version.approved_by:
            problems.append(
                item.problem(
                    (*where, "approved_by"),
                    f"approvals are given with keel model approve, not declared; {why}",
                )
            )
    return problems


def _declared_state(estate: Estate, model: str, version: str) -> str | None:
    resource = estate.of_kind("Model").get(model)
    if resource is None or not isinstance(resource.spec, ModelSpec):
        return None
    return next((v.state for v in resource.spec.versions if v.version == version), None)


def _declared_approval_gap(
    estate: Estate, engine: AccessEngine, model: str, version: ModelVersionSpec
) -> str:
    approvers = list(dict.fromkeys(version.approved_by))
    refused = []
    for name in approvers:
        try:
            principal = access.principal_ref(estate, name)
        except NotFoundError:
            refused.append(f"{name} (no such principal)")
            continue
        decision = engine.authorize(
            request(principal, "approve", f"ModelVersion/{model}@{version.version}")
        )
        if not decision.allowed:
            refused.append(f"{name} (not allowed to approve it)")
    allowed = len(approvers) - len(refused)
    if allowed >= 2 and not refused:
        return ""
    detail = f"; refused: {', '.join(refused)}" if refused else ""
    return (
        f"a high-risk version registered as {version.state} needs two approvers in approved_by "
        f"that may approve it and did not register it, has {allowed}{detail}"
    )


def sync_at_apply(
    unit: Unit, estate: Estate, touched: set[tuple[str, str]], now: datetime, actor: Actor
) -> Pending:
    """Register new versions; move approved versions that serving workloads use to deployed.

    Runs inside the apply's transaction, after admission passed. The registrant of a new
    version is the actor, unless the manifest names another (an admin importing history,
    marked ``imported``).

    Args:
        unit: The apply's unit of work.
        estate: The estate after the apply.
        touched: ``(kind, name)`` of the resources the apply creates or changes.
        now: The time.
        actor: Who applies.

    Returns:
        The ledger entries to append, and the events to save once their indices are known.
    """
    repo = unit.repository(RegistryRepository)
    pending = Pending([], [])
    if not any(kind in ("Model", "Workload") for kind, _ in touched):
        return pending
    states = repo.states()
    new: list[StoredVersion] = []
    for name, spec in sorted(estate.specs(ModelSpec).items()):
        for version in spec.versions:
            key = (name, version.version)
            record = _record(spec, version)
            if key in states:
                if ("Model", name) in touched:
                    repo.update(name, version.version, now, record=record)
                continue
            new.append(
                _register(estate, name, version, record, when_who=(now, actor), pending=pending)
            )
            states[key] = version.state
    repo.insert(new)
    _deploy_serving(repo, estate, touched, states, now=now, pending=pending)
    return pending


def _register(
    estate: Estate,
    name: str,
    version: ModelVersionSpec,
    record: dict[str, Any],
    *,
    when_who: tuple[datetime, Actor],
    pending: Pending,
) -> StoredVersion:
    """A new version, as declared; its registration (and declared approvals) go to ``pending``.

    The registrant is the actor unless the manifest names another; then, or when the version is
    declared past ``draft`` or approved, the registration is marked ``imported``.
    """
    now, actor = when_who
    registered_by = (
        access.principal_ref(estate, version.registered_by)
        if version.registered_by
        else actor.principal
    )
    imported = (
        registered_by != actor.principal or version.state != "draft" or bool(version.approved_by)
    )
    history = {"imported": True} if imported else {}
    pending.add(
        ModelEvent(
            name,
            version.version,
            "registered",
            registered_by,
            {"state": version.state, **history, **record},
            None,
            now,
        ),
        model_entry(
            "registered",
            name,
            version.version,
            registered_by,
            state=version.state,
            artifact_digest=version.artifact_digest,
            trained_on=list(version.trained_on),
            **history,
        ),
    )
    for approver in dict.fromkeys(version.approved_by):
        principal = access.principal_ref(estate, approver)
        pending.add(
            ModelEvent(name, version.version, "approved", principal, {"declared": True}, None, now),
            model_entry("approved", name, version.version, principal, declared=True),
        )
    return StoredVersion(
        name, version.version, version.state, version.state, registered_by, record, now, now
    )


def _deploy_serving(
    repo: RegistryRepository,
    estate: Estate,
    touched: set[tuple[str, str]],
    states: dict[tuple[str, str], str],
    *,
    now: datetime,
    pending: Pending,
) -> None:
    """Move the approved versions that changed serving workloads use to ``deployed``."""
    for name, spec in sorted(estate.workloads().items()):
        model, version_name = split_model_ref(spec.model)
        if version_name is None or spec.kind not in SERVING_KINDS:
            continue
        if states.get((model, version_name)) == "approved" and ("Workload", name) in touched:
            repo.update(model, version_name, now, state="deployed")
            states[(model, version_name)] = "deployed"
            detail = {"from": "approved", "to": "deployed", "workload": name}
            pending.add(
                ModelEvent(model, version_name, "transitioned", None, detail, None, now),
                model_entry("transitioned", model, version_name, None, **detail),
            )


def registration_events(pending: Pending) -> list[dict[str, Any]]:
    """OpenLineage events for the versions an apply registered (their training runs).

    Args:
        pending: What :func:`sync_at_apply` returned.

    Returns:
        One RunEvent per new version.
    """
    return [
        emit.registration_event(e.model, e.version, e.detail.get("trained_on", []), e.at)
        for e in pending.events
        if e.type == "registered"
    ]


def save_pending(unit: Unit, pending: Pending, first_index: int) -> None:
    """Save the events of :func:`sync_at_apply` once the ledger gave their indices.

    Args:
        unit: The apply's unit of work.
        pending: What :func:`sync_at_apply` returned.
        first_index: The ledger index of ``pending.entries[0]``.
    """
    pending.save(unit.repository(RegistryRepository), first_index)


class RegistryHook:
    """The registry's part in every apply (see :mod:`keel.service.hooks`).

    Admission by the registry's rules; new versions registered and serving versions deployed
    in the apply's transaction, their events saved once the ledger indexed them, and their
    OpenLineage registration events emitted after the commit.
    """

    def admit(
        self,
        unit: Unit,
        estate: Estate,
        located: list[LocatedResource],
        touched: set[tuple[str, str]],
        *,
        actor: Actor,
        admin: bool,
    ) -> list[Problem]:
        """See :func:`admission_problems`."""
        return admission_problems(unit, estate, located, touched, actor=actor, admin=admin)

    def written(
        self, unit: Unit, estate: Estate, touched: set[tuple[str, str]], now: datetime, actor: Actor
    ) -> Recorded:
        """See :func:`sync_at_apply`."""
        pending = sync_at_apply(unit, estate, touched, now, actor)
        events = registration_events(pending)
        if events:
            workspace = unit.workspace

            def emit() -> None:
                lineage.emit(workspace, events)  # never fails the apply; failures are logged

            unit.after_commit(emit)
        return Recorded(pending.entries, lambda first: save_pending(unit, pending, first))
