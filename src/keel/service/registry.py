"""The model registry as a service: registration at apply, evaluations, approvals, transitions.

Invariants:
    * Every registration, evaluation, approval and transition is one ledger entry, written in
      the same transaction as the registry change it records; the registry row keeps the
      entry's index.
    * Approvals go through the access policy (Cedar): separation of duties forbids the
      registrant; a refusal is written to the ledger too.
    * A serving workload is admitted only with an approved (or deployed) version; applying one
      moves an approved version to ``deployed``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from keel.errors import LifecycleError, NotFoundError, Problem, UserError
from keel.estate import Estate, LocatedResource
from keel.estate.resources import ModelSpec, ModelVersionSpec, WorkloadSpec, split_model_ref
from keel.estate.spelling import did_you_mean
from keel.lineage import emit
from keel.policy.access.engine import AccessEngine
from keel.policy.access.entities import request
from keel.registry import factsheet as sheet
from keel.registry.lifecycle import (
    SERVING_KINDS,
    Evaluation,
    approvals_needed,
    evaluation_gaps,
    transition_gap,
    usable_by,
)
from keel.service import access, ledger, lineage
from keel.service.actor import Actor
from keel.service.stored import load_estate
from keel.service.workspace import Workspace
from keel.store.registry import ModelEvent, RegistryRepository, StoredVersion


@dataclass(frozen=True, slots=True)
class VersionDetail:
    """Everything the registry knows about one version.

    Attributes:
        version: The registered version.
        risk_tier: Its model's risk tier.
        events: Its history, oldest first, each with its ledger index.
        aliases: Aliases that point at it.
        evaluations: The latest record per ``(kind, name)``.
        approvers: Principals that approved it.
        approvals_needed: How many approvals its tier needs (``None``: never approvable).
    """

    version: StoredVersion
    risk_tier: str
    events: list[ModelEvent]
    aliases: list[str]
    evaluations: list[Evaluation]
    approvers: list[str]
    approvals_needed: int | None


@dataclass
class Pending:
    """Registry changes waiting for their ledger indices, in ledger order.

    Attributes:
        entries: The ledger entries to append.
        events: The registry events, saved once the entries' indices are known.
    """

    entries: list[dict[str, Any]]
    events: list[ModelEvent]

    def add(self, event: ModelEvent, entry: dict[str, Any]) -> None:
        self.events.append(event)
        self.entries.append(entry)

    def save(self, repo: RegistryRepository, first_index: int) -> None:
        repo.add_events(
            [
                ModelEvent(e.model, e.version, e.type, e.principal, e.detail, first_index + i, e.at)
                for i, e in enumerate(self.events)
            ]
        )


def _entry(
    type_: str, model: str, version: str, principal: str | None, **detail: Any
) -> dict[str, Any]:
    entry = {"type": f"model.{type_}", "model": model, "version": version, **detail}
    if principal is not None:
        entry["by"] = principal
    return entry


def _spec(estate: Estate, model: str) -> ModelSpec:
    resource = estate.of_kind("Model").get(model)
    if resource is None:
        models = estate.of_kind("Model")
        raise NotFoundError(f"Model/{model} does not exist{did_you_mean(model, models)}")
    assert isinstance(resource.spec, ModelSpec)
    return resource.spec


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
    conn: Connection,
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
        conn: A connection (read).
        estate: The estate the apply would produce.
        located: Where each resource was declared.
        touched: ``(kind, name)`` of the resources the apply creates or changes.
        actor: Who applies.
        admin: Whether the actor may import history.

    Returns:
        The problems, located at the field that causes them.
    """
    states = RegistryRepository(conn).states()
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
    conn: Connection, estate: Estate, touched: set[tuple[str, str]], now: datetime, actor: Actor
) -> Pending:
    """Register new versions; move approved versions that serving workloads use to deployed.

    Runs inside the apply's transaction, after admission passed. The registrant of a new
    version is the actor, unless the manifest names another (an admin importing history,
    marked ``imported``).

    Args:
        conn: The apply's connection.
        estate: The estate after the apply.
        touched: ``(kind, name)`` of the resources the apply creates or changes.
        now: The time.
        actor: Who applies.

    Returns:
        The ledger entries to append, and the events to save once their indices are known.
    """
    repo = RegistryRepository(conn)
    pending = Pending([], [])
    if not any(kind in ("Model", "Workload") for kind, _ in touched):
        return pending
    states = repo.states()
    new: list[StoredVersion] = []
    for name, resource in sorted(estate.of_kind("Model").items()):
        spec = resource.spec
        assert isinstance(spec, ModelSpec)
        for version in spec.versions:
            key = (name, version.version)
            record = _record(spec, version)
            if key in states:
                if ("Model", name) in touched:
                    repo.update(name, version.version, now, record=record)
                continue
            registered_by = (
                access.principal_ref(estate, version.registered_by)
                if version.registered_by
                else actor.principal
            )
            imported = (
                registered_by != actor.principal
                or version.state != "draft"
                or bool(version.approved_by)
            )
            history = {"imported": True} if imported else {}
            new.append(
                StoredVersion(
                    name,
                    version.version,
                    version.state,
                    version.state,
                    registered_by,
                    record,
                    now,
                    now,
                )
            )
            states[key] = version.state
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
                _entry(
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
                    ModelEvent(
                        name, version.version, "approved", principal, {"declared": True}, None, now
                    ),
                    _entry("approved", name, version.version, principal, declared=True),
                )
    repo.insert(new)
    for name, resource in sorted(estate.of_kind("Workload").items()):
        spec = resource.spec
        assert isinstance(spec, WorkloadSpec)
        model, version_name = split_model_ref(spec.model)
        if version_name is None or spec.kind not in SERVING_KINDS:
            continue
        if states.get((model, version_name)) == "approved" and ("Workload", name) in touched:
            repo.update(model, version_name, now, state="deployed")
            states[(model, version_name)] = "deployed"
            detail = {"from": "approved", "to": "deployed", "workload": name}
            pending.add(
                ModelEvent(model, version_name, "transitioned", None, detail, None, now),
                _entry("transitioned", model, version_name, None, **detail),
            )
    return pending


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


