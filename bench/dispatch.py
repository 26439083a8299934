"""Benchmark: dispatch overhead on Ray, an outage on the local runtime, the reconcile loop's cost.

Three measurements, each against a named baseline in the same run:

1. **Ray, per job** (needs a Ray cluster: ``--ray-address`` or ``KEEL_TEST_RAY_ADDRESS``, as
   ``scripts/ray.sh`` starts): Keel's adapter (``RayRuntime.submit``) and a whole dispatch
   cycle (plan read, runs stored, jobs submitted, ledger entries), per job, against Ray's own
   ``JobSubmissionClient.submit_job`` called directly. Target (issue 15): at most 1.5x.
2. **Outage on the local runtime**: ``--services`` services run as local processes on two
   sites; the site most of them are on goes down; the time from the applied outage (re-plan,
   commit, dispatch cycles) until every affected service runs elsewhere, against the time the
   same machine takes to start that many processes (the engine's own floor: the local engine's
   runner is one Python process per job).
3. **Reconcile cost**: CPU seconds of one steady-state cycle (every run already where the plan
   wants it) with 100, 1,000 and 10,000 runs, on an in-memory engine (no process to start, so
   only Keel's own cost is measured), and how it grows against linear.

Usage::

    python bench/dispatch.py [--services 1000] [--ray-jobs 30] [--sizes 100,1000,10000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from dispatch_estate import cluster, workload, write
from keel.runtimes.base import Capabilities, JobRequest, JobStatus, Runtime
from keel.service import Actor, Workspace, apply_manifests, planning
from keel.service import dispatch as dispatching

ACTOR = Actor.system("bench")


def _workspace(
    root: Path, *docs: dict[str, object], down: str | None = None, devices: int = 64
) -> Workspace:
    write(root / "estate", *docs, down=down, devices=devices)
    ws = Workspace.open(root, database_url=f"sqlite:///{root / 'keel.db'}")
    apply_manifests(ws, [str(root / "estate")], actor=ACTOR)
    planning.commit_plan(ws, planning.compute_plan(ws), actor=ACTOR)
    return ws


def _replan(
    ws: Workspace, root: Path, *docs: dict[str, object], down: str | None, devices: int
) -> None:
    write(root / "estate", *docs, down=down, devices=devices)
    apply_manifests(ws, [str(root / "estate")], actor=ACTOR)
    planning.commit_plan(ws, planning.compute_plan(ws, replan=True), actor=ACTOR)


# -- 1. Ray ---------------------------------------------------------------------------------
def _direct(client: object, jobs: int) -> list[float]:
    times = []
    for _ in range(jobs):
        start = time.perf_counter()
        client.submit_job(  # type: ignore[attr-defined]
            entrypoint="true",
            submission_id=f"bench-{uuid.uuid4().hex[:12]}",
            entrypoint_resources={"site:ray-b": 1},
            entrypoint_num_cpus=0,
        )
        times.append(time.perf_counter() - start)
    return times


def _cycle(address: str, jobs: int) -> float:
    """Seconds of one dispatch cycle that submits ``jobs`` jobs to Ray."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = cluster("ray", address=address, request_devices=False)
        engine["spec"]["sites"] = [  # type: ignore[index]
            {"site": "dc-a", "queue": "site:ray-b"},
            {"site": "dc-b", "queue": "site:ray-c"},
        ]
        docs = [engine, workload(f"bench-{uuid.uuid4().hex[:6]}", ["true"], replicas=jobs)]
        ws = _workspace(Path(tmp), *docs)
        try:
            start = time.perf_counter()
            done = dispatching.dispatch(ws, actor=ACTOR)
            took = time.perf_counter() - start
            assert sum(a.action == "submit" for a in done.actions) == jobs, done.actions
        finally:
            ws.close()
    return took


