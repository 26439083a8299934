"""Capacity replay speed and advice quality on real traces, against named baselines (issue 19).

Part 1, replay speed. The Alibaba GPU 2025 trace (23,871 instances, of which 7,386 hold GPUs;
31 days) replayed against the demo estate with Keel's placement rules in the loop, its
classes behaving as the demo's ``doc-search-api``. The first 10%, 25%, 50% and 100% of the
trace (by arrival) show how the time grows with its length. Baseline: the exhaustive loop
(``Settings(exhaustive=True)``: a tick every minute while usages wait, every waiting usage
tried at every tick), on the first 10% only (it took 18 s there, and grows with the queue);
both loops must agree on every wait.

Part 2, advice. ``keel capacity advise`` on three traces; each strategy's mixes replayed on
the same usages. Prints SLO attainment, the cost of the advised pool types' pools and of the
whole estate, and the score (estate cost plus carbon) per month for Keel's advice,
"on-premises first" (today's owned devices, the rest on demand) and "all on demand", and the
ratios.

Part 3, fragmentation. The 2023 trace's pods on its own cluster (1,213 GPU nodes, 6,212 GPUs;
multi-GPU pods on one node), sampled until they ask for 130% of the GPUs, none leaving: GPUs
left unallocated under best fit (Keel's) and first fit, three seeds.

    python bench/capacity_replay.py [--skip-baseline]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from keel.capacity import demand, replay
from keel.service import Workspace, advice, simulation
from keel.service.access import local_actor

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
GPU_2025 = DATA / "alibaba-gpu-v2025" / "disaggregated_DLRM_trace.csv"
GPU_2023 = DATA / "alibaba-gpu-v2023" / "openb_pod_list_default.csv"
GENAI = DATA / "alibaba-genai-v2026" / "lora_request_trace.csv"
KEEL = str(Path(sys.executable).with_name("keel"))
ADMIN = "user:root-ops"


def demo_workspace(folder: Path) -> Workspace:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["KEEL_PRINCIPAL"] = ADMIN
    for args in (["init", "estate"], ["apply", "-f", "estate"]):
        subprocess.run([KEEL, *args], cwd=folder, env=env, check=True, capture_output=True)
    return Workspace.open(folder)


def cut(model: simulation.Model, share: float) -> simulation.Model:
    """The first ``share`` of the model's usages by arrival."""
    n = max(1, round(len(model.usages[0]) * share))
    usages = tuple(column[:n] for column in model.usages)
    return simulation.Model(
        model.pools, model.classes, model.workload_of, usages, model.skipped, model.estate_digest
    )  # type: ignore[arg-type]


def part_one(workspace: Workspace, *, baseline: bool) -> None:
    print("\n1. replay speed: GPU 2025 trace against the demo estate, as doc-search-api")
    began = time.perf_counter()
    trace = demand.read_trace(GPU_2025, "alibaba-gpu-2025")
    scenario = simulation.Scenario(mapping={"*": "doc-search-api"})
    model = simulation.build(workspace, trace, scenario)
    print(
        f"   read and compiled in {time.perf_counter() - began:.1f} s:"
        f" {len(model.usages[0]):,} GPU instances, {len(model.classes)} classes,"
        f" {len(model.pools)} pools"
    )
    print(
        f"   {'share':>6} {'usages':>7} {'events':>8} {'keel s':>7} {'events/s':>9}"
        f" {'simulated h':>11} {'exhaustive s':>12} {'ratio':>6} {'same waits':>10}"
    )
    for share in (0.1, 0.25, 0.5, 1.0):
        part = cut(model, share)
        began = time.perf_counter()
        fast = replay.replay(part.pools, part.classes, part.usages, replay.Settings())
        fast_s = time.perf_counter() - began
        line = (
            f"   {share:>6.0%} {len(part.usages[0]):>7,} {fast.events:>8,} {fast_s:>7.2f}"
            f" {fast.events / fast_s:>9,.0f} {fast.span_h:>11,.0f}"
        )
        if baseline and share <= 0.1:
            began = time.perf_counter()
            plain = replay.replay(
                part.pools, part.classes, part.usages, replay.Settings(exhaustive=True)
            )
            plain_s = time.perf_counter() - began
            same = all(
                np.allclose(a.waits_s, b.waits_s)
                for a, b in zip(fast.classes, plain.classes, strict=True)
            )
            line += f" {plain_s:>12.2f} {plain_s / fast_s:>5.0f}x {same!s:>10}"
        else:
            line += f" {'-':>12} {'-':>6} {'-':>10}"
        print(line)
    print("   target: the whole trace in under 60 s (read, compile and replay)")