def save_pending(conn: Connection, pending: Pending, first_index: int) -> None:
    """Save the events of :func:`sync_at_apply` once the ledger gave their indices.

    Args:
        conn: The apply's connection.
        pending: What :func:`sync_at_apply` returned.
        first_index: The ledger index of ``pending.entries[0]``.
    """
    pending.save(RegistryRepository(conn), first_index)


def _resolve(repo: RegistryRepository, estate: Estate, ref: str) -> StoredVersion:
    model, version = split_model_ref(ref)
    if not version:
        raise UserError(f"{ref!r} names no version: write MODEL@VERSION or MODEL@ALIAS")
    _spec(estate, model)
    found = repo.version(model, version)
    if found is None:
        alias = repo.aliases(model).get((model, version))
        found = repo.version(model, alias) if alias else None
    if found is None:
        known = [v.version for v in repo.versions(model)]
        raise NotFoundError(
            f"ModelVersion/{model}@{version} is not registered{did_you_mean(version, known)}",
            hint="apply a Model manifest that declares the version to register it",
        )
    return found


def _change(
    workspace: Workspace, ref: str, actor: Actor, action: str, change: Any
) -> StoredVersion:
    """Run a registry change under the access policy, in one transaction with its ledger entries.

    ``change(repo, estate, version, now, pending)`` checks the rules and makes the change. The
    access policy sees the registrant the registry recorded, not the manifest's claim.
    """
    estate = load_estate(workspace)
    with workspace.database.read() as conn:
        asked = _resolve(RegistryRepository(conn), estate, ref)
    # Decided before the write transaction, so that a refusal's ledger entry stays.
    access.require(
        workspace,
        estate,
        actor,
        action,
        f"ModelVersion/{asked.ref}",
        registrants={asked.ref: asked.registered_by},
    )
    with workspace.database.write() as conn:
        repo = RegistryRepository(conn)
        version = repo.version(asked.model, asked.version)
        assert version is not None  # versions are never deleted
        now = datetime.now(UTC)
        pending = Pending([], [])
        change(repo, estate, version, now, pending)
        first, _ = ledger.record(conn, workspace, pending.entries, actor=actor.principal)
        pending.save(repo, first)
        updated = repo.version(version.model, version.version)
    assert updated is not None
    return updated


