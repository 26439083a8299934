"""Benchmark: one readiness assessment on a large estate, against what it cannot avoid.

An assessment reads the estate, the latest plan, the registry, lineage, monitors and runs,
verifies the whole ledger and decides where every workload could run. Its named baselines, in
the same run and on the same store:

* ``ledger verify`` (what ``keel ledger verify`` does; the assessment does it too);
* the feasibility it needs: the compliance decisions and the compiled placement problem (the
  first half of ``keel plan``, without solving);
* ``keel plan`` (compute, without committing), what an operator already runs after a change.

The estate is bench/apply.py's generator at a scale (1.0 = 1,000 sites x 4 pools, 10,000
datasets, 50,000 workloads); the default 0.2 is 200 sites, 2,000 datasets, 10,000 workloads.

Usage::

    python bench/readiness.py [--scale 0.2] [--postgres URL] [--out bench/results/readiness.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apply import generate
from keel.placement.problem import compile_problem
from keel.service import Workspace, apply_manifests, ledger, load_estate, planning, policy
from keel.service import readiness as readiness_service
from keel.service.actor import Actor
from pgschema import postgres_schema, postgres_url

SYSTEM = Actor.system("bench")


def timed(action: Callable[[], Any], repeat: int = 2) -> float:
    """The fastest of ``repeat`` runs, in seconds (timings here wander by ~20%)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return best


def feasibility(ws: Workspace) -> None:
    estate = load_estate(ws)
    decisions = policy.decide(estate, engine=policy.engine_for(estate))
    compile_problem(estate, objective="balanced", policy=policy.denial_mask(decisions))


def run_backend(name: str, url: str, folder: Path, root: Path) -> dict[str, Any]:
    ws = Workspace.open(root, database_url=url)
    try:
        apply_manifests(ws, [str(folder)], actor=SYSTEM)
        planning.commit_plan(ws, planning.compute_plan(ws), actor=SYSTEM)
        size = ledger.size(ws)
        row: dict[str, Any] = {
            "backend": name,
            "workloads": len(load_estate(ws).workloads()),
            "ledger_entries": size,
        }
        row["verify_s"] = timed(lambda: ledger.verify(ws))
        row["feasibility_s"] = timed(lambda: feasibility(ws))
        row["plan_s"] = timed(lambda: planning.compute_plan(ws))
        row["gather_s"] = timed(lambda: readiness_service.gather(ws))
        row["assess_s"] = timed(lambda: readiness_service.assess(ws, actor=SYSTEM))
        floor = row["verify_s"] + row["feasibility_s"]
        row["assess_vs_floor"] = row["assess_s"] / floor
        row["assess_vs_plan"] = row["assess_s"] / row["plan_s"]
        return row
    finally:
        ws.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.2, help="fraction of the full estate")
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL")
    parser.add_argument("--out", default="bench/results/readiness.json")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "estate"
        generate(
            folder,
            sites=max(4, int(1000 * args.scale)),
            datasets=max(4, int(10_000 * args.scale)),
            workloads=max(4, int(50_000 * args.scale)),
        )
        sqlite_root = Path(tmp) / "sqlite"
        sqlite_root.mkdir()
        url = f"sqlite:///{sqlite_root / 'keel.db'}"
        rows.append(run_backend("SQLite", url, folder, sqlite_root))
        base = postgres_url(args.postgres)
        if base:
            pg_root = Path(tmp) / "pg"
            pg_root.mkdir()
            with postgres_schema(base) as (_, schema_url):
                rows.append(run_backend("PostgreSQL", schema_url, folder, pg_root))
    header = (
        "| backend | workloads | ledger entries | verify s | feasibility s | plan s | gather s"
        " | assess s | assess / (verify + feasibility) | assess / plan |"
    )
    print(header)
    print("|" + "---|" * 10)
    for r in rows:
        print(
            f"| {r['backend']} | {r['workloads']:,} | {r['ledger_entries']:,} | {r['verify_s']:.2f}"
            f" | {r['feasibility_s']:.2f} | {r['plan_s']:.2f} | {r['gather_s']:.2f}"
            f" | {r['assess_s']:.2f} | {r['assess_vs_floor']:.2f}x | {r['assess_vs_plan']:.2f}x |"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