def bench_ray(address: str, jobs: int) -> dict[str, float]:
    """Per job: Ray's submit_job, Keel's adapter, and a dispatch cycle's marginal cost."""
    from ray.job_submission import JobSubmissionClient

    from keel.runtimes.ray import RayRuntime

    client = JobSubmissionClient(address)
    runtime = RayRuntime("ray", address=address, token=None, request_devices=False)
    runtime._connect()  # Ray's import and version check, once per process as in --watch
    direct, adapter, small, large = [], [], [], []
    for _ in range(3):  # interleaved: Ray slows as its job table grows; each side sees that
        direct += _direct(client, jobs)
        for i in range(jobs):
            job = JobRequest(
                name=f"keel-bench-{uuid.uuid4().hex[:10]}-a1", workload="bench", replica=i,
                site="dc-a", pool="gpu", queue="site:ray-b", devices=1, accelerator="L40S",
                command=("true",),
            )  # fmt: skip
            start = time.perf_counter()
            runtime.submit(job)
            adapter.append(time.perf_counter() - start)
        small.append(_cycle(address, jobs // 3))
        large.append(_cycle(address, jobs))
    base = statistics.median(direct)
    marginal = (statistics.median(large) - statistics.median(small)) / (jobs - jobs // 3)
    fixed = statistics.median(large) - jobs * marginal
    return {
        "jobs": jobs,
        "ray_submit_job_ms": base * 1000,
        "keel_adapter_ms": statistics.median(adapter) * 1000,
        "keel_cycle_marginal_per_job_ms": marginal * 1000,
        "keel_cycle_fixed_ms": fixed * 1000,
        "keel_cycle_per_job_ms": statistics.median(large) / jobs * 1000,
        "adapter_ratio": statistics.median(adapter) / base,
        "cycle_marginal_ratio": marginal / base,
        "cycle_ratio": statistics.median(large) / jobs / base,
    }


# -- 2. Outage on the local runtime -----------------------------------------------------------
def _processes_floor(count: int) -> float:
    """Seconds to start ``count`` Python processes that sleep, and see them all started."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    f"open({tmp!r} + '/{i}', 'w'); import time; time.sleep(600)",
                ],
                start_new_session=True,
            )
            for i in range(count)
        ]
        while len(os.listdir(tmp)) < count:
            time.sleep(0.01)
        took = time.perf_counter() - start
        for proc in procs:
            proc.kill()
            proc.wait()
    return took


def bench_outage(services: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        docs = [
            cluster(),
            *(
                workload(f"svc-{i}", ["sleep", "3600"], kind="online_inference")
                for i in range(services)
            ),
        ]
        ws = _workspace(root, *docs, devices=services)
        try:
            start = time.perf_counter()
            done = dispatching.dispatch(ws, actor=ACTOR)
            while done.states.get("running", 0) < services:
                time.sleep(0.2)
                done = dispatching.dispatch(ws, actor=ACTOR)
            started_s = time.perf_counter() - start
            by_site: dict[str, int] = {}
            for run in dispatching.list_runs(ws).runs:
                by_site[run.site] = by_site.get(run.site, 0) + 1
            down = max(by_site, key=lambda s: by_site[s])
            affected = by_site[down]
            start = time.perf_counter()
            _replan(ws, root, *docs, down=down, devices=services)
            replanned_s = time.perf_counter() - start
            cycles = []
            while True:
                cpu = time.process_time()
                done = dispatching.dispatch(ws, actor=ACTOR)
                cycles.append(time.process_time() - cpu)
                runs = dispatching.list_runs(ws).runs
                if all(r.site != down and r.state == "running" for r in runs):
                    break
                time.sleep(0.2)
            moved_s = time.perf_counter() - start
        finally:
            dispatching.cancel(ws, None, actor=ACTOR)
            ws.close()
    floor = _processes_floor(affected)
    return {
        "services": services,
        "affected": affected,
        "start_all_s": started_s,
        "replan_s": replanned_s,
        "outage_to_all_running_s": moved_s,
        "cycles": len(cycles),
        "cycle_cpu_s_max": max(cycles),
        "floor_start_processes_s": floor,
        "ratio_to_floor": moved_s / floor,
    }


# -- 3. Reconcile cost ----------------------------------------------------------------------
class MemoryEngine(Runtime):
    """An engine that runs every job the moment it is submitted (no process): Keel's cost only."""

    type = "memory"
    capabilities = Capabilities(
        enforces_devices=False, logs=False, measures_energy=False, containers=False
    )

    def __init__(self) -> None:
        super().__init__("local-engine")
        self.known: dict[str, JobStatus] = {}

    def submit(self, job: JobRequest) -> JobStatus:  # noqa: D102
        now = datetime.now(UTC)
        return self.known.setdefault(
            job.name, JobStatus(job.name, job.name, "running", started_at=now, where=job.queue)
        )

    def jobs(self) -> dict[str, JobStatus]:  # noqa: D102
        return dict(self.known)

    def cancel(self, name: str) -> None:  # noqa: D102
        self.known.pop(name, None)

    def logs(self, name: str, *, max_bytes: int = 65_536) -> str:  # noqa: D102
        return ""


def bench_reconcile(sizes: list[int]) -> list[dict[str, float]]:
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            docs = [
                cluster(),
                workload("fleet", ["sleep", "3600"], kind="online_inference", replicas=size),
            ]
            ws = _workspace(Path(tmp), *docs, devices=size)
            engine = MemoryEngine()
            try:
                start = time.perf_counter()
                dispatching.dispatch(ws, actor=ACTOR, runtimes={"local-engine": engine})
                first_s = time.perf_counter() - start
                dispatching.dispatch(ws, actor=ACTOR, runtimes={"local-engine": engine})
                cpu = []
                for _ in range(3):
                    t = time.process_time()
                    done = dispatching.dispatch(ws, actor=ACTOR, runtimes={"local-engine": engine})
                    cpu.append(time.process_time() - t)
                assert done.actions == [], done.actions
                assert done.states == {"running": size}, done.states
            finally:
                ws.close()
        rows.append({"runs": size, "first_cycle_s": first_s, "steady_cycle_cpu_s": min(cpu)})
    base = rows[0]
    for row in rows:
        row["per_run_us"] = row["steady_cycle_cpu_s"] / row["runs"] * 1e6
        row["growth_vs_linear"] = (row["steady_cycle_cpu_s"] / base["steady_cycle_cpu_s"]) / (
            row["runs"] / base["runs"]
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--ray-jobs", type=int, default=30)
    parser.add_argument("--ray-address", default=os.environ.get("KEEL_TEST_RAY_ADDRESS"))
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--only", choices=("ray", "reconcile", "outage"), action="append")
    args = parser.parse_args()
    only = set(args.only or ("ray", "reconcile", "outage"))
    os.environ.setdefault("KEEL_PROGRESS", "0")
    results: dict[str, object] = {}
    if "ray" not in only:
        pass
    elif args.ray_address:
        ray = bench_ray(args.ray_address, args.ray_jobs)
        results["ray"] = ray
        print(f"Ray, per job ({ray['jobs']:.0f} jobs a cycle, 3 rounds):")
        print(f"  Ray's submit_job, called directly (baseline)  {ray['ray_submit_job_ms']:6.1f} ms")
        print(
            f"  Keel's Ray adapter                            {ray['keel_adapter_ms']:6.1f} ms"
            f"  {ray['adapter_ratio']:.2f}x"
        )
        print(
            f"  a dispatch cycle, each further job            "
            f"{ray['keel_cycle_marginal_per_job_ms']:6.1f} ms  {ray['cycle_marginal_ratio']:.2f}x"
        )
        print(
            f"  a dispatch cycle, all in, per job             {ray['keel_cycle_per_job_ms']:6.1f} ms"
            f"  {ray['cycle_ratio']:.2f}x (fixed per cycle: {ray['keel_cycle_fixed_ms']:.0f} ms)"
        )
    else:
        print("Ray: skipped (no --ray-address and no KEEL_TEST_RAY_ADDRESS)")
    if "reconcile" in only:
        _print_reconcile(results, [int(s) for s in args.sizes.split(",")])
    if "outage" in only:
        _print_outage(results, args.services)
    out = Path(__file__).with_name("results") / "dispatch.json"
    out.parent.mkdir(exist_ok=True)
    saved = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**saved, **results}, indent=2) + "\n")
    print(f"\nwrote {out}")


def _print_reconcile(results: dict[str, object], sizes: list[int]) -> None:
    reconcile = bench_reconcile(sizes)
    results["reconcile"] = reconcile
    print("\nReconcile, steady state (every run in place), in-memory engine:")
    print(
        f"{'RUNS':>8} {'FIRST CYCLE S':>14} {'CYCLE CPU S':>12} {'PER RUN US':>11} {'VS LINEAR':>10}"
    )
    for row in reconcile:
        print(
            f"{row['runs']:>8,.0f} {row['first_cycle_s']:>14.2f} {row['steady_cycle_cpu_s']:>12.3f}"
            f" {row['per_run_us']:>11.0f} {row['growth_vs_linear']:>9.2f}x"
        )


def _print_outage(results: dict[str, object], services: int) -> None:
    outage = bench_outage(services)
    results["outage"] = outage
    print(
        f"\nOutage, local runtime, {outage['services']:.0f} services:"
        f" {outage['affected']:.0f} on the site that went down;"
        f" re-plan {outage['replan_s']:.1f} s; applied outage to all running elsewhere"
        f" {outage['outage_to_all_running_s']:.1f} s in {outage['cycles']:.0f} cycles"
        f" (max cycle CPU {outage['cycle_cpu_s_max']:.2f} s); starting that many processes"
        f" alone takes {outage['floor_start_processes_s']:.1f} s"
        f" ({outage['ratio_to_floor']:.2f}x that floor)"
    )


if __name__ == "__main__":
    main()
