"""Benchmark: ``keel plan`` end to end on a 10,000-workload, 1,000-pool estate, phase by phase.

The estate is ``bench/apply.py``'s generator at 250 sites x 4 pools, 2,000 datasets and
10,000 workloads (batch jobs; accelerator, count and hours cycle), applied to a fresh SQLite
workspace. The plan then runs in a child process (so its peak memory is the plan's alone), with
a progress reporter that times every step the service reports: loading the estate, the
compliance decisions, compiling, solving, explaining, the baselines, and the commit with its
ledger entries. The solver alone (``solve_fast`` on the compiled problem) is the baseline:
the ratio says what the plan costs beyond the solve.

Targets (issue 17): end to end under 20 s, peak memory under 1 GB.

Usage::

    python bench/plan_e2e.py [--workloads 10000] [--sites 250]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from apply import SYSTEM, generate
from keel import progress
from keel.service import Workspace, apply_manifests
from keel.service.operations import LocalOperations


class Timer:
    """A progress reporter that keeps each step's wall time and the peak memory after it."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float, float]] = []
        self._name = ""
        self._started = 0.0

    def start(self, name: str, total: int | None) -> None:
        """A step begins."""
        self._name, self._started = name, time.perf_counter()

    def advance(self, items: int) -> None:
        """Items are not timed."""

    def finish(self) -> None:
        """The step ends: keep its time."""
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.steps.append((self._name, time.perf_counter() - self._started, peak_mb))


def child(folder: Path) -> None:
    """Plan the applied workspace, print the phases, the solve alone and the peak memory."""
    from keel.placement.solver import solve_fast
    from keel.service import planning

    workspace = Workspace.open(folder)
    timer = Timer()
    started = time.perf_counter()
    with progress.reporting(timer):
        plan = LocalOperations(workspace, actor=SYSTEM).plan(commit="always")
    total_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = planning.compute_plan(workspace)
    solve_started = time.perf_counter()
    solve_fast(result.problem)
    solve_s = time.perf_counter() - solve_started
    print(
        json.dumps(
            {
                "total_s": total_s,
                "peak_mb": peak_mb,
                "steps": timer.steps,
                "solve_alone_s": solve_s,
                "placed": plan.placed_replicas,
                "gap": plan.gap,
                "bound_method": plan.bound_method,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=10_000)
    parser.add_argument("--sites", type=int, default=250)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "estate"
        generate(folder, args.sites, max(4, args.workloads // 5), args.workloads)
        print(
            f"applying {args.workloads:,} workloads over {args.sites * 4:,} pools ...",
            file=sys.stderr,
        )
        workspace = Workspace.open(Path(tmp))
        apply_manifests(workspace, [str(folder)], actor=SYSTEM)
        workspace.close()
        print("planning in a child process ...", file=sys.stderr)
        done = subprocess.run(
            [sys.executable, __file__, "--child", tmp], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.exit(done.stderr)
        row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{'step':<60} {'s':>7} {'peak MB after':>13}")
    for name, seconds, peak_mb in row["steps"]:
        print(f"{name:<60} {seconds:>7.2f} {peak_mb:>13,.0f}")
    print(
        f"\nend to end: {row['total_s']:.1f} s (target < 20 s), peak memory"
        f" {row['peak_mb']:,.0f} MB (target < 1,024 MB); the solver alone"
        f" {row['solve_alone_s']:.1f} s ({row['total_s'] / row['solve_alone_s']:.1f}x)"
    )
    print(f"placed {row['placed']:,} replicas; gap {row['gap']} ({row['bound_method']})")


if __name__ == "__main__":
    main()
