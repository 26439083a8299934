"""Changes to the stored estate: apply manifests (with prune and dry run), record every change.

Invariants:
    * An apply validates the whole resulting estate (stored resources plus the files) before it
      writes anything, and writes all of its changes in one transaction, or none.
    * Applies plan on a snapshot without blocking anyone, then take the estate lock; if another
      writer committed in between, they plan again under the lock before writing, so a
      concurrent apply is never overwritten silently and every apply makes progress.
    * The generation of a resource grows by one exactly when its spec digest changes.
    * Every apply and delete is made by an :class:`~keel.service.actor.Actor`: the access policy
      in force *before* the change decides each resource it touches (``apply`` or ``delete``),
      every refusal goes to the ledger, and the actor is recorded with the change's entries in
      the change's own transaction. A change to principals, agents or policy sets records the
      governance and compliance digests before and after, and is refused if it would leave no
      admin able to change them back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from keel import progress
from keel.errors import DeniedError, InUseError, ManifestError, Problem
from keel.estate import (
    Estate,
    LocatedResource,
    build_estate,
    load_manifests,
)
from keel.estate.digest import estate_digest, spec_digest, spec_json
from keel.memory import paused_gc
from keel.policy.access.entities import GOVERNANCE_KINDS
from keel.service import access, hooks, ledger, policy
from keel.service.actor import Actor
from keel.service.manifests import check_policies, resolve_files, sorted_problems
from keel.service.stored import estate_in, from_store
from keel.service.workspace import Unit, Workspace
from keel.store import ResourceRepository, StoredResource
from keel.store.resources import ResourceRow

Action = Literal["created", "configured", "unchanged", "deleted"]


@dataclass(frozen=True, slots=True)
class Change:
    """What an apply does (or would do) to one resource.

    Attributes:
        action: ``created``, ``configured``, ``unchanged`` or ``deleted``.
        kind: Resource kind.
        name: Resource name.
        generation: Generation after the change (before it, for deletions).
        fields: Top-level spec fields (and ``labels``) that changed.
        spec_digest: Digest of the spec after the change (``""`` for deletions).
    """

    action: Action
    kind: str
    name: str
    generation: int
    fields: tuple[str, ...] = ()
    spec_digest: str = ""

    def ledger_entry(self, revision: int, estate_digest: str) -> dict[str, Any]:
        """The ledger entry that records this change.

        Args:
            revision: Estate revision the change produced.
            estate_digest: Estate digest at that revision.

        Returns:
            A JSON object.
        """
        return {
            "type": f"estate.{self.action}",
            "kind": self.kind,
            "name": self.name,
            "generation": self.generation,
            "spec_digest": self.spec_digest,
            "estate_revision": revision,
            "estate_digest": estate_digest,
        }


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """The outcome of an apply.

    Attributes:
        changes: One entry per resource in the files, plus one per pruned resource.
        revision: Estate revision after the apply (unchanged for a dry run or no change).
        estate_digest: Digest of the estate after the apply.
        dry_run: Whether nothing was written on purpose.
        warnings: Compliance warnings: ``warn`` rules that fired for the applied workloads,
            and workloads already stored that the new policy, model or data would deny.
    """

    changes: list[Change]
    revision: int
    estate_digest: str
    dry_run: bool
    warnings: list[str] = field(default_factory=list)

    def count(self, action: Action) -> int:
        """How many changes have an action.

        Args:
            action: The action to count.

        Returns:
            The count.
        """
        return sum(1 for change in self.changes if change.action == action)


def _changed_fields(old: dict[str, Any] | None, new: dict[str, Any]) -> tuple[str, ...]:
    if old is None:
        return ()
    keys = sorted(set(old) | set(new))
    return tuple(f"spec.{key}" for key in keys if old.get(key) != new.get(key))


@dataclass
class _Plan:
    changes: list[Change] = field(default_factory=list)
    inserts: list[ResourceRow] = field(default_factory=list)
    updates: list[ResourceRow] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)
    digest: str = ""
    warnings: list[str] = field(default_factory=list)
    estate: Estate | None = None

    @property
    def touched(self) -> set[tuple[str, str]]:
        return {(c.kind, c.name) for c in self.changes if c.action != "unchanged"}

    @property
    def writes(self) -> bool:
        return bool(self.inserts or self.updates or self.deletes)


def _all_unchanged(
    incoming: list[LocatedResource],
    headers: dict[tuple[str, str], StoredResource],
    digests: dict[tuple[str, str], str],
) -> bool:
    if len(digests) != len(incoming):
        return False  # duplicates in the files: the full check reports them
    for item in incoming:
        key = (item.resource.kind, item.resource.name)
        old = headers.get(key)
        if old is None or old.spec_digest != digests[key] or old.labels != item.resource.labels:
            return False
    return True


def refreshed(
    estate: Estate,
    keys: Sequence[tuple[str, str]],
    headers: dict[tuple[str, str], StoredResource],
    specs: dict[tuple[str, str], dict[str, Any]],
) -> list[tuple[ResourceRow, Change]]:
    """Stored resources whose resolved values changed because of another resource's change.

    Their spec and generation stay; the new resolved values are written and, like every state
    change, recorded (as ``configured`` with the field ``resolved``).
    """
    out = []
    for key in keys:
        old = headers[key]
        resolved = estate.resolved(*key)
        if resolved != old.resolved:
            row = ResourceRow(
                *key, old.labels, specs[key], resolved, old.spec_digest, old.generation
            )
            change = Change("configured", *key, old.generation, ("resolved",), old.spec_digest)
            out.append((row, change))
    return out


def _plan_apply(
    unit: Unit,
    incoming: list[LocatedResource],
    prune: bool,
    actor: Actor,
    before: Estate | None,
) -> _Plan:
    """Plan an apply: authorise it, validate the resulting estate, admit it, diff it.

    Authorisation comes first, on what the files change (``apply``) and what pruning deletes
    (``delete``), so a caller that may not make a change learns nothing else about it.
    Resources whose resolved values change only because of another change need none.
    """
    repo = unit.repository(ResourceRepository)
    headers = {(row.kind, row.name): row for row in repo.headers()}
    incoming_keys = {(item.resource.kind, item.resource.name) for item in incoming}
    kept = [key for key in headers if key not in incoming_keys]
    pruned = kept if prune else []
    kept = [] if prune else kept
    new_specs = {
        (item.resource.kind, item.resource.name): spec_json(item.resource) for item in incoming
    }
    new_digests = {key: spec_digest(spec) for key, spec in new_specs.items()}
    if not pruned and _all_unchanged(incoming, headers, new_digests):
        # The result is the stored estate, which was valid when stored: nothing to check.
        unchanged = [
            Change("unchanged", *key, headers[key].generation)
            for key in ((i.resource.kind, i.resource.name) for i in incoming)
        ]
        return _Plan(changes=unchanged, digest=repo.revision()[1])
    _authorise(before, actor, incoming, headers, digests=new_digests, pruned=pruned)
    changed = [
        key
        for key in incoming_keys
        if key in headers and headers[key].spec_digest != new_digests[key]
    ]
    stored_specs = repo.specs([*kept, *changed])
    merged = incoming + [from_store(headers[key], stored_specs[key]) for key in kept]
    estate, problems = build_estate(merged)
    if problems:
        hint = (
            "--prune deletes every stored resource the files do not declare: declare the"
            " referenced resources too, or drop the references"
            if pruned
            else ""
        )
        raise ManifestError(sorted_problems(problems), hint=hint)
    plan = _diff(estate, incoming, headers, (new_specs, new_digests), stored_specs)
    digests = []
    for item in incoming:
        key = (item.resource.kind, item.resource.name)
        digests.append((*key, item.resource.labels, new_digests[key]))
    for key in kept:
        old = headers[key]
        digests.append((*key, old.labels, old.spec_digest))
    for row, change in refreshed(estate, kept, headers, stored_specs):
        plan.updates.append(row)
        plan.changes.append(change)
    for key in pruned:
        plan.deletes.append(key)
        plan.changes.append(Change("deleted", *key, headers[key].generation))
    plan.digest = estate_digest(digests)
    plan.estate = estate
    admin = before is None or access.is_admin(before, actor)
    plan.warnings = _admit_all(unit, estate, merged, plan, actor=actor, admin=admin)
    return plan


def _diff(
    estate: Estate,
    incoming: list[LocatedResource],
    headers: dict[tuple[str, str], StoredResource],
    new: tuple[dict[tuple[str, str], dict[str, Any]], dict[tuple[str, str], str]],
    stored_specs: dict[tuple[str, str], dict[str, Any]],
) -> _Plan:
    """The rows to write and the change to report for each resource in the files.

    ``new`` holds the files' specs and their digests, by ``(kind, name)``.
    """
    plan = _Plan()
    for item in incoming:
        resource = item.resource
        key = (resource.kind, resource.name)
        spec, digest = new[0][key], new[1][key]
        resolved = estate.resolved(resource.kind, resource.name)
        row = ResourceRow(*key, resource.labels, spec, resolved, digest, 1)
        old = headers.get(key)
        if old is None:
            plan.inserts.append(row)
            plan.changes.append(Change("created", *key, 1, spec_digest=digest))
            continue
        fields = _changed_fields(stored_specs.get(key), spec) if old.spec_digest != digest else ()
        if old.labels != resource.labels:
            fields = (*fields, "labels")
        if not fields and old.resolved == resolved:
            plan.changes.append(Change("unchanged", *key, old.generation))
            continue
        generation = old.generation + (1 if old.spec_digest != digest else 0)
        plan.updates.append(dataclasses.replace(row, generation=generation))
        plan.changes.append(
            Change("configured", *key, generation, fields or ("resolved",), spec_digest=digest)
        )
    return plan


def _admit_all(
    unit: Unit,
    estate: Estate,
    merged: list[LocatedResource],
    plan: _Plan,
    *,
    actor: Actor,
    admin: bool,
) -> list[str]:
    """Admission by the compliance policy and every apply hook; every refusal at once."""
    if any(kind == "PolicySet" for kind, _ in plan.touched):
        check_policies(estate, merged)  # a bad policy named at its line, before a hook uses it
    refused = [
        problem
        for hook in hooks.registered()
        for problem in hook.admit(unit, estate, merged, plan.touched, actor=actor, admin=admin)
    ]
    try:
        warnings = _admit(estate, merged, plan.changes)  # compiles the policies, located
    except DeniedError as error:
        raise DeniedError(sorted_problems([*error.problems, *refused]), hint=error.hint) from None
    if any(kind in GOVERNANCE_KINDS for kind, _ in plan.touched):
        locked = access.lockout_problem(estate)
        if locked:
            sets = [item for item in merged if item.resource.kind == "PolicySet"]
            where = sets[0] if sets else merged[0]
            raise ManifestError(
                [where.problem(("spec", "access") if sets else ("spec",), locked)],
                hint="keep a permit for an admin (or an admin principal); nothing was changed",
            )
    if refused:
        raise DeniedError(
            sorted_problems(refused), hint="nothing was changed; keel model show MODEL@VERSION"
        )
    return warnings


POLICY_INPUT_KINDS = frozenset({"PolicySet", "Model", "Dataset", "Agent", "Site"})
"""Kinds whose change can change a compliance decision about a workload that did not change."""


def _admit(estate: Estate, merged: list[LocatedResource], changes: list[Change]) -> list[str]:
    """Admission: compile the policy in force, deny changed workloads it forbids outright.

    Returns:
        Warnings (see :func:`keel.service.policy.admit`).
    """
    touched = {(c.kind, c.name) for c in changes if c.action != "unchanged"}
    if not touched:
        return []
    engine = check_policies(estate, merged)  # a policy that does not compile is an error here
    if engine is None:
        return []
    workloads = {i.resource.name: i for i in merged if i.resource.kind == "Workload"}
    changed = sorted(name for kind, name in touched if kind == "Workload")
    audit = any(kind in POLICY_INPUT_KINDS for kind, _ in touched)
    return policy.admit(estate, engine, changed, workloads, audit=audit)


def apply_manifests(
    workspace: Workspace,
    paths: Sequence[str],
    *,
    actor: Actor,
    prune: bool = False,
    dry_run: bool = False,
    shown_as: dict[str, str] | None = None,
) -> ApplyResult:
    """Upsert the resources in manifests, in one transaction.

    Args:
        workspace: The workspace to apply to.
        paths: Files and folders of manifests.
        actor: Who applies; the access policy decides each resource it touches.
        prune: Delete stored resources that the manifests do not declare.
        dry_run: Compute and return the changes without writing them.
        shown_as: Set when the manifests arrived as text (an API request's files, written to
            the paths it maps): problems name each file as the caller did, never by its
            server path; monitor data paths resolve against the data root, and policy modules
            must carry their source.

    Returns:
        What changed, per resource.

    Raises:
        ManifestError: If the manifests, or the estate they would produce, are invalid, or the
            access policy they set would lock every admin out.
        InUseError: If pruning would leave dangling references.
        ForbiddenError: If the actor may not change a resource the manifests touch; nothing
            is changed and every refusal is in the ledger.
    """
    with paused_gc():
        try:
            return _apply(
                workspace,
                paths,
                actor=actor,
                prune=prune,
                dry_run=dry_run,
                as_text=shown_as is not None,
            )
        except (ManifestError, DeniedError, InUseError) as error:
            _rename(error.problems, shown_as or {})
            raise


def _rename(problems: list[Problem], shown_as: dict[str, str]) -> None:
    for index, problem in enumerate(problems):
        if problem.path in shown_as:
            problems[index] = dataclasses.replace(problem, path=shown_as[problem.path])


class RefusedError(Exception):
    """Refusals found under the write lock, raised once its transaction is rolled back."""

    def __init__(self, denials: list[tuple[str, str, str, list[str]]]) -> None:
        super().__init__()
        self.denials = denials


def _authorise(
    before: Estate | None,
    actor: Actor,
    incoming: list[LocatedResource],
    headers: dict[tuple[str, str], StoredResource],
    *,
    digests: dict[tuple[str, str], str],
    pruned: list[tuple[str, str]],
) -> None:
    """Refuse an apply unless its actor may apply what it changes and delete what it prunes."""
    touched = []
    for item in incoming:
        key = (item.resource.kind, item.resource.name)
        old = headers.get(key)
        if old is None or old.spec_digest != digests[key] or old.labels != item.resource.labels:
            touched.append(("apply", f"{key[0]}/{key[1]}"))
    refused = refusals(before, actor, touched + [("delete", f"{k}/{n}") for k, n in pruned])
    if refused:
        raise RefusedError(refused)


def refusals(
    before: Estate | None, actor: Actor, asks: list[tuple[str, str]]
) -> list[tuple[str, str, str, list[str]]]:
    """The requests the policy in force refuses (none for a trusted actor, ``before=None``)."""
    if before is None:
        return []
    decisions = access.decide_all(before, actor, asks)
    return [
        (actor.principal, action, resource, list(d.policies))
        for (action, resource), d in zip(asks, decisions, strict=True)
        if not d.allowed
    ]


def _apply(
    workspace: Workspace,
    paths: Sequence[str],
    *,
    actor: Actor,
    prune: bool,
    dry_run: bool,
    as_text: bool,
) -> ApplyResult:
    with progress.step("reading manifests"):
        located, problems = load_manifests(paths, workspace.limits)
        data_root = workspace.settings.data_root
        located, file_problems = resolve_files(located, data_root, as_text=as_text)
    problems += file_problems
    if problems:
        raise ManifestError(sorted_problems(problems))
    try:
        with workspace.unit() as unit, progress.step(f"checking {len(located):,} resources"):
            revision, current_digest = unit.repository(ResourceRepository).revision()
            before = None if actor.trusted else estate_in(unit)
            plan = _plan_apply(unit, located, prune, actor, before)
        if dry_run:
            return ApplyResult(plan.changes, revision, current_digest, True, plan.warnings)
        if not plan.writes:
            return ApplyResult(plan.changes, revision, plan.digest, False, plan.warnings)
        writing = progress.step(f"writing {len(plan.changes):,} changes and their ledger entries")
        with workspace.unit(actor.principal, write=True) as unit, writing:
            latest, _ = unit.repository(ResourceRepository).revision()
            if latest != revision:
                # Another writer committed since the snapshot: decide and plan again under the
                # lock, so the result reflects its changes (and its policy) instead of
                # overwriting them.
                revision = latest
                before = None if actor.trusted else estate_in(unit)
                plan = _plan_apply(unit, located, prune, actor, before)
            if plan.writes:
                revision += 1
                _write(unit, plan, revision=revision, before=before, actor=actor)
    except RefusedError as refusal:
        access.raise_refused(workspace, refusal.denials)
    return ApplyResult(plan.changes, revision, plan.digest, False, plan.warnings)


def _write(unit: Unit, plan: _Plan, *, revision: int, before: Estate | None, actor: Actor) -> None:
    """Write a planned apply, run the apply hooks, record every entry (inside the unit)."""
    repo = unit.repository(ResourceRepository)
    governance = sorted(f"{k}/{n}" for k, n in plan.touched if k in GOVERNANCE_KINDS)
    if governance and before is None:
        before = estate_in(unit)  # read before the writes below
    now = datetime.now(UTC)
    repo.insert(plan.inserts, now)
    repo.update(plan.updates, now)
    repo.delete(plan.deletes)
    repo.set_revision(revision, plan.digest)
    entries = [
        change.ledger_entry(revision, plan.digest)
        for change in plan.changes
        if change.action != "unchanged"
    ]
    assert plan.estate is not None  # an apply that writes built its estate
    for entry in entries:
        site = plan.estate.sites.get(entry["name"]) if entry["kind"] == "Site" else None
        if site is not None:  # a provider's record: outages and prices over time (readiness)
            entry["available"] = site.available
            entry["usd_per_device_hour"] = {p.name: p.usd_per_hour for p in site.pools}
    if governance:
        assert before is not None
        entries.append(governance_entry(before, plan.estate, governance))
    record_with_hooks(unit, entries, estate=plan.estate, touched=plan.touched, now=now, actor=actor)


def record_with_hooks(
    unit: Unit,
    entries: list[dict[str, Any]],
    *,
    estate: Estate,
    touched: set[tuple[str, str]],
    now: datetime,
    actor: Actor,
) -> None:
    """Run every apply hook on a written change and record its entries with the hooks' own.

    One ledger record (one signed checkpoint) for the whole change; each hook learns where its
    entries landed.

    Args:
        unit: The change's writing unit of work.
        entries: The change's own ledger entries.
        estate: The estate after the change.
        touched: ``(kind, name)`` of the resources the change creates, changes or prunes.
        now: The time of the change.
        actor: Who made it.
    """
    recorded = [hook.written(unit, estate, touched, now, actor) for hook in hooks.registered()]
    first, _ = ledger.record(unit, entries + [e for r in recorded for e in r.entries])
    first += len(entries)
    for part in recorded:
        part.indexed(first)
        first += len(part.entries)


def governance_entry(before: Estate, after: Estate, resources: list[str]) -> dict[str, Any]:
    """The ledger entry of a change to who may do what or which rules bind.

    Args:
        before: The estate before the change.
        after: The estate after it.
        resources: The governance resources changed (``Kind/name``).

    Returns:
        The entry, with the access and compliance digests before and after.
    """
    return {
        "type": "governance.changed",
        "resources": resources,
        "access_digest": {
            "before": access.governance_digest(before),
            "after": access.governance_digest(after),
        },
        "compliance_digest": {
            "before": policy.compiled_policy(before).digest,
            "after": policy.compiled_policy(after).digest,
        },
    }
