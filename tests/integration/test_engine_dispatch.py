"""Dispatch through real engines: the plan's jobs run on the Slurm partition and the Ray node of
their site, and an engine that refuses a job leaves a run.rejected entry with its reason."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dispatch_estate import cluster, workload, write
from keel import wire
from keel.service import Actor, Workspace, apply_manifests, ledger, planning
from keel.service import dispatch as dispatching

ADMIN = Actor.system("test")
IN_CI = os.environ.get("CI") == "true"


def _need(name: str) -> str:
    value = os.environ.get(name)
    if value:
        return value
    if IN_CI:
        pytest.fail(f"CI=true but {name} is not set: the engine is required")
    pytest.skip(f"{name} not set")


def _run(tmp_path: Path, engine: dict[str, object]) -> tuple[Workspace, wire.Dispatch]:
    folder = tmp_path / "estate"
    jobs = [
        workload("report", ["sh", "-c", 'echo "$KEEL_WORKLOAD at $KEEL_SITE"'], replicas=2),
    ]
    write(folder, engine, *jobs)
    ws = Workspace.open(tmp_path, database_url=f"sqlite:///{tmp_path / 'keel.db'}")
    apply_manifests(ws, [str(folder)], actor=ADMIN)
    planning.commit_plan(ws, planning.compute_plan(ws), actor=ADMIN)
    done = dispatching.dispatch(ws, actor=ADMIN)
    deadline = time.monotonic() + 90
    while done.jobs_active and time.monotonic() < deadline:
        time.sleep(0.5)
        done = dispatching.dispatch(ws, actor=ADMIN)
    return ws, done


def _started(ws: Workspace) -> list[dict]:
    return [
        e.entry
        for e in ledger.show(ws, start=0, limit=10_000)
        if e.entry.get("type") == "run.started"
    ]


def test_slurm_runs_each_job_in_the_partition_of_its_site(tmp_path: Path) -> None:
    conf = _need("KEEL_TEST_SLURM_CONF")
    engine = cluster("slurm", address=conf, request_devices=False)
    engine["spec"]["sites"] = [  # type: ignore[index]
        {"site": "dc-a", "queue": "keel-a"},
        {"site": "dc-b", "queue": "keel-b"},
    ]
    ws, done = _run(tmp_path, engine)
    try:
        assert done.states == {"succeeded": 2}, done
        partitions = {"dc-a": "keel-a", "dc-b": "keel-b"}
        for run in dispatching.list_runs(ws).runs:
            assert run.location == partitions[run.site]
            assert "report at" in dispatching.logs(ws, "report", replica=run.replica)
        assert {e["location"] for e in _started(ws)} <= set(partitions.values())
    finally:
        ws.close()


def test_a_job_slurm_refuses_is_rejected_with_slurms_reason(tmp_path: Path) -> None:
    conf = _need("KEEL_TEST_SLURM_CONF")
    engine = cluster("slurm", address=conf, request_devices=False)
    engine["spec"]["sites"] = [  # type: ignore[index]
        {"site": "dc-a", "queue": "no-such-partition"},
        {"site": "dc-b", "queue": "no-such-partition"},
    ]
    ws, done = _run(tmp_path, engine)
    try:
        assert done.states == {"rejected": 2}
        rejected = [
            e.entry
            for e in ledger.show(ws, start=0, limit=10_000)
            if e.entry.get("type") == "run.rejected"
        ]
        assert len(rejected) == 2
        assert all("invalid partition" in e["reason"].lower() for e in rejected), rejected
        again = dispatching.dispatch(ws, actor=ADMIN)
        assert [a.action for a in again.actions] == []  # a refusal is not retried
    finally:
        ws.close()


def test_ray_runs_each_job_on_the_node_of_its_site(tmp_path: Path) -> None:
    address = _need("KEEL_TEST_RAY_ADDRESS")
    pytest.importorskip("ray")
    engine = cluster("ray", address=address, request_devices=False)
    engine["spec"]["sites"] = [  # type: ignore[index]
        {"site": "dc-a", "queue": "site:ray-b"},
        {"site": "dc-b", "queue": "site:ray-c"},
    ]
    ws, done = _run(tmp_path, engine)
    try:
        assert done.states == {"succeeded": 2}, done
        nodes = {"dc-a": "site:ray-b", "dc-b": "site:ray-c"}
        for run in dispatching.list_runs(ws).runs:
            assert run.location == nodes[run.site], run
            assert run.node
    finally:
        ws.close()