def evaluate(
    workspace: Workspace,
    ref: str,
    evaluations: list[Evaluation],
    *,
    actor: Actor,
) -> StoredVersion:
    """Record evaluation results (benchmarks and vulnerability probes) of a version.

    Args:
        workspace: The workspace.
        ref: ``model@version`` or ``model@alias``.
        evaluations: The results.
        actor: Who records them; needs ``apply``.

    Returns:
        The version.

    Raises:
        UserError: If there is nothing to record.
        LifecycleError: If the version is retired.
        ForbiddenError: If the access policy refuses the principal.
    """
    if not evaluations:
        raise UserError("give at least one --benchmark or --probe result")
    principal = actor.principal

    def change(
        repo: RegistryRepository, _e: Estate, v: StoredVersion, now: datetime, pending: Pending
    ) -> None:
        if v.state == "retired":
            raise LifecycleError(f"{v.ref} is retired: it takes no new evaluations")
        for item in evaluations:
            detail = {k: val for k, val in asdict(item).items() if val is not None}
            pending.add(
                ModelEvent(v.model, v.version, "evaluated", principal, detail, None, now),
                _entry("evaluated", v.model, v.version, principal, **detail),
            )

    return _change(workspace, ref, actor, "apply", change)


def _evaluations(events: list[ModelEvent]) -> list[Evaluation]:
    latest: dict[tuple[str, str], Evaluation] = {}
    for event in events:
        if event.type == "evaluated":
            d = event.detail
            latest[(d["kind"], d["name"])] = Evaluation(
                d["kind"], d["name"], bool(d["passed"]), d.get("score"), d.get("details")
            )
    return list(latest.values())


def _approvers(events: list[ModelEvent]) -> list[str]:
    return list(dict.fromkeys(e.principal for e in events if e.type == "approved" and e.principal))


def _transition(
    v: StoredVersion,
    target: str,
    *,
    principal: str | None,
    now: datetime,
    pending: Pending,
    repo: RegistryRepository,
    reason: str = "",
) -> None:
    detail = {"from": v.state, "to": target, **({"reason": reason} if reason else {})}
    repo.update(v.model, v.version, now, state=target)
    pending.add(
        ModelEvent(v.model, v.version, "transitioned", principal, detail, None, now),
        _entry("transitioned", v.model, v.version, principal, **detail),
    )


