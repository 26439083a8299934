"""One contract every runtime adapter passes, against a real engine: local processes, a Slurm
cluster (slurmctld + slurmd started by scripts/slurm.sh) and a Ray cluster of three nodes
(scripts/ray.sh), each node holding one site's resource.

Kubernetes cannot run here (no API server); its adapter is tested on generated objects in
tests/unit/test_kubernetes_runtime.py.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keel.errors import EngineError
from keel.runtimes.base import NAME_PREFIX, TERMINAL, JobRequest, JobStatus, Runtime, job_name
from keel.runtimes.local import LocalRuntime

IN_CI = os.environ.get("CI") == "true"
SLURM_CONF = os.environ.get("KEEL_TEST_SLURM_CONF")
RAY_ADDRESS = os.environ.get("KEEL_TEST_RAY_ADDRESS")


def _need(value: str | None, what: str) -> str:
    if value:
        return value
    if IN_CI:
        pytest.fail(f"CI=true but {what} is not set: the engine is required")
    pytest.skip(f"{what} not set")


class Engine:
    """A runtime with the two sites it can place on (their queues on the engine)."""

    def __init__(self, runtime: Runtime, queues: tuple[str, str]) -> None:
        self.runtime = runtime
        self.queues = queues


def _local(tmp: Path) -> Engine:
    return Engine(LocalRuntime("here", tmp / "runs"), ("site-a", "site-b"))


def _slurm(tmp: Path) -> Engine:
    from keel.runtimes.slurm import SlurmRuntime

    conf = _need(SLURM_CONF, "KEEL_TEST_SLURM_CONF")
    runtime = SlurmRuntime("hpc", conf=conf, log_dir=tmp / "slurm", request_devices=False)
    return Engine(runtime, ("keel-a", "keel-b"))


def _ray(tmp: Path) -> Engine:
    pytest.importorskip("ray") if not IN_CI else None
    from keel.runtimes.ray import RayRuntime

    address = _need(RAY_ADDRESS, "KEEL_TEST_RAY_ADDRESS")
    runtime = RayRuntime("ray", address=address, token=None, request_devices=False)
    return Engine(runtime, ("site:ray-b", "site:ray-c"))


@pytest.fixture(params=[_local, _slurm, _ray], ids=["local", "slurm", "ray"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    made: Callable[[Path], Engine] = request.param
    found = made(tmp_path)
    yield found
    found.runtime.close()


def _job(queue: str, command: tuple[str, ...], *, tag: str = "") -> JobRequest:
    key = uuid.uuid4().hex
    return JobRequest(
        name=job_name(f"contract-{tag}", key, 1),
        workload=f"contract-{tag}",
        replica=0,
        site=queue,
        pool="gpu",
        queue=queue,
        devices=1,
        accelerator="L4",
        command=command,
        env={"KEEL_MESSAGE": "hello from keel", "KEEL_SITE": queue},
    )


def _wait(runtime: Runtime, name: str, until: Callable[[JobStatus], bool], timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = runtime.jobs().get(name)
        if last is not None and until(last):
            return last
        time.sleep(0.3)
    raise AssertionError(f"{name} did not get there in {timeout_s} s: {last}")


def test_a_job_runs_to_completion_with_its_environment_and_output(engine: Engine) -> None:
    job = _job(engine.queues[0], ("sh", "-c", 'echo "$KEEL_MESSAGE"'), tag="ok")
    first = engine.runtime.submit(job)
    assert first.name == job.name and first.state in ("pending", "running", "succeeded")
    done = _wait(engine.runtime, job.name, lambda s: s.state in TERMINAL)
    assert done.state == "succeeded"
    assert done.exit_code == 0
    assert done.started_at is not None and done.finished_at is not None
    assert done.finished_at >= done.started_at
    assert "hello from keel" in engine.runtime.logs(job.name)


def test_a_failing_command_reports_failed_with_its_exit_status(engine: Engine) -> None:
    job = _job(engine.queues[0], ("sh", "-c", "echo doomed; exit 3"), tag="fail")
    engine.runtime.submit(job)
    done = _wait(engine.runtime, job.name, lambda s: s.state in TERMINAL)
    assert done.state == "failed"
    assert done.exit_code in (3, None)  # Ray reports the driver's exit code where it can
    assert "doomed" in engine.runtime.logs(job.name)


def test_submitting_a_known_name_again_does_not_run_it_twice(engine: Engine) -> None:
    job = _job(engine.queues[0], ("sh", "-c", "echo once"), tag="twice")
    first = engine.runtime.submit(job)
    second = engine.runtime.submit(job)
    assert second.engine_id == first.engine_id
    _wait(engine.runtime, job.name, lambda s: s.state in TERMINAL)
    printed = [line for line in engine.runtime.logs(job.name).splitlines() if line == "once"]
    assert len(printed) == 1
    assert list(engine.runtime.jobs()).count(job.name) == 1


def test_each_job_lands_where_its_queue_points(engine: Engine) -> None:
    jobs = [
        _job(q, ("sh", "-c", "echo placed"), tag=f"where{i}") for i, q in enumerate(engine.queues)
    ]
    for job in jobs:
        engine.runtime.submit(job)
    for job in jobs:
        done = _wait(engine.runtime, job.name, lambda s: s.state in TERMINAL)
        assert done.state == "succeeded"
        assert done.where == job.queue, f"{job.name} ran at {done.where}, placed at {job.queue}"


def test_a_cancelled_job_stops_and_says_so(engine: Engine) -> None:
    job = _job(engine.queues[1], ("sh", "-c", "sleep 120"), tag="cancel")
    engine.runtime.submit(job)
    _wait(engine.runtime, job.name, lambda s: s.state == "running")
    engine.runtime.cancel(job.name)
    done = _wait(engine.runtime, job.name, lambda s: s.state in TERMINAL, timeout_s=30)
    assert done.state == "cancelled"
    engine.runtime.cancel(job.name)  # cancelling a finished job is not an error


def test_only_keel_jobs_are_listed_and_unknown_names_have_no_logs(engine: Engine) -> None:
    assert all(name.startswith(NAME_PREFIX) for name in engine.runtime.jobs())
    with pytest.raises(EngineError) as caught:
        engine.runtime.logs(f"{NAME_PREFIX}never-submitted-0000000000-a1")
    assert not caught.value.unreachable


def test_an_engine_that_cannot_be_reached_raises_unreachable(tmp_path: Path) -> None:
    from keel.runtimes.ray import RayRuntime
    from keel.runtimes.slurm import SlurmRuntime

    broken_conf = tmp_path / "slurm.conf"
    broken_conf.write_text(
        "ClusterName=nowhere\nSlurmctldHost=localhost\nSlurmctldPort=1\nAuthType=auth/munge\n"
        "NodeName=localhost CPUs=1\nPartitionName=p Nodes=localhost\n"
    )
    runtimes: list[Runtime] = [
        SlurmRuntime("gone", conf=str(broken_conf), log_dir=tmp_path, request_devices=False),
    ]
    try:
        import ray  # noqa: F401

        runtimes.append(RayRuntime("gone", address="http://127.0.0.1:1", token=None))
    except ImportError:
        pass
    for runtime in runtimes:
        with pytest.raises(EngineError) as caught:
            runtime.jobs()
        assert caught.value.unreachable, caught.value.message
        assert caught.value.cluster == "gone"