ADVICE = {
    "GPU 2023 (fractional pods; LS as doc-search-api, the rest as clickstream-propensity)": (
        GPU_2023, "alibaba-gpu-2023",
        {"LS": "doc-search-api", "*": "clickstream-propensity"}, 1.0,
    ),
    "GPU 2025 (5% sample, as doc-search-api)": (
        GPU_2025, "alibaba-gpu-2025", {"*": "doc-search-api"}, 0.05,
    ),
    "GenAI 2026 (image requests, as doc-search-api)": (
        GENAI, "alibaba-genai-2026", {"*": "doc-search-api"}, 1.0,
    ),
}  # fmt: skip


def part_two(workspace: Workspace) -> None:
    print("\n2. advice judged by replay (cost + carbon at 100 USD/t, per month; SLO 99%)")
    actor = local_actor(workspace, ADMIN)
    for label, (path, fmt, mapping, sample) in ADVICE.items():
        began = time.perf_counter()
        found = advice.advise(
            workspace, path, fmt, simulation.Scenario(mapping=mapping, sample=sample),
            actor=actor, horizon_steps=168,
        )  # fmt: skip
        took = time.perf_counter() - began
        print(f"\n   {label}: {found.usages:,} usages, {found.replays} replays, {took:.1f} s")
        for t in found.pool_types:
            mix = t.recommended
            advised = "-" if mix is None else f"own {mix.owned}, reserve {mix.reserved}"
            print(f"     {t.accelerator:<14} owned today {t.owned_today:>4}; advised {advised}")
        scores = {}
        for name, c in found.checks.items():
            scores[name] = c.usd_per_month + found.carbon_usd_per_t * c.kgco2e_per_month / 1000
            slo = "-" if c.slo_attainment is None else f"{c.slo_attainment:.1%}"
            print(
                f"     {name:<14} SLO met {slo:>7}  {c.types_usd_per_month:>9,.0f} USD on these"
                f" types, {c.usd_per_month:>9,.0f} USD estate, {c.kgco2e_per_month:>7,.0f} kgCO2e;"
                f" score {scores[name]:>9,.0f}"
            )
        typed = {name: c.types_usd_per_month for name, c in found.checks.items()}
        for base in ("on_prem_first", "all_on_demand"):
            print(
                f"     keel / {base}: score {scores['keel'] / scores[base]:.3f},"
                f" USD on these types {typed['keel'] / max(typed[base], 1e-9):.3f}"
            )


def openb_cluster() -> list[replay.Pool]:
    """The 2023 trace's GPU nodes as owned pools, one per GPU model and node size."""
    import csv
    from collections import Counter

    with (GPU_2023.parent / "openb_node_list_gpu_node.csv").open() as handle:
        shapes = Counter((row["model"], int(row["gpu"])) for row in csv.DictReader(handle))
    return [
        replay.Pool(
            name=f"openb/{model}x{size}", site="openb", accelerator=model, owned=True,
            devices=count * size, reserved=0, usd_per_device_h=1.0,
            reserved_usd_per_device_h=1.0, spot_usd_per_device_h=1.0, kwh_per_device_h=0.0,
            kgco2e_per_kwh=0.0, node_devices=size,
        )
        for (model, size), count in sorted(shapes.items())
    ]  # fmt: skip


def part_three() -> None:
    print("\n3. fragmentation: GPU 2023 pods on the trace's own cluster, arrivals inflated")
    pools = openb_cluster()
    total = sum(p.devices for p in pools)
    pods = demand.read_trace(GPU_2023, "alibaba-gpu-2023")
    cls = replay.ClassModel(
        "pods", np.ones(len(pools)), service=True, interruptible=False, utilisation=1.0,
        wait_target_s=0.0,
    )  # fmt: skip
    print(
        f"   {total:,} GPUs on {len(pools)} node shapes; {len(pods.devices):,} pods, sampled with"
        " replacement until they ask for 130% of the GPUs; none leaves"
    )
    print(f"   {'seed':>4} {'packing':>8} {'placed':>7} {'allocated':>9} {'unallocated GPUs':>16}")
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        picks = rng.integers(0, len(pods.devices), 3 * total)
        asked = np.cumsum(pods.devices[picks])
        picks = picks[: int(np.searchsorted(asked, 1.3 * total)) + 1]
        n = len(picks)
        usages = (
            np.zeros(n, dtype=np.int64), pods.devices[picks].astype(np.float64),
            np.arange(n, dtype=np.float64), np.full(n, 1e9),
        )  # fmt: skip
        for packing in ("best", "first"):
            found = replay.replay(pools, [cls], usages, replay.Settings(tick_s=1, packing=packing))
            _pool, devices, start, _end = found.segments
            placed = start < 1e8  # started before anything left: the cluster as it filled
            allocated = float(devices[placed].sum())
            print(
                f"   {seed:>4} {packing:>8} {int(placed.sum()):>7,} {allocated / total:>8.1%}"
                f" {total - allocated:>16,.0f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workspace = demo_workspace(Path(folder))
        part_one(workspace, baseline=not args.skip_baseline)
        part_two(workspace)
        part_three()
        workspace.close()


if __name__ == "__main__":
    main()
