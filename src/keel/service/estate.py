"""Estate operations: validate, apply (with prune and dry run), get, delete, summarise.

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
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy.engine import Connection

from keel.errors import DeniedError, InUseError, ManifestError, NotFoundError, Problem, UserError
from keel.estate import (
    SPEC_TYPES,
    Estate,
    Limits,
    LocatedResource,
    build_estate,
    demo_manifest_files,
    load_manifests,
)
from keel.estate.digest import estate_digest, spec_digest, spec_json
from keel.estate.resources import (
    CLASSIFICATION_ORDER,
    KINDS,
    MAX_REGO_CHARS,
    DatasetSpec,
    ModelSpec,
    MonitorSpec,
    PolicySetSpec,
    RegoModuleSpec,
    WorkloadSpec,
    kind_named,
)
from keel.estate.spelling import did_you_mean
from keel.memory import paused_gc
from keel.policy.access.entities import GOVERNANCE_KINDS
from keel.policy.compliance.engine import ComplianceEngine
from keel.service import access, ledger, lineage, policy, registry
from keel.service.actor import Actor
from keel.service.stored import STORE_PATH, estate_in, from_store, load_estate
from keel.service.workspace import Workspace
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


def _sorted(problems: list[Problem]) -> list[Problem]:
    order = {path: index for index, path in enumerate(dict.fromkeys(p.path for p in problems))}
    return sorted(problems, key=lambda p: (p.path == STORE_PATH, order[p.path], p.line))


def validate_manifests(
    paths: Sequence[str], limits: Limits | None = None, data_root: Path | None = None
) -> Estate:
    """Validate manifests as a self-contained estate, without touching the store.

    Args:
        paths: Files and folders of manifests.
        limits: Input limits; the defaults when ``None``.
        data_root: A folder besides each manifest's own where the files it names may lie.

    Returns:
        The valid estate.

    Raises:
        ManifestError: With every problem found, located by file and line (policy modules
            that do not compile included).
    """
    located, problems = load_manifests(paths, limits)
    located, file_problems = _resolve_files(located, data_root)
    estate, reference_problems = build_estate(located)
    problems.extend(file_problems + reference_problems)
    if problems:
        raise ManifestError(_sorted(problems))
    _check_policies(estate, located)
    return estate


def _resolve_files(
    located: list[LocatedResource], data_root: Path | None, *, as_text: bool = False
) -> tuple[list[LocatedResource], list[Problem]]:
    """Read each ``PolicySet`` module's ``file`` into its ``rego``; make monitor paths absolute.

    The stored spec holds the module's text, so the policy digest covers what runs; ``file``
    keeps the absolute path, for error locations. A ``Monitor``'s data paths are resolved against
    its manifest's folder. Every file named must lie under the manifest's folder or the data
    root (symbolic links followed), so a manifest cannot read ``/etc/passwd`` or ``../``.
    Manifests that arrived as text (``as_text``: an API request) have no folder: their monitor
    paths resolve against the data root, and their modules must carry their text.

    Returns:
        The resources, and a problem for each file that cannot be read or lies outside.
    """
    out: list[LocatedResource] = []
    problems: list[Problem] = []
    for item in located:
        spec = item.resource.spec
        if item.path == STORE_PATH:
            out.append(item)
        elif isinstance(spec, MonitorSpec):
            out.append(_monitor_paths(item, spec, data_root, as_text, problems))
        elif isinstance(spec, PolicySetSpec) and any(m.file for m in spec.modules):
            out.append(_module_files(item, spec, data_root, as_text, problems))
        else:
            out.append(item)
    return out, problems


def _roots(item: LocatedResource, data_root: Path | None, as_text: bool) -> list[Path]:
    folder = [] if as_text else [Path(item.path).parent.resolve()]
    return folder + ([data_root.resolve()] if data_root else [])


def _outside(path: Path, roots: list[Path]) -> bool:
    return not any(path.is_relative_to(root) for root in roots)


def _where_allowed(as_text: bool) -> str:
    if as_text:
        return "the server's data root (data_root in keel.yaml or KEEL_DATA_ROOT)"
    return "the manifest's folder or the data root (data_root in keel.yaml or KEEL_DATA_ROOT)"


def _monitor_paths(
    item: LocatedResource,
    spec: MonitorSpec,
    data_root: Path | None,
    as_text: bool,
    problems: list[Problem],
) -> LocatedResource:
    """A monitor's data paths, made absolute and checked to lie under an allowed folder."""
    roots = _roots(item, data_root, as_text)
    base = data_root if as_text else Path(item.path).parent
    paths = {}
    for key in ("reference", "current"):
        given = getattr(spec, key)
        if base is None:
            problems.append(
                item.problem(("spec", key), f"{given}: data files need {_where_allowed(True)}")
            )
            continue
        resolved = (base / given).resolve()
        if _outside(resolved, roots):
            problems.append(
                item.problem(
                    ("spec", key), f"{given} lies outside {_where_allowed(as_text)}: refused"
                )
            )
        paths[key] = str(resolved)
    resource = item.resource.model_copy(update={"spec": spec.model_copy(update=paths)})
    return dataclasses.replace(item, resource=resource)


