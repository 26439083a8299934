"""How stored resources look in ``keel get``: table cells per kind.

Specs arrive as wire JSON; each kind's cells are read from it defensively (a spec is what the
server stored, validated when it was applied).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from keel import wire


def _site(spec: Any, resolved: Any) -> list[Any]:
    pools = (resolved or spec).get("pools", [])
    devices = ", ".join(f"{p['count']}x{p['accelerator']}" for p in pools)
    country = (resolved or {}).get("country", spec.get("country"))
    return [spec["kind"], country, spec.get("max_classification", "internal"), devices]


def _dataset(spec: Any, _resolved: Any) -> list[Any]:
    return [
        spec["classification"],
        spec["size_gb"],
        spec["replicas"],
        spec.get("residency", []),
        spec.get("tags", []),
    ]


def _model(spec: Any, _resolved: Any) -> list[Any]:
    versions = [f"{v['version']}:{v.get('state', 'draft')}" for v in spec["versions"]]
    return [spec["risk_tier"], versions]


def _workload(spec: Any, _resolved: Any) -> list[Any]:
    compute = spec["compute"]
    options = "|".join(compute["accelerators"])
    demand = f"{compute.get('replicas', 1)}x{compute.get('count', 1)}x{options}"
    return [spec["kind"], spec["model"], demand, spec.get("inputs", []), spec.get("latency_slo_ms")]


def _agent(spec: Any, _resolved: Any) -> list[Any]:
    return [spec["model"], spec["owner"], spec.get("autonomy", "suggest"), spec.get("tools", [])]


def _link(spec: Any, _resolved: Any) -> list[Any]:
    return [" <-> ".join(spec["between"]), spec["latency_ms"], spec.get("bandwidth_gbps")]


def _user_region(spec: Any, _resolved: Any) -> list[Any]:
    loc = spec["location"]
    return [spec["country"], f"{loc['latitude']},{loc['longitude']}", spec.get("users")]


def _accelerator(spec: Any, _resolved: Any) -> list[Any]:
    return [spec["vendor"], spec["memory_gb"], spec["power_w"]]


def _policy_set(spec: Any, _resolved: Any) -> list[Any]:
    packs = ", ".join(p["name"] for p in spec.get("packs", []))
    modules = ", ".join(m["name"] for m in spec.get("modules", []))
    access = ", ".join(a["name"] for a in spec.get("access", []))
    return [packs or "-", modules or "-", access or "-"]


def _principal(spec: Any, _resolved: Any) -> list[Any]:
    return [spec["type"], ", ".join(spec["roles"])]


def _monitor(spec: Any, _resolved: Any) -> list[Any]:
    checks = [k for k in ("drift", "performance", "latency") if spec.get(k)]
    return [spec["workload"], ", ".join(checks), spec.get("every_minutes", 60)]


def _cluster(spec: Any, _resolved: Any) -> list[Any]:
    where = spec.get("address") or spec.get("context") or "-"
    credential = spec.get("credentials") or {}
    reference = f"env {credential['env']}" if "env" in credential else credential.get("file", "-")
    return [spec["type"], where, ", ".join(s["site"] for s in spec["sites"]), reference]


def _questionnaire(spec: Any, _status: Any) -> list[Any]:
    return [
        spec["answered_by"],
        spec["as_of"],
        f"{spec['talent']['trained_share_pct']:g}%",
        "yes" if spec["centre_of_excellence"]["exists"] else "no",
        spec["partnerships"]["model"],
    ]


_COLUMNS: dict[str, tuple[list[str], Callable[[Any, Any], list[Any]]]] = {
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
    "Cluster": (["TYPE", "ADDRESS", "SITES", "CREDENTIALS"], _cluster),
    "Questionnaire": (["ANSWERED BY", "AS OF", "TRAINED", "COE", "PARTNERSHIPS"], _questionnaire),
}


class ResourceView:
    """A stored resource as ``keel get`` shows it in a table.

    Args:
        item: The stored resource.
    """

    def __init__(self, item: wire.Resource) -> None:
        self.item = item
        self.name = item.name
        self.generation = item.status.generation

    def summary_headers(self) -> list[str]:
        """Kind-specific column titles, after NAME and GEN."""
        return _COLUMNS[self.item.kind][0]

    def summary_cells(self) -> list[object]:
        """Kind-specific cells, matching :meth:`summary_headers`."""
        return _COLUMNS[self.item.kind][1](self.item.spec, self.item.status.resolved)
