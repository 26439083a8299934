"""The estate: resource types, manifest loading, catalogs and the resolved estate.

Pure computation over plain objects: nothing here touches a database, the network or the CLI.
"""

from __future__ import annotations

from importlib import resources as importlib_resources
from pathlib import Path

from keel.estate.estate import Estate, ResolvedPool, ResolvedSite
from keel.estate.manifest import Limits, LocatedResource, load_manifests
from keel.estate.references import build_estate
from keel.estate.resources import KINDS, SPEC_TYPES, Resource

__all__ = [
    "KINDS",
    "SPEC_TYPES",
    "Estate",
    "Limits",
    "LocatedResource",
    "ResolvedPool",
    "ResolvedSite",
    "Resource",
    "build_estate",
    "demo_manifest_files",
    "demo_tool_calls",
    "demo_usage_trace",
    "load_manifests",
]


def demo_manifest_files(folder_name: str = "demo") -> list[tuple[str, str]]:
    """The bundled demo estate (Aurelia Bank) as ``(file name, text)`` pairs.

    Args:
        folder_name: ``demo`` for the estate, ``demo_refused`` for the changes its policy
            refuses at apply.

    Returns:
        One pair per manifest file, in name order.
    """
    folder = importlib_resources.files(__name__).joinpath(folder_name)
    return sorted(
        (entry.name, entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if Path(entry.name).suffix == ".yaml"
    )


def demo_usage_trace() -> bytes:
    """Three days of real GenAI image requests in Keel's trace format (``keel capacity``).

    An excerpt of the Alibaba GenAI 2026 trace (``cluster-trace-v2026-GenAI``,
    ``lora_request_trace.csv``; research or study use): every request that ran from 2024-11-25
    to 2024-11-27 (UTC), one GPU each for its execution time (docs/capacity.md).
    """
    return importlib_resources.files(__name__).joinpath("demo", "usage.csv").read_bytes()


def demo_tool_calls() -> bytes:
    """Four tool calls of the demo's KYC agent, for ``keel agents check``.

    One is allowed, one redacted, one blocked for a key, one for an ungranted tool.
    """
    return importlib_resources.files(__name__).joinpath("demo", "tool-calls.json").read_bytes()
