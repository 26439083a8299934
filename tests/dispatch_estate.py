"""A small estate for dispatch tests: two sites, a model, jobs and a service with run sections,
and a cluster of the type a test asks for."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

SITES = """\
kind: Site
name: dc-a
spec:
  kind: on_prem
  country: DE
  location: {latitude: 50.1, longitude: 8.7}
  max_classification: confidential
  pools:
    - {name: gpu, accelerator: L40S, count: 64, usd_per_hour: 1.2}
---
kind: Site
name: dc-b
spec:
  kind: on_prem
  country: NL
  location: {latitude: 52.4, longitude: 4.9}
  max_classification: confidential
  pools:
    - {name: gpu, accelerator: L40S, count: 64, usd_per_hour: 1.5}
---
kind: UserRegion
name: europe
spec:
  country: DE
  location: {latitude: 50.0, longitude: 8.0}
---
kind: Model
name: m
spec:
  risk_tier: minimal
  purpose: dispatch tests
  versions: [{version: "1", parameters_billion: 1, state: approved}]
"""


def workload(
    name: str,
    command: list[str],
    *,
    kind: str = "batch_inference",
    replicas: int = 1,
    retries: int = 2,
    image: str | None = None,
) -> dict[str, object]:
    run: dict[str, object] = {"command": command, "max_retries": retries}
    if image:
        run["image"] = image
    spec: dict[str, object] = {
        "kind": kind,
        "model": "m@1",
        "compute": {"accelerators": ["L40S"], "count": 1, "hours": 1, "replicas": replicas},
        "run": run,
    }
    if kind == "online_inference":
        spec["latency_slo_ms"] = 500
        spec["serves"] = ["europe"]
        spec["compute"] = {"accelerators": ["L40S"], "count": 1, "replicas": replicas}
    return {"kind": "Workload", "name": name, "spec": spec}


def cluster(kind: str = "local", **spec: object) -> dict[str, object]:
    return {
        "kind": "Cluster",
        "name": f"{kind}-engine",
        "spec": {"type": kind, "sites": [{"site": "dc-a"}, {"site": "dc-b"}], **spec},
    }


def python(code: str) -> list[str]:
    """A command that runs Python code with this interpreter."""
    return [sys.executable, "-c", code]


def write(
    folder: Path, *docs: dict[str, object], down: str | None = None, devices: int = 64
) -> Path:
    """Write the estate (``down`` unavailable, ``devices`` per pool) into ``folder/estate.yaml``."""
    folder.mkdir(parents=True, exist_ok=True)
    sites = SITES.replace("count: 64,", f"count: {devices},")
    if down:
        sites = sites.replace(
            f"name: {down}\nspec:\n", f"name: {down}\nspec:\n  available: false\n"
        )
    text = sites + "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in docs)
    path = folder / "estate.yaml"
    path.write_text(text)
    return path


def kubeconfig(folder: Path) -> Path:
    """A kubeconfig naming an API server nobody answers at (127.0.0.1:1), with a dummy token."""
    path = folder / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "hub", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "keel", "user": {"token": "not-a-real-token"}}],
                "contexts": [{"name": "hub", "context": {"cluster": "hub", "user": "keel"}}],
                "current-context": "hub",
            }
        )
    )
    return path