def _module_files(
    item: LocatedResource,
    spec: PolicySetSpec,
    data_root: Path | None,
    as_text: bool,
    problems: list[Problem],
) -> LocatedResource:
    """A policy set with each module's ``file`` read into its ``rego``."""
    roots = _roots(item, data_root, as_text)
    modules = []
    for index, module in enumerate(spec.modules):
        where = ("spec", "modules", index, "file")
        if module.file is None:
            modules.append(module)
            continue
        if as_text:
            problems.append(
                item.problem(where, "a module sent as text must carry its source in rego")
            )
            modules.append(module)
            continue
        path = (Path(item.path).parent / module.file).resolve()
        if _outside(path, roots):
            problems.append(
                item.problem(where, f"{module.file} lies outside {_where_allowed(False)}")
            )
            modules.append(module)
            continue
        try:
            text = _read_regular(path)
        except (OSError, UnicodeDecodeError) as error:
            problems.append(item.problem(where, f"cannot read {path}: {error}"))
            modules.append(module)
            continue
        if len(text) > MAX_REGO_CHARS:
            problems.append(item.problem(where, f"{path} is over {MAX_REGO_CHARS} characters"))
        modules.append(RegoModuleSpec(name=module.name, rego=text, file=str(path)))
    resource = item.resource.model_copy(
        update={"spec": spec.model_copy(update={"modules": modules})}
    )
    return dataclasses.replace(item, resource=resource)


def _read_regular(path: Path) -> str:
    """A regular file's text, at most one character over the module limit (never a pipe)."""
    if not path.is_file():
        raise OSError(f"{path} is not a regular file")
    with path.open(encoding="utf-8") as handle:
        return handle.read(MAX_REGO_CHARS + 1)


def _check_policies(estate: Estate, located: list[LocatedResource]) -> ComplianceEngine | None:
    """Compile the compliance and access policies of an estate (errors located by file).

    Returns:
        The compliance engine, or ``None`` when no policy set is applied.
    """
    if not estate.of_kind("PolicySet"):
        return None
    sets = {i.resource.name: i for i in located if i.resource.kind == "PolicySet"}
    engine = policy.engine_for(estate, sets)
    if access.custom_policies(estate):
        access.engine_for(estate, sets)
    return engine


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