def transition(
    workspace: Workspace,
    ref: str,
    target: str,
    reason: str = "",
    *,
    actor: Actor,
) -> StoredVersion:
    """Move a version to ``validated``, back to ``draft``, or to ``retired``.

    ``approved`` comes from approvals (:func:`approve`); ``deployed`` from applying a serving
    workload that uses the version.

    Args:
        workspace: The workspace.
        ref: ``model@version`` or ``model@alias``.
        target: ``validated``, ``draft`` or ``retired``.
        reason: Why (kept in the ledger entry).
        actor: Who asks; needs ``apply``.

    Returns:
        The version after the change.

    Raises:
        LifecycleError: If the transition is not allowed from the current state, or the
            evaluations do not allow ``validated``, or a stored workload still uses a version to
            retire.
        ForbiddenError: If the access policy refuses the principal.
    """
    if target in ("approved", "deployed"):
        how = "keel model approve" if target == "approved" else "apply a workload that uses it"
        raise LifecycleError(f"a version becomes {target} through approvals: {how}")
    principal = actor.principal

    def change(
        repo: RegistryRepository, estate: Estate, v: StoredVersion, now: datetime, pending: Pending
    ) -> None:
        gap = transition_gap(v.state, target)
        if gap:
            raise LifecycleError(f"{v.ref}: {gap}")
        if target == "validated":
            gaps = evaluation_gaps(_evaluations(repo.events(v.model, v.version)))
            if gaps:
                raise LifecycleError(
                    f"{v.ref} cannot be validated: {'; '.join(gaps)}",
                    hint="record results with keel model evaluate --benchmark/--probe",
                )
        if target == "retired":
            users = _workloads_using(estate, v.model, v.version)
            if users:
                raise LifecycleError(
                    f"{v.ref} is still used by {', '.join(users)}; point them at another "
                    "version first"
                )
        _transition(
            v, target, principal=principal, now=now, pending=pending, repo=repo, reason=reason
        )

    return _change(workspace, ref, actor, "apply", change)


def _workloads_using(estate: Estate, model: str, version: str) -> list[str]:
    return sorted(
        name
        for name, resource in estate.of_kind("Workload").items()
        if isinstance(resource.spec, WorkloadSpec)
        and split_model_ref(resource.spec.model) == (model, version)
    )


def approve(workspace: Workspace, ref: str, *, actor: Actor) -> StoredVersion:
    """Approve a validated version; it becomes ``approved`` with enough approvals.

    Args:
        workspace: The workspace.
        ref: ``model@version`` or ``model@alias``.
        actor: The approver; the access policy must allow ``approve`` (separation of duties
            forbids the registrant).

    Returns:
        The version after the approval.

    Raises:
        LifecycleError: If the version is not validated, its tier is never approvable, or the
            principal already approved it.
        ForbiddenError: If the access policy refuses the principal (written to the ledger).
    """
    principal = actor.principal

    def change(
        repo: RegistryRepository, estate: Estate, v: StoredVersion, now: datetime, pending: Pending
    ) -> None:
        tier = _spec(estate, v.model).risk_tier
        needed = approvals_needed(tier)
        if needed is None:
            raise LifecycleError(f"{v.ref} belongs to a {tier} model: no approval can admit it")
        if v.state != "validated":
            raise LifecycleError(
                f"{v.ref} is {v.state}: only a validated version can be approved",
                hint="keel model promote --to validated, after its evaluations",
            )
        events = repo.events(v.model, v.version)
        approvers = _approvers(events)
        if principal in approvers:
            raise LifecycleError(f"{principal} has already approved {v.ref}")
        approvers.append(principal)
        pending.add(
            ModelEvent(
                v.model,
                v.version,
                "approved",
                principal,
                {"approvals": len(approvers), "needed": needed},
                None,
                now,
            ),
            _entry(
                "approved", v.model, v.version, principal, approvals=len(approvers), needed=needed
            ),
        )
        if len(approvers) >= needed:
            _transition(v, "approved", principal=None, now=now, pending=pending, repo=repo)

    return _change(workspace, ref, actor, "approve", change)


