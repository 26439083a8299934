"""The stored estate: read resources, delete one, summarise.

Applying manifests is :mod:`keel.service.changes`; deleting follows the same invariants.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from keel.errors import InUseError, ManifestError, NotFoundError, Problem, UserError
from keel.estate import (
    Estate,
    build_estate,
)
from keel.estate.digest import estate_digest
from keel.estate.resources import (
    CLASSIFICATION_ORDER,
    KINDS,
    DatasetSpec,
    ModelSpec,
    kind_named,
)
from keel.estate.spelling import did_you_mean
from keel.policy.access.entities import GOVERNANCE_KINDS
from keel.service import access
from keel.service.actor import Actor
from keel.service.changes import (
    Change,
    RefusedError,
    governance_entry,
    record_with_hooks,
    refreshed,
    refusals,
)
from keel.service.manifests import sorted_problems
from keel.service.stored import estate_in, from_store, load_estate
from keel.service.workspace import Workspace
from keel.store import ResourceRepository, StoredResource


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
    with workspace.unit() as unit:
        repo = unit.repository(ResourceRepository)
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
        with workspace.unit(actor.principal, write=True) as unit:
            before = estate_in(unit)
            refused = refusals(
                None if actor.trusted else before, actor, [("delete", f"{canonical}/{name}")]
            )
            if refused:
                raise RefusedError(refused)
            repo = unit.repository(ResourceRepository)
            generation, knock_on, estate = _delete_locked(repo, canonical, name)
            change = Change("deleted", canonical, name, generation)
            revision, digest = repo.revision()
            entries = [c.ledger_entry(revision, digest) for c in [change, *knock_on]]
            if canonical in GOVERNANCE_KINDS:
                locked = access.lockout_problem(estate)
                if locked:
                    raise ManifestError(
                        [Problem("<store>", 0, f"{canonical}/{name}", "", locked)],
                        hint="nothing was deleted",
                    )
                entries.append(governance_entry(before, estate, [f"{canonical}/{name}"]))
            record_with_hooks(
                unit, entries, estate=estate, touched=set(), now=datetime.now(UTC), actor=actor
            )
    except RefusedError as refusal:
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
            sorted_problems(problems),
            hint="change or delete the resources listed first",
        )
    repo.delete([key])
    knock_on = refreshed(estate, rest, headers, specs)
    repo.update([row for row, _ in knock_on], datetime.now(UTC))
    digest = estate_digest([(*k, headers[k].labels, headers[k].spec_digest) for k in rest])
    repo.set_revision(revision + 1, digest)
    return headers[key].generation, [change for _, change in knock_on], estate


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
    with workspace.unit() as unit:
        revision, digest = unit.repository(ResourceRepository).revision()
    devices: Counter[str] = Counter()
    sites = []
    for site in estate.sites.values():
        count = sum(pool.count for pool in site.pools)
        devices[site.kind] += count
        sites.append((site.name, site.kind, site.country, count, site.max_classification))
    datasets = estate.specs(DatasetSpec)
    specs = list(datasets.values())
    by_class = Counter(d.classification for d in specs)
    classes: dict[str, int] = {c: by_class[c] for c in CLASSIFICATION_ORDER if by_class[c]}
    tags = Counter(t for d in specs for t in d.tags if t in ("personal", "phi", "pci"))
    residency = [(name, ", ".join(d.residency)) for name, d in datasets.items() if d.residency]
    workloads = Counter(str(w.kind) for w in estate.workloads().values())
    risky = [
        (name, m.risk_tier)
        for name, m in estate.specs(ModelSpec).items()
        if m.risk_tier in ("high", "prohibited")
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