def _refreshed(
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
    repo: ResourceRepository,
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
    admin = before is None or access.is_admin(before, actor)
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
        raise ManifestError(_sorted(problems), hint=hint)

    plan = _Plan()
    entries: list[tuple[str, str, dict[str, str], str]] = []
    for item in incoming:
        resource = item.resource
        key = (resource.kind, resource.name)
        spec, digest = new_specs[key], new_digests[key]
        resolved = estate.resolved(resource.kind, resource.name)
        entries.append((resource.kind, resource.name, resource.labels, digest))
        old = headers.get(key)
        if old is None:
            plan.inserts.append(
                ResourceRow(
                    resource.kind, resource.name, resource.labels, spec, resolved, digest, 1
                )
            )
            plan.changes.append(Change("created", *key, 1, spec_digest=digest))
            continue
        fields = _changed_fields(stored_specs.get(key), spec) if old.spec_digest != digest else ()
        if old.labels != resource.labels:
            fields = (*fields, "labels")
        if not fields and old.resolved == resolved:
            plan.changes.append(Change("unchanged", *key, old.generation))
            continue
        generation = old.generation + (1 if old.spec_digest != digest else 0)
        plan.updates.append(
            ResourceRow(
                resource.kind, resource.name, resource.labels, spec, resolved, digest, generation
            )
        )
        plan.changes.append(
            Change("configured", *key, generation, fields or ("resolved",), spec_digest=digest)
        )
    for key in kept:
        old = headers[key]
        entries.append((*key, old.labels, old.spec_digest))
    for row, change in _refreshed(estate, kept, headers, stored_specs):
        plan.updates.append(row)
        plan.changes.append(change)
    for key in pruned:
        plan.deletes.append(key)
        plan.changes.append(Change("deleted", *key, headers[key].generation))
    plan.digest = estate_digest(entries)
    plan.estate = estate
    plan.warnings = _admit_all(repo, estate, merged, plan, actor=actor, admin=admin)
    return plan


def _admit_all(
    repo: ResourceRepository,
    estate: Estate,
    merged: list[LocatedResource],
    plan: _Plan,
    *,
    actor: Actor,
    admin: bool,
) -> list[str]:
    """Admission by the compliance policy and the registry; every refusal at once."""
    refused = registry.admission_problems(
        repo.conn, estate, merged, plan.touched, actor=actor, admin=admin
    )
    try:
        warnings = _admit(estate, merged, plan.changes)  # compiles the policies, located
    except DeniedError as error:
        raise DeniedError(_sorted([*error.problems, *refused]), hint=error.hint) from None
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
            _sorted(refused), hint="nothing was changed; keel model show MODEL@VERSION"
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
    engine = _check_policies(estate, merged)  # a policy that does not compile is an error here
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


class _RefusedError(Exception):
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
    refused = _refusals(before, actor, touched + [("delete", f"{k}/{n}") for k, n in pruned])
    if refused:
        raise _RefusedError(refused)


def _refusals(
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
    located, problems = load_manifests(paths, workspace.limits)
    located, file_problems = _resolve_files(located, workspace.settings.data_root, as_text=as_text)
    problems += file_problems
    if problems:
        raise ManifestError(_sorted(problems))
    db = workspace.database
    try:
        with db.read() as conn:
            repo = ResourceRepository(conn)
            revision, current_digest = repo.revision()
            before = None if actor.trusted else estate_in(conn)
            plan = _plan_apply(repo, located, prune, actor, before)
        if dry_run:
            return ApplyResult(plan.changes, revision, current_digest, True, plan.warnings)
        if not plan.writes:
            return ApplyResult(plan.changes, revision, plan.digest, False, plan.warnings)
        with db.write() as conn:
            repo = ResourceRepository(conn)
            if repo.revision()[0] != revision:
                # Another writer committed since the snapshot: decide and plan again under the
                # lock, so the result reflects its changes (and its policy) instead of
                # overwriting them.
                revision, _ = repo.revision()
                before = None if actor.trusted else estate_in(conn)
                plan = _plan_apply(repo, located, prune, actor, before)
            if plan.writes:
                pending = _write(
                    workspace, conn, plan, revision=revision + 1, before=before, actor=actor
                )
                revision += 1
    except _RefusedError as refusal:
        access.raise_refused(workspace, refusal.denials)
    if plan.writes:
        lineage.emit(workspace, registry.registration_events(pending))
    return ApplyResult(plan.changes, revision, plan.digest, False, plan.warnings)


def _write(
    workspace: Workspace,
    conn: Connection,
    plan: _Plan,
    *,
    revision: int,
    before: Estate | None,
    actor: Actor,
) -> registry.Pending:
    """Write a planned apply and its ledger entries (inside the write transaction)."""
    repo = ResourceRepository(conn)
    governance = sorted(f"{k}/{n}" for k, n in plan.touched if k in GOVERNANCE_KINDS)
    if governance and before is None:
        before = estate_in(conn)  # read before the writes below
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
    if governance:
        assert before is not None
        entries.append(governance_entry(before, plan.estate, governance))
    pending = registry.sync_at_apply(conn, plan.estate, plan.touched, now, actor)
    lineage.sync_estate(conn, plan.estate, now)
    first, _ = ledger.record(conn, workspace, entries + pending.entries, actor=actor.principal)
    registry.save_pending(conn, pending, first + len(entries))
    return pending


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


def _kind(text: str) -> str:
    kind = kind_named(text)
    if kind is None:
        raise UserError(
            f"unknown kind '{text}'{did_you_mean(text, KINDS)}",
            hint=f"kinds: {', '.join(KINDS)}",
        )
    return kind


def get_resources(workspace: Workspace, kind: str, name: str | None = None) -> list[StoredResource]:
    """Read resources of one kind, or one resource.

    Args:
        workspace: The workspace.
        kind: A kind, case-insensitive, singular or plural (``site``, ``Sites``).
        name: One name, or ``None`` for all of the kind.

    Returns:
        The stored resources, ordered by name.

    Raises:
        UserError: If the kind is unknown.
        NotFoundError: If a name is given and does not exist.
    """
    canonical = _kind(kind)
    with workspace.database.read() as conn:
        repo = ResourceRepository(conn)
        rows = repo.list(canonical, name)
        if name is not None and not rows:
            names = [row.name for row in repo.list(canonical)]
            raise NotFoundError(f"{canonical}/{name} does not exist{did_you_mean(name, names)}")
    return rows


def delete_resource(workspace: Workspace, kind: str, name: str, *, actor: Actor) -> Change:
    """Delete one resource, refusing if others still reference it.

    Args:
        workspace: The workspace.
        kind: Resource kind (any spelling :func:`get_resources` accepts).
        name: Resource name.
        actor: Who deletes; the access policy in force decides.

    Returns:
        The deletion.

    Raises:
        NotFoundError: If the resource does not exist.
        InUseError: If other resources reference it.
        ForbiddenError: If the actor may not delete it (the refusal is in the ledger).
        ManifestError: If deleting a principal or policy set would lock every admin out.
    """
    canonical = _kind(kind)
    try:
        with workspace.database.write() as conn:
            before = estate_in(conn)
            refused = _refusals(
                None if actor.trusted else before, actor, [("delete", f"{canonical}/{name}")]
            )
            if refused:
                raise _RefusedError(refused)
            repo = ResourceRepository(conn)
            generation, refreshed, estate = _delete_locked(repo, canonical, name)
            change = Change("deleted", canonical, name, generation)
            revision, digest = repo.revision()
            entries = [c.ledger_entry(revision, digest) for c in [change, *refreshed]]
            if canonical in GOVERNANCE_KINDS:
                locked = access.lockout_problem(estate)
                if locked:
                    raise ManifestError(
                        [Problem("<store>", 0, f"{canonical}/{name}", "", locked)],
                        hint="nothing was deleted",
                    )
                entries.append(governance_entry(before, estate, [f"{canonical}/{name}"]))
            lineage.sync_estate(conn, estate, datetime.now(UTC))
            ledger.record(conn, workspace, entries, actor=actor.principal)
    except _RefusedError as refusal:
        access.raise_refused(workspace, refusal.denials)
    return change


def _delete_locked(
    repo: ResourceRepository, kind: str, name: str
) -> tuple[int, list[Change], Estate]:
    revision, _digest = repo.revision()
    headers = {(row.kind, row.name): row for row in repo.headers()}
    key = (kind, name)
    if key not in headers:
        names = [n for (k, n) in headers if k == kind]
        raise NotFoundError(f"{kind}/{name} does not exist{did_you_mean(name, names)}")
    rest = [k for k in headers if k != key]
    specs = repo.specs(rest)
    estate, problems = build_estate([from_store(headers[k], specs[k]) for k in rest])
    if problems:
        raise InUseError(
            f"{kind}/{name} is still referenced; nothing was deleted",
            _sorted(problems),
            hint="change or delete the resources listed first",
        )
    repo.delete([key])
    refreshed = _refreshed(estate, rest, headers, specs)
    repo.update([row for row, _ in refreshed], datetime.now(UTC))
    digest = estate_digest([(*k, headers[k].labels, headers[k].spec_digest) for k in rest])
    repo.set_revision(revision + 1, digest)
    return headers[key].generation, [change for _, change in refreshed], estate


@dataclass(frozen=True, slots=True)
class EstateSummary:
    """Headline facts about an estate, for people.

    Attributes:
        counts: Resources per kind.
        sites: ``(name, kind, country, devices, max_classification)`` per site.
        devices_by_site_kind: Accelerator devices per site kind.
        datasets_by_classification: Datasets per classification.
        residency: ``(dataset, jurisdictions)`` for datasets with residency rules.
        sensitive_tags: Datasets per sensitive tag (``personal``, ``phi``, ``pci``).
        workloads_by_kind: Workloads per kind.
        high_risk_models: Models in the ``high`` or ``prohibited`` tiers, with their tier.
        revision: Estate revision.
        digest: Estate digest.
    """

    counts: dict[str, int]
    sites: list[tuple[str, str, str, int, str]]
    devices_by_site_kind: dict[str, int]
    datasets_by_classification: dict[str, int]
    residency: list[tuple[str, str]]
    sensitive_tags: dict[str, int]
    workloads_by_kind: dict[str, int]
    high_risk_models: list[tuple[str, str]]
    revision: int
    digest: str


def summarise(workspace: Workspace) -> EstateSummary:
    """Summarise the stored estate.

    Args:
        workspace: The workspace.

    Returns:
        The summary.
    """
    estate = load_estate(workspace)
    with workspace.database.read() as conn:
        revision, digest = ResourceRepository(conn).revision()
    devices: Counter[str] = Counter()
    sites = []
    for site in estate.sites.values():
        count = sum(pool.count for pool in site.pools)
        devices[site.kind] += count
        sites.append((site.name, site.kind, site.country, count, site.max_classification))
    datasets = [r.spec for r in estate.of_kind("Dataset").values()]
    specs = [d for d in datasets if isinstance(d, DatasetSpec)]
    by_class = Counter(d.classification for d in specs)
    classes: dict[str, int] = {c: by_class[c] for c in CLASSIFICATION_ORDER if by_class[c]}
    tags = Counter(t for d in specs for t in d.tags if t in ("personal", "phi", "pci"))
    residency = [
        (name, ", ".join(r.spec.residency))
        for name, r in estate.of_kind("Dataset").items()
        if isinstance(r.spec, DatasetSpec) and r.spec.residency
    ]
    workloads: Counter[str] = Counter(
        str(r.spec.kind)
        for r in estate.of_kind("Workload").values()
        if isinstance(r.spec, WorkloadSpec)
    )
    risky = [
        (name, r.spec.risk_tier)
        for name, r in estate.of_kind("Model").items()
        if isinstance(r.spec, ModelSpec) and r.spec.risk_tier in ("high", "prohibited")
    ]
    return EstateSummary(
        counts={kind: len(estate.of_kind(kind)) for kind in KINDS if estate.of_kind(kind)},
        sites=sorted(sites),
        devices_by_site_kind=dict(devices),
        datasets_by_classification=classes,
        residency=sorted(residency),
        sensitive_tags=dict(tags),
        workloads_by_kind=dict(workloads),
        high_risk_models=sorted(risky),
        revision=revision,
        digest=digest,
    )


def demo_manifests(*, refused: bool = False) -> list[tuple[str, str]]:
    """The bundled demo estate as ``(file name, text)`` pairs.

    Args:
        refused: The manifests the demo's policy refuses at apply, instead of the estate.

    Returns:
        The manifest files, in name order.
    """
    return demo_manifest_files("demo_refused" if refused else "demo")


def manifest_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one manifest document, for editors.

    Returns:
        A schema whose ``oneOf`` has one branch per kind.
    """
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema(
        [(spec, "validation") for spec in SPEC_TYPES.values()],
        ref_template="#/$defs/{model}",
    )
    defs = top.get("$defs", {})
    branches = []
    for kind, spec in SPEC_TYPES.items():
        branches.append(
            {
                "type": "object",
                "title": kind,
                "additionalProperties": False,
                "required": ["kind", "name", "spec"],
                "properties": {
                    "kind": {"const": kind},
                    "name": {
                        "type": "string",
                        "pattern": r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$",
                    },
                    "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "spec": {"$ref": f"#/$defs/{spec.__name__}"},
                },
            }
        )
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://keel.example/schemas/manifest.json",
        "title": "Keel manifest document",
        "oneOf": branches,
        "$defs": defs,
    }
    json.dumps(schema)  # fail here, not in the user's editor, if anything is not serialisable
    return schema