def set_alias(workspace: Workspace, ref: str, alias: str, *, actor: Actor) -> StoredVersion:
    """Point ``model@alias`` at a version.

    Args:
        workspace: The workspace.
        ref: ``model@version``.
        alias: The alias (``champion``); not a version's name.
        actor: Who asks; needs ``apply``.

    Returns:
        The version.

    Raises:
        UserError: If the alias is malformed or names a version.
        LifecycleError: If the version is retired.
    """
    if not alias or not alias.replace("-", "").replace("_", "").isalnum() or len(alias) > 63:
        raise UserError(f"alias {alias!r}: letters, digits, '-' and '_' only, at most 63")
    principal = actor.principal

    def change(
        repo: RegistryRepository, _e: Estate, v: StoredVersion, now: datetime, pending: Pending
    ) -> None:
        if repo.version(v.model, alias) is not None:
            raise UserError(f"{alias!r} is a version of {v.model}, not an alias")
        if v.state == "retired":
            raise LifecycleError(f"{v.ref} is retired: an alias cannot point at it")
        repo.set_alias(v.model, alias, v.version, now)
        pending.add(
            ModelEvent(v.model, v.version, "aliased", principal, {"alias": alias}, None, now),
            _entry("aliased", v.model, v.version, principal, alias=alias),
        )

    return _change(workspace, ref, actor, "apply", change)


def list_versions(workspace: Workspace, model: str | None = None) -> list[StoredVersion]:
    """Registered versions.

    Args:
        workspace: The workspace.
        model: One model, or ``None`` for all.

    Returns:
        The versions.
    """
    with workspace.database.read() as conn:
        return RegistryRepository(conn).versions(model)


def describe(workspace: Workspace, ref: str) -> VersionDetail:
    """Everything about one version.

    Args:
        workspace: The workspace.
        ref: ``model@version`` or ``model@alias``.

    Returns:
        The detail.
    """
    estate = load_estate(workspace)
    with workspace.database.read() as conn:
        repo = RegistryRepository(conn)
        version = _resolve(repo, estate, ref)
        events = repo.events(version.model, version.version)
        aliases = sorted(
            a for (m, a), v in repo.aliases(version.model).items() if v == version.version
        )
    tier = _spec(estate, version.model).risk_tier
    return VersionDetail(
        version,
        tier,
        events,
        aliases,
        _evaluations(events),
        _approvers(events),
        approvals_needed(tier),
    )


def _lifecycle_rows(
    workspace: Workspace, events: list[ModelEvent]
) -> tuple[list[list[Any]], dict[str, str]]:
    indices = sorted({e.ledger_index for e in events if e.ledger_index is not None})
    proofs = ledger.prove_many(workspace, indices) if indices else []
    keys = [v.encode() for v in ledger.verifiers(workspace)]
    checked: dict[int, str] = {}
    texts: dict[str, str] = {}
    for proof in proofs:
        text = proof.encode()
        checkpoint, _ = ledger.verify_proof(text, keys)
        checked[proof.index] = f"verified: {len(proof.path)} hashes to checkpoint {checkpoint.size}"
        texts[str(proof.index)] = text
    rows = []
    for event in events:
        detail = {k: v for k, v in event.detail.items() if k not in ("risk_tier",)}
        rows.append(
            [
                event.at.isoformat(timespec="seconds"),
                event.type,
                event.principal or "keel",
                detail,
                event.ledger_index,
                checked.get(event.ledger_index, "not checkpointed")
                if event.ledger_index is not None
                else "",
            ]
        )
    return rows, texts


