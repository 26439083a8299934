"""The application layer: one module per capability, sharing the workspace and its store.

The CLI and the API call these functions (through :class:`keel.operations.Operations`); they
compose the domain with the store. Capabilities that keep state derived from the estate take
part in every apply through :mod:`keel.service.hooks`, registered here and nowhere else.
"""

from keel.service import (
    access,
    hooks,
    ledger,
    lineage,
    monitoring,
    planning,
    policy,
    readiness,
    registration,
    registry,
)
from keel.service.actor import Actor
from keel.service.changes import ApplyResult, Change, apply_manifests
from keel.service.estate import EstateSummary, delete_resource, get_resources, summarise
from keel.service.manifests import (
    demo_manifests,
    demo_tool_calls,
    demo_usage_trace,
    manifest_schema,
    validate_manifests,
)
from keel.service.stored import load_estate
from keel.service.workspace import Unit, Workspace, manifest_limits

hooks.register(registration.RegistryHook())  # first: its admission refusals are reported first
hooks.register(lineage.LineageHook())

__all__ = [
    "Actor",
    "ApplyResult",
    "Change",
    "EstateSummary",
    "Unit",
    "Workspace",
    "access",
    "apply_manifests",
    "delete_resource",
    "demo_manifests",
    "demo_tool_calls",
    "demo_usage_trace",
    "get_resources",
    "ledger",
    "lineage",
    "load_estate",
    "manifest_limits",
    "manifest_schema",
    "monitoring",
    "planning",
    "policy",
    "readiness",
    "registry",
    "summarise",
    "validate_manifests",
]
