"""How a cycle folds an engine's report into a stored run."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from keel.estate.estate import Estate
from keel.runtimes.base import JobStatus
from keel.service.dispatch import observe
from keel.store.runs import StoredRun

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NO_ESTATE = cast(Estate, SimpleNamespace(sites={}, workloads=dict))


def _run(**changes: Any) -> StoredRun:
    run = StoredRun(
        key="k",
        name="keel-job-k-1",
        plan_id=1,
        decision_index=7,
        workload="job",
        replica=1,
        digest="d",
        site="s",
        pool="p",
        cluster="c",
        engine="local",
        service=False,
        wanted=True,
        state="submitting",
        attempt=1,
        message="",
        created_at=T0,
        updated_at=T0,
    )
    return replace(run, **changes)


def test_a_job_first_seen_finished_records_submitted_started_and_finished() -> None:
    status = JobStatus(
        "keel-job-k-1",
        "42",
        "succeeded",
        exit_code=0,
        started_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=4),
    )
    updated, entries = observe(_run(), status, NO_ESTATE, T0 + timedelta(seconds=10))
    assert [e["type"] for e in entries] == ["run.submitted", "run.started", "run.finished"]
    assert updated.duration_s == 3.0
    assert {e["decision"] for e in entries} == {7}


def test_the_engines_start_time_beats_the_cycle_that_first_saw_the_job_running() -> None:
    # A cycle saw the job running at T0 + 5 s without a start time, so it noted its own time;
    # the job had started at T0 + 1 s and, by its report, finished at T0 + 4.5 s (its runner
    # had not exited yet). The duration must be the engine's 3.5 s, not 0.
    seen = _run(state="running", submitted_at=T0, started_at=T0 + timedelta(seconds=5))
    status = JobStatus(
        "keel-job-k-1",
        "42",
        "succeeded",
        exit_code=0,
        started_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=4.5),
    )
    updated, entries = observe(seen, status, NO_ESTATE, T0 + timedelta(seconds=6))
    assert [e["type"] for e in entries] == ["run.finished"]
    assert updated.started_at == T0 + timedelta(seconds=1)
    assert updated.duration_s == 3.5
    assert entries[0]["duration_s"] == 3.5


def test_a_steady_running_job_makes_no_entries() -> None:
    seen = _run(state="running", submitted_at=T0, started_at=T0)
    status = JobStatus("keel-job-k-1", "42", "running", started_at=T0)
    updated, entries = observe(seen, status, NO_ESTATE, T0 + timedelta(seconds=6))
    assert entries == [] and updated is seen
