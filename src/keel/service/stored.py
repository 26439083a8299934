"""The stored estate read back as domain objects.

Kept apart from :mod:`keel.service.estate` so that the services apply consults (policy,
access) can read the stored estate without importing apply.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from keel.errors import ManifestError, UserError
from keel.estate import SPEC_TYPES, Estate, LocatedResource, Resource, build_estate
from keel.service.workspace import Unit, Workspace
from keel.store import ResourceRepository, StoredResource

STORE_PATH = "<store>"
"""The path of resources read back from the store, in problems."""


def from_store(row: StoredResource, spec: dict[str, Any]) -> LocatedResource:
    """A stored resource as a located resource (path :data:`STORE_PATH`).

    Args:
        row: Its stored header.
        spec: Its stored spec.

    Returns:
        The resource.

    Raises:
        UserError: If the stored spec no longer validates.
    """
    try:
        parsed = SPEC_TYPES[row.kind].model_validate(spec)
    except (KeyError, ValidationError) as exc:
        raise UserError(
            f"stored {row.kind}/{row.name} no longer validates: {exc}",
            hint="apply a corrected manifest for it, or delete it",
        ) from exc
    resource = Resource(kind=row.kind, name=row.name, labels=row.labels, spec=parsed)
    return LocatedResource(resource, STORE_PATH, 0)


def load_estate(workspace: Workspace) -> Estate:
    """The stored estate as a domain object.

    Args:
        workspace: The workspace.

    Returns:
        The estate.

    Raises:
        ManifestError: If the stored estate is inconsistent (it should never be).
    """
    with workspace.unit() as unit:
        return estate_in(unit)


def estate_in(unit: Unit) -> Estate:
    """The stored estate as a domain object, read on an open connection (its transaction).

    Args:
        unit: A unit of work.

    Returns:
        The estate.

    Raises:
        ManifestError: If the stored estate is inconsistent (it should never be).
    """
    rows = unit.repository(ResourceRepository).list()
    estate, problems = build_estate([from_store(row, row.spec or {}) for row in rows])
    if problems:
        raise ManifestError(problems, hint="the stored estate is inconsistent; re-apply it")
    return estate
