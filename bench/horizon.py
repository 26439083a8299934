"""``keel plan --horizon`` at scale: an estate of deferrable jobs over a week of real grid data.

Six on-premises sites, each on a 2024 grid zone of the shared data, with H100 and L40S pools;
``--jobs`` training and batch jobs of 1-8 devices and 1-24 hours, each with a window that
opens at a random hour of the week and leaves 0-24 hours of slack. The same estate is planned
twice in the same run: without a horizon (the baseline: where only) and over 168 hours (where
and when), on SQLite. Prints the time of each, their ratio, and the schedule's carbon against
run-now and the capacity-blind advice.

    python bench/horizon.py [--jobs 5000] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from keel.energy.providers import Files
from keel.service import Workspace, apply_manifests
from keel.service.actor import Actor
from keel.service.planning import compute_plan
from keel.service.timing import HorizonRequest

GRID = Path(__file__).resolve().parents[2] / "shared" / "data" / "carbon" / "electricitymaps-hourly"
SITES = {  # site: (zone, country, latitude, longitude, PUE)
    "fra": ("DE-LU", "DE", 50.1, 8.7, 1.3),
    "lon": ("GB", "GB", 51.5, -0.1, 1.3),
    "sfo": ("US-CAL-CISO", "US", 37.8, -122.4, 1.2),
    "dfw": ("US-TEX-ERCO", "US", 32.8, -96.8, 1.4),
    "sin": ("SG", "SG", 1.35, 103.8, 1.5),
    "bom": ("IN-WE", "IN", 19.1, 72.9, 1.6),
}
WEEK = datetime(2024, 4, 1, tzinfo=UTC)


def generate(folder: Path, jobs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    docs = [
        "kind: Model\nname: m\nspec: {risk_tier: minimal, purpose: bench,"
        " versions: [{version: '1', parameters_billion: 7}]}\n"
    ]
    for name, (zone, country, lat, lon, pue) in SITES.items():
        docs.append(
            f"kind: Site\nname: {name}\nspec: {{kind: on_prem, country: {country},"
            f" grid_zone: {zone}, pue: {pue}, location: {{latitude: {lat}, longitude: {lon}}},"
            " max_classification: restricted, pools: [{name: h100, accelerator: H100-SXM,"
            " count: 256, usd_per_hour: 2.0}, {name: l40s, accelerator: L40S, count: 256,"
            " usd_per_hour: 0.9}]}\n"
        )
    for i in range(jobs):
        hours = int(rng.integers(1, 25))
        opens = WEEK + timedelta(hours=int(rng.integers(0, 168 - hours)))
        slack = int(rng.choice([0, 4, 12, 24]))
        closes = min(opens + timedelta(hours=hours + slack), WEEK + timedelta(hours=168))
        accelerator = "H100-SXM" if i % 3 else "L40S"
        docs.append(
            f"kind: Workload\nname: job-{i}\nspec: {{kind: batch_inference, model: m,"
            f" objective: carbon, compute: {{accelerators: [{accelerator}],"
            f" count: {int(rng.integers(1, 9))}, hours: {hours}}},"
            f" window: {{earliest_start: '{opens.isoformat()}',"
            f" deadline: '{closes.isoformat()}'}}}}\n"
        )
    folder.mkdir()
    (folder / "estate.yaml").write_text("---\n".join(docs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root / "estate", args.jobs, args.seed)
        workspace = Workspace.open(root)
        apply_manifests(workspace, [str(root / "estate")], actor=Actor.system("bench"))
        began = time.perf_counter()
        compute_plan(workspace, objective="carbon")
        where_s = time.perf_counter() - began
        began = time.perf_counter()
        request = HorizonRequest(WEEK, 168, source=Files(GRID))
        when = compute_plan(workspace, objective="carbon", horizon=request)
        when_s = time.perf_counter() - began
        workspace.close()
    schedule = when.plan.schedule
    assert schedule is not None
    placed = sum(1 for r in schedule["runs"] if r["start"])
    baselines = {b["name"]: b for b in schedule["baselines"]}
    print(f"{args.jobs:,} jobs, 6 sites x 2 pools, 168 hourly slots (week of {WEEK:%Y-%m-%d})")
    print(f"  plan, where only (baseline):   {where_s:6.1f} s")
    print(f"  plan --horizon 168h:           {when_s:6.1f} s ({when_s / where_s:.1f}x)")
    print(f"  scheduled {placed:,} of {len(schedule['runs']):,} job replicas")
    bound = schedule["bound_usd"]
    gap = (
        "bound not solved in time"
        if bound is None
        else (f"{schedule['objective_usd'] / bound - 1:.2%} above the LP bound")
    )
    print(f"  objective {schedule['objective_usd']:,.0f} USD, {gap}")
    keel = schedule["carbon_kgco2e"]
    for name in ("run now", "capacity-blind advice", "capacity-blind advice, queued"):
        b = baselines[name]
        print(
            f"  {name:<30} {b['carbon_kgco2e'] / 1000:8.2f} tCO2e (keel {keel / 1000:.2f}),"
            f" {b['ran']:,} ran, {b['late']:,} late,"
            f" {b['overfilled_pool_hours']:,} pool-hours overfilled"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "horizon.json").write_text(
        json.dumps({"jobs": args.jobs, "where_s": where_s, "when_s": when_s, **baselines})
    )


if __name__ == "__main__":
    main()
