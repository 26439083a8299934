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

from keel.errors import LifecycleError, NotFoundError, UserError
from keel.estate import Estate
from keel.estate.resources import ModelSpec, WorkloadSpec, split_model_ref
from keel.estate.spelling import did_you_mean
from keel.registry.lifecycle import (
    Evaluation,
    approvals_needed,
    evaluation_gaps,
    transition_gap,
)
from keel.service import access, ledger
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
        """Queue an event and the ledger entry that records it."""
        self.events.append(event)
        self.entries.append(entry)

    def save(self, repo: RegistryRepository, first_index: int) -> None:
        """Store the events, each with its entry's ledger index (``first_index`` for the first)."""
        repo.add_events(
            [
                ModelEvent(e.model, e.version, e.type, e.principal, e.detail, first_index + i, e.at)
                for i, e in enumerate(self.events)
            ]
        )


def model_entry(
    type_: str, model: str, version: str, principal: str | None, **detail: Any
) -> dict[str, Any]:
    """The ledger entry ``model.TYPE`` of a version's event, ``by`` its principal if any."""
    entry = {"type": f"model.{type_}", "model": model, "version": version, **detail}
    if principal is not None:
        entry["by"] = principal
    return entry


def spec_of(estate: Estate, model: str) -> ModelSpec:
    resource = estate.of_kind("Model").get(model)
    if resource is None:
        models = estate.of_kind("Model")
        raise NotFoundError(f"Model/{model} does not exist{did_you_mean(model, models)}")
    assert isinstance(resource.spec, ModelSpec)
    return resource.spec


def _resolve(repo: RegistryRepository, estate: Estate, ref: str) -> StoredVersion:
    model, version = split_model_ref(ref)
    if not version:
        raise UserError(f"{ref!r} names no version: write MODEL@VERSION or MODEL@ALIAS")
    spec_of(estate, model)
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
    with workspace.unit() as unit:
        asked = _resolve(unit.repository(RegistryRepository), estate, ref)
    # Decided before the write transaction, so that a refusal's ledger entry stays.
    access.require(
        workspace,
        estate,
        actor,
        action,
        f"ModelVersion/{asked.ref}",
        registrants={asked.ref: asked.registered_by},
    )
    with workspace.unit(actor.principal, write=True) as unit:
        repo = unit.repository(RegistryRepository)
        version = repo.version(asked.model, asked.version)
        assert version is not None  # versions are never deleted
        now = datetime.now(UTC)
        pending = Pending([], [])
        change(repo, estate, version, now, pending)
        first, _ = ledger.record(unit, pending.entries)
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
                model_entry("evaluated", v.model, v.version, principal, **detail),
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
        model_entry("transitioned", v.model, v.version, principal, **detail),
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
            users = workloads_using(estate, v.model, v.version)
            if users:
                raise LifecycleError(
                    f"{v.ref} is still used by {', '.join(users)}; point them at another "
                    "version first"
                )
        _transition(
            v, target, principal=principal, now=now, pending=pending, repo=repo, reason=reason
        )

    return _change(workspace, ref, actor, "apply", change)


def workloads_using(estate: Estate, model: str, version: str) -> list[str]:
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
        tier = spec_of(estate, v.model).risk_tier
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
            model_entry(
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
            model_entry("aliased", v.model, v.version, principal, alias=alias),
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
    with workspace.unit() as unit:
        return unit.repository(RegistryRepository).versions(model)


def describe(workspace: Workspace, ref: str) -> VersionDetail:
    """Everything about one version.

    Args:
        workspace: The workspace.
        ref: ``model@version`` or ``model@alias``.

    Returns:
        The detail.
    """
    estate = load_estate(workspace)
    with workspace.unit() as unit:
        repo = unit.repository(RegistryRepository)
        version = _resolve(repo, estate, ref)
        events = repo.events(version.model, version.version)
        aliases = sorted(
            a for (m, a), v in repo.aliases(version.model).items() if v == version.version
        )
    tier = spec_of(estate, version.model).risk_tier
    return VersionDetail(
        version,
        tier,
        events,
        aliases,
        _evaluations(events),
        _approvers(events),
        approvals_needed(tier),
    )


__all__ = [
    "Evaluation",
    "Pending",
    "VersionDetail",
    "approve",
    "describe",
    "evaluate",
    "list_versions",
    "model_entry",
    "set_alias",
    "transition",
]
