"""Stored resources and what an apply or delete changed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from keel.wire.base import Instant, JsonObject, Wire


class ResourceStatus(Wire):
    """What Keel knows about a stored resource besides its spec."""

    generation: int = Field(description="Grows by one whenever the spec changes.")
    spec_digest: str
    created_at: Instant
    updated_at: Instant
    resolved: JsonObject | None = Field(
        default=None, description="Values Keel resolved from catalogs (a site's PUE, ...)."
    )


class Resource(Wire):
    """A stored resource, as ``keel get -o json`` prints it."""

    kind: str
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    spec: JsonObject
    status: ResourceStatus

    def manifest(self) -> JsonObject:
        """The resource as a manifest document (what ``keel get -o yaml`` prints)."""
        document: JsonObject = {"kind": self.kind, "name": self.name}
        if self.labels:
            document["labels"] = dict(self.labels)
        document["spec"] = self.spec
        return document


class ResourceList(Wire):
    """Every stored resource of a kind that the caller may read."""

    kind: Literal["List"] = "List"
    items: list[Resource]


Action = Literal["created", "configured", "unchanged", "deleted"]


class Change(Wire):
    """What an apply or delete did (or would do) to one resource."""

    action: Action
    kind: str
    name: str
    generation: int
    fields: list[str] = Field(default_factory=list, description="Top-level fields changed.")


class ApplyResult(Wire):
    """The outcome of an apply."""

    revision: int
    estate_digest: str
    dry_run: bool
    changes: list[Change]
    warnings: list[str] = Field(default_factory=list)

    def count(self, action: Action) -> int:
        """How many changes have an action."""
        return sum(1 for change in self.changes if change.action == action)
