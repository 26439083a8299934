"""The application layer: one module per capability, sharing the workspace and its store.

The CLI and the API call these functions; they compose the domain with the store.
"""

from keel.service import access, ledger, monitoring, planning, policy
from keel.service.actor import Actor
from keel.service.estate import (
    ApplyResult,
    Change,
    EstateSummary,
    apply_manifests,
    delete_resource,
    demo_manifests,
    get_resources,
    manifest_schema,
    summarise,
    validate_manifests,
)
from keel.service.stored import load_estate
from keel.service.workspace import Workspace, manifest_limits
from keel.store import StoredResource

__all__ = [
    "Actor",
    "ApplyResult",
    "Change",
    "EstateSummary",
    "StoredResource",
    "Workspace",
    "access",
    "apply_manifests",
    "delete_resource",
    "demo_manifests",
    "get_resources",
    "ledger",
    "load_estate",
    "manifest_limits",
    "manifest_schema",
    "monitoring",
    "planning",
    "policy",
    "summarise",
    "validate_manifests",
]