def factsheet(workspace: Workspace, ref: str) -> dict[str, Any]:
    """The facts for a version's fact sheet: registry, estate, lineage and ledger, with proofs.

    Args:
        workspace: The workspace.
        ref: ``model@version`` or ``model@alias``.

    Returns:
        The fact sheet as JSON-ready data (render it with :mod:`keel.registry.factsheet`).
    """
    detail = describe(workspace, ref)
    version = detail.version
    estate = load_estate(workspace)
    spec = _spec(estate, version.model)
    declared = next((v for v in spec.versions if v.version == version.version), None)
    record = version.record
    upstream = lineage.show(workspace, f"model:{version.ref}", direction="upstream", depth=10)
    data_rows = [
        [lineage.label(node), depth, node.origin, "erased" if node.erased_at else "active"]
        for node, depth in upstream.nodes
        if node.kind in ("dataset", "job") and depth > 0
    ]
    rows, proofs = _lifecycle_rows(workspace, detail.events)
    users = _workloads_using(estate, version.model, version.version)
    return {
        "model": version.model,
        "version": version.version,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "general": {
            "Model": version.model,
            "Version": version.version,
            "State": version.state,
            "Framework": record.get("framework"),
            "Parameters (billion)": record.get("parameters_billion"),
            "Artifact digest": record.get("artifact_digest"),
            "Hyperparameters": record.get("hyperparameters"),
            "Owner": spec.owner,
            "Registered by": version.registered_by,
            "Registered at": version.created_at.isoformat(timespec="seconds"),
            "Registered as": version.declared_state,
            "Aliases": detail.aliases,
        },
        "purpose": {
            "Intended purpose": spec.purpose,
            "Risk tier (EU AI Act)": spec.risk_tier,
            "Risk assessment": spec.risk_assessment,
            "Workloads using it": users,
        },
        "data": [
            {"Trained on": record.get("trained_on")},
            {"columns": ["Upstream node", "Depth", "Origin", "Status"], "table": data_rows},
        ],
        "evaluations": [
            {"Metrics": record.get("metrics")},
            {
                "columns": ["Kind", "Name", "Passed", "Score"],
                "table": [[e.kind, e.name, e.passed, e.score] for e in detail.evaluations],
            },
        ],
        "oversight": {
            "Oversight contact": spec.oversight_contact,
            "Logging enabled": spec.logging_enabled,
            "Approvals needed": detail.approvals_needed,
            "Approved by": detail.approvers,
            "Declared approvals (before Keel)": list(declared.approved_by) if declared else [],
            "Separation of duties": "the registrant may not approve (access policy "
            "sod.no_self_approval)",
        },
        "lifecycle": {
            "columns": ["When", "Event", "By", "Detail", "Ledger index", "Proof"],
            "table": rows,
        },
        "proofs": proofs,
        "checkpoint": ledger.latest_checkpoint(workspace),
    }


def summary_json(version: StoredVersion) -> dict[str, Any]:
    """A version in one line of JSON (``keel model list``, ``GET /v1/models``).

    Args:
        version: The version.

    Returns:
        ``{model, version, state, risk_tier, registered_by, registered_at}``.
    """
    return {
        "model": version.model,
        "version": version.version,
        "state": version.state,
        "risk_tier": version.record.get("risk_tier"),
        "registered_by": version.registered_by,
        "registered_at": version.created_at.isoformat(timespec="seconds"),
    }


def detail_json(detail: VersionDetail) -> dict[str, Any]:
    """Everything about a version as JSON (``keel model show -o json``, ``GET /v1/models/REF``).

    Args:
        detail: From :func:`describe`.

    Returns:
        The summary, the record, aliases, approvals, evaluations and history.
    """
    return {
        **summary_json(detail.version),
        "record": detail.version.record,
        "aliases": detail.aliases,
        "approvers": detail.approvers,
        "approvals_needed": detail.approvals_needed,
        "evaluations": [
            {"kind": e.kind, "name": e.name, "passed": e.passed, "score": e.score}
            for e in detail.evaluations
        ],
        "history": [
            {
                "type": e.type,
                "by": e.principal,
                "detail": e.detail,
                "ledger_index": e.ledger_index,
                "at": e.at.isoformat(),
            }
            for e in detail.events
        ],
    }


factsheet_markdown = sheet.to_markdown
factsheet_json = sheet.to_json
factsheet_html = sheet.to_html

__all__ = [
    "Evaluation",
    "VersionDetail",
    "admission_problems",
    "approve",
    "describe",
    "detail_json",
    "evaluate",
    "factsheet",
    "factsheet_html",
    "factsheet_json",
    "factsheet_markdown",
    "list_versions",
    "registration_events",
    "save_pending",
    "set_alias",
    "summary_json",
    "sync_at_apply",
    "transition",
]
