"""How stored resources look in ``keel get``: table cells per kind, JSON and manifest forms."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from keel.service import StoredResource


def _site(spec: dict[str, Any], resolved: dict[str, Any] | None) -> list[Any]:
    pools = (resolved or spec).get("pools", [])
    devices = ", ".join(f"{p['count']}x{p['accelerator']}" for p in pools)
    country = (resolved or {}).get("country", spec.get("country"))
    return [spec["kind"], country, spec.get("max_classification", "internal"), devices]


def _dataset(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    return [
        spec["classification"],
        spec["size_gb"],
        spec["replicas"],
        spec.get("residency", []),
        spec.get("tags", []),
    ]


def _model(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    versions = [f"{v['version']}:{v.get('state', 'draft')}" for v in spec["versions"]]
    return [spec["risk_tier"], versions]


def _workload(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    compute = spec["compute"]
    options = "|".join(compute["accelerators"])
    demand = f"{compute.get('replicas', 1)}x{compute.get('count', 1)}x{options}"
    return [spec["kind"], spec["model"], demand, spec.get("inputs", []), spec.get("latency_slo_ms")]


def _agent(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    return [spec["model"], spec["owner"], spec.get("autonomy", "suggest"), spec.get("tools", [])]


def _link(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    return [" <-> ".join(spec["between"]), spec["latency_ms"], spec.get("bandwidth_gbps")]


def _user_region(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    loc = spec["location"]
    return [spec["country"], f"{loc['latitude']},{loc['longitude']}", spec.get("users")]


def _accelerator(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    return [spec["vendor"], spec["memory_gb"], spec["power_w"]]


def _policy_set(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    packs = ", ".join(p["name"] for p in spec.get("packs", []))
    modules = ", ".join(m["name"] for m in spec.get("modules", []))
    access = ", ".join(a["name"] for a in spec.get("access", []))
    return [packs or "-", modules or "-", access or "-"]


def _principal(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    return [spec["type"], ", ".join(spec["roles"])]


def _monitor(spec: dict[str, Any], _resolved: dict[str, Any] | None) -> list[Any]:
    checks = [k for k in ("drift", "performance", "latency") if spec.get(k)]
    return [spec["workload"], ", ".join(checks), spec.get("every_minutes", 60)]


_COLUMNS: dict[
    str, tuple[list[str], Callable[[dict[str, Any], dict[str, Any] | None], list[Any]]]
] = {
    "Site": (["KIND", "COUNTRY", "MAX CLASS", "POOLS"], _site),
    "Dataset": (["CLASS", "SIZE GB", "REPLICAS", "RESIDENCY", "TAGS"], _dataset),
    "Model": (["RISK", "VERSIONS"], _model),
    "Workload": (["KIND", "MODEL", "DEVICES", "INPUTS", "SLO MS"], _workload),
    "Agent": (["MODEL", "OWNER", "AUTONOMY", "TOOLS"], _agent),
    "Link": (["BETWEEN", "RTT MS", "GBPS"], _link),
    "UserRegion": (["COUNTRY", "LOCATION", "USERS"], _user_region),
    "Accelerator": (["VENDOR", "MEMORY GB", "POWER W"], _accelerator),
    "PolicySet": (["PACKS", "MODULES", "ACCESS"], _policy_set),
    "Principal": (["TYPE", "ROLES"], _principal),
    "Monitor": (["WORKLOAD", "CHECKS", "EVERY MIN"], _monitor),
}


class ResourceView:
    """A stored resource as ``keel get`` shows it.

    Args:
        row: The stored resource (with its spec).
    """

    def __init__(self, row: StoredResource) -> None:
        self.row = row
        self.name = row.name
        self.generation = row.generation

    def summary_headers(self) -> list[str]:
        """Kind-specific column titles.

        Returns:
            The titles after NAME and GEN.
        """
        return _COLUMNS[self.row.kind][0]

    def summary_cells(self) -> list[Any]:
        """Kind-specific cells, matching :meth:`summary_headers`.

        Returns:
            The cell values.
        """
        return _COLUMNS[self.row.kind][1](self.row.spec or {}, self.row.resolved)

    def to_manifest(self) -> dict[str, Any]:
        """The resource as a manifest document that ``keel apply`` accepts again.

        Returns:
            ``kind``, ``name``, ``labels`` (when any) and ``spec``.
        """
        doc: dict[str, Any] = {"kind": self.row.kind, "name": self.row.name}
        if self.row.labels:
            doc["labels"] = self.row.labels
        doc["spec"] = self.row.spec
        return doc

    def to_json(self) -> dict[str, Any]:
        """The resource with its status: generation, digest, times and resolved values.

        Returns:
            JSON-compatible data.
        """
        return {
            **self.to_manifest(),
            "labels": self.row.labels,
            "status": {
                "generation": self.row.generation,
                "spec_digest": self.row.spec_digest,
                "created_at": self.row.created_at.isoformat(),
                "updated_at": self.row.updated_at.isoformat(),
                "resolved": self.row.resolved,
            },
        }
