"""Dispatch end to end on the local runtime (real processes), on SQLite and PostgreSQL: runs,
ledger entries, idempotence, moves after a re-plan, retries, unreachable engines, SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dispatch_estate import cluster, kubeconfig, python, workload, write
from keel import wire
from keel.errors import EngineError
from keel.runtimes.base import JobStatus
from keel.runtimes.local import LocalRuntime
from keel.service import Actor, Workspace, apply_manifests, ledger, outages, planning, readiness
from keel.service import dispatch as dispatching
from keel.service.estate import delete_resource

ADMIN = Actor.system("test")
SLEEPER = python("import time\nwhile True: time.sleep(0.2)")


def _apply_and_plan(
    ws: Workspace, folder: Path, *docs: dict[str, object], down: str | None = None
) -> int:
    write(folder, *docs, down=down)
    apply_manifests(ws, [str(folder)], actor=ADMIN)
    plan_id, _ = planning.commit_plan(ws, planning.compute_plan(ws), actor=ADMIN)
    return plan_id


def _settle(ws: Workspace, *, cycles: int = 120, **kwargs: object) -> wire.Dispatch:
    """Dispatch until no job is waiting (services keep running)."""
    done = dispatching.dispatch(ws, actor=ADMIN, **kwargs)  # type: ignore[arg-type]
    for _ in range(cycles):
        if (
            done.jobs_active == 0
            and "submitting" not in done.states
            and "pending" not in done.states
        ):
            return done
        time.sleep(0.25)
        done = dispatching.dispatch(ws, actor=ADMIN, **kwargs)  # type: ignore[arg-type]
    raise AssertionError(f"did not settle: {done.states}")


def _entries(ws: Workspace, kind: str) -> list[dict]:
    shown = ledger.show(ws, start=0, limit=10_000)
    return [e.entry for e in shown if e.entry.get("type") == kind]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "estate"


def test_jobs_run_once_and_every_transition_names_its_placement_decision(
    workspace: Workspace, folder: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "ran.txt"
    job = workload(
        "scoring",
        python(
            f"import os\nopen({str(marker)!r}, 'a').write(os.environ['KEEL_RUN'] + ' ' + os.environ['KEEL_SITE'] + '\\n')"
        ),
        replicas=3,
    )
    plan_id = _apply_and_plan(workspace, folder, cluster(), job)
    first = dispatching.dispatch(workspace, actor=ADMIN)
    assert [a.action for a in first.actions] == ["submit"] * 3
    done = _settle(workspace)
    assert done.states == {"succeeded": 3}
    again = dispatching.dispatch(workspace, actor=ADMIN)
    assert again.actions == []  # nothing to do: idempotent
    lines = marker.read_text().splitlines()
    assert len(lines) == 3 and len({line.split()[0] for line in lines}) == 3
    runs = dispatching.list_runs(workspace).runs
    decided = {
        e.entry["workload"]: e.index
        for e in ledger.show(workspace, start=0, limit=10_000)
        if e.entry.get("type") == "placement.decided" and e.entry.get("plan_id") == plan_id
    }
    assert {r.decision_index for r in runs} == {decided["scoring"]}
    for kind in ("run.submitted", "run.started", "run.finished"):
        found = _entries(workspace, kind)
        assert len(found) == 3, kind
        assert {e["decision"] for e in found} == {decided["scoring"]}
    finished = _entries(workspace, "run.finished")
    assert {e["status"] for e in finished} == {"succeeded"}
    assert all(e["duration_s"] is not None and e["duration_s"] >= 0 for e in finished)
    for run in runs:
        assert run.energy_kwh is not None and run.energy_kwh > 0
        assert run.energy_source in ("estimated", "rapl", "nvml", "rapl+nvml")
    assert ledger.verify(workspace).size > 0


def test_a_site_going_down_moves_exactly_the_work_that_was_there(
    workspace: Workspace, folder: Path
) -> None:
    services = [
        workload(f"svc-{i}", SLEEPER, kind="online_inference", replicas=1) for i in range(2)
    ]
    job = workload("quick", python("print('done')"))
    docs = [cluster(), *services, job]
    _apply_and_plan(workspace, folder, *docs)
    _settle(workspace)
    before = {r.workload: r for r in dispatching.list_runs(workspace).runs}
    assert {r.state for w, r in before.items() if w.startswith("svc")} == {"running"}
    down = before["svc-0"].site
    moved_services = {w for w, r in before.items() if r.site == down and r.service}
    _apply_and_plan(workspace, folder, *docs, down=down)
    done = dispatching.dispatch(workspace, actor=ADMIN)
    _settle(workspace)
    cancelled = {a.workload for a in done.actions if a.action == "cancel"}
    submitted = {a.workload for a in done.actions if a.action == "submit"}
    assert cancelled == moved_services
    assert submitted == moved_services  # the finished job is not run again, wherever it goes
    after = {r.workload: r for r in dispatching.list_runs(workspace).runs}
    for name in moved_services:
        assert after[name].site != down and after[name].state == "running"
        assert "moved it to" in next(
            e["reason"] for e in _entries(workspace, "run.cancelled") if e["workload"] == name
        )
    for name in set(before) - moved_services:
        assert after[name].name == before[name].name  # untouched
    # Readiness reads the same story from the ledger: the outage, the work it moved, and the
    # moved work running again elsewhere.
    found = readiness.assess(workspace, actor=ADMIN)
    (resumed,) = [
        c for s in found.scores if s.key == "adaptability" for c in s.components
        if c.key == "resumed"
    ]  # fmt: skip
    assert resumed.detail.startswith(f"{len(moved_services)} of {len(moved_services)} moved")
    assert resumed.value is not None and resumed.value > 99  # seconds, not minutes
    assert resumed.gaps == []
    dispatching.cancel(workspace, None, actor=ADMIN)
    assert {r.state for r in dispatching.list_runs(workspace).runs if r.service} == {"cancelled"}


def test_failed_jobs_are_retried_with_backoff_up_to_their_limit(
    workspace: Workspace, folder: Path
) -> None:
    _apply_and_plan(
        workspace, folder, cluster(), workload("flaky", python("raise SystemExit(4)"), retries=2)
    )
    done = _settle(workspace, retry_base_s=0.0)
    for _ in range(40):
        if done.actions == [] and done.states == {"failed": 1}:
            break
        time.sleep(0.25)
        done = dispatching.dispatch(workspace, actor=ADMIN, retry_base_s=0.0)
    [run] = dispatching.list_runs(workspace).runs
    assert run.state == "failed" and run.attempt == 3 and run.exit_code == 4
    assert [e["attempt"] for e in _entries(workspace, "run.submitted")] == [1, 2, 3]


def test_a_retry_waits_for_its_backoff(workspace: Workspace, folder: Path) -> None:
    _apply_and_plan(workspace, folder, cluster(), workload("flaky", python("raise SystemExit(1)")))
    _settle(workspace, retry_base_s=3600.0)
    [run] = dispatching.list_runs(workspace).runs
    assert run.state == "failed" and run.attempt == 1 and run.retry_at is not None
    later = dispatching.dispatch(workspace, actor=ADMIN, retry_base_s=3600.0)
    assert [a.action for a in later.actions] == []


class Partitioned(LocalRuntime):
    """The local engine behind a network partition: it cannot be asked while ``down``."""

    down = False

    def jobs(self) -> dict[str, JobStatus]:
        if self.down:
            raise EngineError("connection refused", cluster=self.cluster)
        return super().jobs()


def test_an_unreachable_engine_makes_runs_unknown_not_failed(
    workspace: Workspace, folder: Path
) -> None:
    _apply_and_plan(workspace, folder, cluster(), workload("svc", SLEEPER, kind="online_inference"))
    engine = Partitioned("local-engine", workspace.settings.state_dir / "runs" / "local-engine")
    _settle(workspace, runtimes={"local-engine": engine})
    engine.down = True
    cut = dispatching.dispatch(workspace, actor=ADMIN, runtimes={"local-engine": engine})
    assert [t.cluster for t in cut.unreachable] == ["local-engine"]
    assert cut.states == {"unknown": 1}
    assert _entries(workspace, "run.finished") == []
    assert _entries(workspace, "site.down") == []  # one failed try is no outage (300 s)
    engine.down = False
    back = dispatching.dispatch(workspace, actor=ADMIN, runtimes={"local-engine": engine})
    assert back.states == {"running": 1} and back.unreachable == []
    dispatching.cancel(workspace, "svc", actor=ADMIN)


def test_an_engine_down_past_the_threshold_moves_its_sites_work_and_back_is_recorded(
    workspace: Workspace, folder: Path
) -> None:
    """A site reported down by its engine triggers a re-plan (issue 21, part 4)."""
    workspace.settings = replace(workspace.settings, site_down_after_s=0)
    engines = []
    for site in ("dc-a", "dc-b"):
        found = cluster()
        found["name"] = f"engine-{site}"
        found["spec"]["sites"] = [{"site": site}]  # type: ignore[index]
        engines.append(found)
    _apply_and_plan(workspace, folder, *engines, workload("svc", SLEEPER, kind="online_inference"))
    runtimes = {
        f"engine-{site}": Partitioned(
            f"engine-{site}", workspace.settings.state_dir / "runs" / f"engine-{site}"
        )
        for site in ("dc-a", "dc-b")
    }
    first = _settle(workspace, runtimes=runtimes)
    (before,) = [r for r in dispatching.list_runs(workspace).runs if r.state == "running"]
    assert first.states == {"running": 1}
    here, there = before.site, "dc-b" if before.site == "dc-a" else "dc-a"
    runtimes[f"engine-{here}"].down = True  # type: ignore[attr-defined]
    cut = dispatching.dispatch(workspace, actor=ADMIN, runtimes=runtimes)
    (trouble,) = cut.unreachable
    assert trouble.cluster == f"engine-{here}" and trouble.sites_down == [here]
    (down,) = _entries(workspace, "site.down")
    assert down["cluster"] == f"engine-{here}" and down["sites"] == [here]
    assert "connection refused" in down["message"]
    plan = planning.latest(workspace)
    assert [p.site for p in plan.placements if p.workload == "svc"] == [there]
    moved = _settle(workspace, runtimes=runtimes)
    assert [r.site for r in dispatching.list_runs(workspace).runs if r.state == "running"] == [
        there
    ]
    assert moved.states.get("running") == 1
    # Every later plan keeps the site out until its engine answers.
    again = planning.compute_plan(workspace)
    assert [p.site for p in again.plan.placements if p.workload == "svc"] == [there]
    runtimes[f"engine-{here}"].down = False  # type: ignore[attr-defined]
    dispatching.dispatch(workspace, actor=ADMIN, runtimes=runtimes)
    (up,) = _entries(workspace, "site.up")
    assert up["cluster"] == f"engine-{here}" and up["sites"] == [here]
    assert dispatching.dispatch(workspace, actor=ADMIN, runtimes=runtimes).unreachable == []
    assert _entries(workspace, "site.down") == [down]  # declared once
    dispatching.cancel(workspace, None, actor=ADMIN)


def test_an_outage_ends_when_its_cluster_is_deleted(workspace: Workspace, folder: Path) -> None:
    """Else the sites of a deleted Cluster would stay down for every later plan."""
    workspace.settings = replace(workspace.settings, site_down_after_s=0)
    engine = cluster()
    engine["spec"]["sites"] = [{"site": "dc-a"}]  # type: ignore[index]
    _apply_and_plan(workspace, folder, engine, workload("job", python("print(1)")))
    runtime = Partitioned("local-engine", workspace.settings.state_dir / "runs" / "local-engine")
    runtime.down = True
    dispatching.dispatch(workspace, actor=ADMIN, runtimes={"local-engine": runtime})
    assert outages.known(workspace)["local-engine"].sites == ("dc-a",)
    delete_resource(workspace, "Cluster", "local-engine", actor=ADMIN)
    dispatching.dispatch(workspace, actor=ADMIN)
    assert outages.known(workspace) == {}
    (up,) = _entries(workspace, "site.up")
    assert up["cluster"] == "local-engine" and up["sites"] == ["dc-a"]
    plan = planning.latest(workspace)
    assert plan is not None and [p.site for p in plan.placements] == ["dc-a"]


def test_a_dry_run_changes_nothing(workspace: Workspace, folder: Path) -> None:
    _apply_and_plan(workspace, folder, cluster(), workload("job", python("print(1)"), replicas=2))
    size = ledger.size(workspace)
    done = dispatching.dispatch(workspace, actor=ADMIN, dry_run=True)
    assert done.dry_run and [a.action for a in done.actions] == ["submit", "submit"]
    assert dispatching.list_runs(workspace, every=True).runs == []
    assert ledger.size(workspace) == size
    assert not (workspace.settings.state_dir / "runs").exists()


def test_work_without_a_run_section_or_a_cluster_is_reported_not_dropped(
    workspace: Workspace, folder: Path
) -> None:
    bare = workload("bare", ["true"])
    del bare["spec"]["run"]  # type: ignore[index]
    partial = cluster()
    partial["spec"]["sites"] = [{"site": "dc-b"}]  # type: ignore[index]
    _apply_and_plan(workspace, folder, partial, bare, workload("job", python("print(1)")))
    done = dispatching.dispatch(workspace, actor=ADMIN, dry_run=True)
    reasons = {(u.workload, u.reason) for u in done.undispatchable}
    assert ("bare", "the workload has no run section") in reasons
    placed_at_a = [u for u in done.undispatchable if u.site == "dc-a"]
    assert all(
        "no Cluster serves site dc-a" in u.reason or u.workload == "bare" for u in placed_at_a
    )
    job_runs = [a.site for a in done.actions if a.workload == "job"]
    assert ("job", "no Cluster serves site dc-a") in reasons or job_runs == ["dc-b"]


def test_a_keel_killed_mid_dispatch_never_runs_a_job_twice(tmp_path: Path) -> None:
    folder = tmp_path / "estate"
    marker = tmp_path / "ran.txt"
    replicas = 40
    job = workload(
        "many",
        python(f"import os\nopen({str(marker)!r}, 'a').write(os.environ['KEEL_RUN'] + '\\n')"),
        replicas=replicas,
    )
    url = f"sqlite:///{tmp_path / 'keel.db'}"
    ws = Workspace.open(tmp_path, database_url=url)
    try:
        _apply_and_plan(ws, folder, cluster(), job)
    finally:
        ws.close()
    runs_dir = tmp_path / ".keel" / "runs" / "local-engine"
    env = {**os.environ, "KEEL_PROGRESS": "0", "KEEL_DATABASE_URL": url, "KEEL_PRINCIPAL": ""}
    keel = [str(Path(sys.executable).parent / "keel")]
    victim = subprocess.Popen([*keel, "--workspace", str(tmp_path), "dispatch"], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if runs_dir.is_dir() and sum(1 for _ in runs_dir.iterdir()) >= 3:
            break
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    started_before = sum(1 for _ in runs_dir.iterdir())
    ws = Workspace.open(tmp_path, database_url=url)
    try:
        _settle(ws)
        runs = dispatching.list_runs(ws).runs
    finally:
        ws.close()
    assert len(runs) == replicas and {r.state for r in runs} == {"succeeded"}
    lines = marker.read_text().splitlines()
    assert len(lines) == replicas, f"{len(lines)} runs for {replicas} replicas"
    assert len(set(lines)) == replicas
    assert 3 <= started_before < replicas  # killed in the middle of submitting
    assert json.loads((runs_dir / lines[0] / "job.json").read_text())["name"] == lines[0]


def test_two_runners_of_one_local_job_run_it_once(tmp_path: Path) -> None:
    from keel.runtimes.base import JobRequest

    marker = tmp_path / "ran.txt"
    engine = LocalRuntime("here", tmp_path / "runs")
    job = JobRequest(
        name="keel-race-0000000000-a1", workload="race", replica=0, site="a", pool="p",
        queue="a", devices=1, accelerator="L4",
        command=tuple(python(f"open({str(marker)!r}, 'a').write('x')")),
    )  # fmt: skip
    engine.submit(job)
    folder = tmp_path / "runs" / job.name
    racers = [
        subprocess.Popen([sys.executable, "-m", "keel.runtimes.local_job", str(folder)])
        for _ in range(3)
    ]
    for racer in racers:
        racer.wait()
    deadline = time.monotonic() + 20
    while engine.jobs()[job.name].state != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.read_text() == "x"


def test_measured_durations_replace_declared_hours_from_the_third_run_on(
    workspace: Workspace, folder: Path
) -> None:
    code = python("import time; time.sleep(0.2)")
    _apply_and_plan(workspace, folder, cluster(), workload("short", code, replicas=2))
    _settle(workspace)
    assert planning.compute_plan(workspace).measured_hours == {}  # two runs are not enough
    declared = planning.report(planning.compute_plan(workspace))
    assert declared.measured_hours is None
    _apply_and_plan(workspace, folder, cluster(), workload("short", code, replicas=3))
    third = dispatching.dispatch(workspace, actor=ADMIN)
    assert [a.action for a in third.actions] == ["submit"]  # one more replica, none restarted
    _settle(workspace)
    durations = sorted(
        r.duration_s for r in dispatching.list_runs(workspace).runs if r.duration_s is not None
    )
    assert len(durations) == 3
    measured = planning.compute_plan(workspace)
    hours = measured.measured_hours["short"]
    assert abs(hours * 3600 - durations[1]) < 1e-6  # the median
    shown = planning.report(measured)
    assert shown.measured_hours == {"short": hours}
    assert sum(p.energy_kwh for p in shown.placements) < sum(
        p.energy_kwh for p in declared.placements
    )  # 1 h declared per run, well under a second measured
    planning.commit_plan(workspace, measured, actor=ADMIN)
    assert planning.latest(workspace).measured_hours == {"short": hours}  # type: ignore[union-attr]


def test_a_job_cancelled_as_it_starts_never_keeps_running(tmp_path: Path) -> None:
    from keel.runtimes.base import JobRequest

    marker = tmp_path / "ran.txt"
    engine = LocalRuntime("here", tmp_path / "runs")
    names = []
    for i in range(8):
        job = JobRequest(
            name=f"keel-cancel-{i:010d}-a1", workload="cancel", replica=i, site="a", pool="p",
            queue="a", devices=1, accelerator="L4",
            command=tuple(python(f"import time; time.sleep(1); open({str(marker)!r}, 'a').write('x')")),
        )  # fmt: skip
        engine.submit(job)
        time.sleep(0.01 * i)  # cancels land before, while and after the runner starts
        engine.cancel(job.name)
        names.append(job.name)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        states = {engine.jobs()[n].state for n in names}
        if states == {"cancelled"}:
            break
        time.sleep(0.1)
    assert states == {"cancelled"}
    time.sleep(1.2)
    assert not marker.exists()  # every command was stopped, none ran to its end


def test_a_job_a_horizon_plan_starts_later_waits_for_its_start(
    workspace: Workspace, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from keel.service.timing import HorizonRequest

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    marker = tmp_path / "ran.txt"
    later = workload("later", python(f"open({str(marker)!r}, 'a').write('later\\n')"))
    later["spec"]["window"] = {  # type: ignore[index]
        "earliest_start": (hour + timedelta(hours=3)).isoformat(),
        "deadline": (hour + timedelta(hours=9)).isoformat(),
    }
    now = workload("now", python(f"open({str(marker)!r}, 'a').write('now\\n')"))
    write(folder, cluster(), later, now)
    apply_manifests(workspace, [str(folder)], actor=ADMIN)
    result = planning.compute_plan(workspace, horizon=HorizonRequest(hour, 12))
    planning.commit_plan(workspace, result, actor=ADMIN)
    first = dispatching.dispatch(workspace, actor=ADMIN)
    acted = {a.workload: a for a in first.actions}
    assert acted["now"].action == "submit"
    assert acted["later"].action == "wait"
    start = (hour + timedelta(hours=3)).isoformat().replace("+00:00", "Z")
    assert start in acted["later"].detail
    assert _settle(workspace).states == {"succeeded": 1}
    assert marker.read_text() == "now\n"

    class Later(datetime):  # the clock, past the job's start
        @classmethod
        def now(cls, tz: object = None) -> Later:  # type: ignore[override]
            return cls.fromtimestamp((hour + timedelta(hours=3, minutes=1)).timestamp(), UTC)

    monkeypatch.setattr(dispatching, "datetime", Later)
    second = dispatching.dispatch(workspace, actor=ADMIN)
    assert [(a.workload, a.action) for a in second.actions] == [("later", "submit")]
    assert _settle(workspace).states == {"succeeded": 2}
    assert sorted(marker.read_text().split()) == ["later", "now"]


def _chunked_plan(
    workspace: Workspace,
    folder: Path,
    tmp_path: Path,
    finishes: bool,
    *,
    engine: dict[str, object] | None = None,
    image: str | None = None,
) -> datetime:
    """A committed plan running a 2-hour checkpointing job in two chunks: hours 2 and 6
    (on ``engine``, the local cluster by default)."""
    from keel.energy.providers import Files
    from keel.service.timing import HorizonRequest

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    grid = tmp_path / "grid"
    grid.mkdir()
    values = {2: 10.0, 6: 10.0}
    (grid / "ZZ_test.csv").write_text(
        "time,carbon_location_gco2e_per_kwh\n"
        + "".join(
            f"{(hour + timedelta(hours=h)).isoformat()},{values.get(h, 500.0)}\n" for h in range(12)
        )
    )
    told = tmp_path / "chunk.txt"  # the job writes the chunk it was told it runs
    command = (
        python(
            f"import os, pathlib; pathlib.Path({str(told)!r}).write_text(os.environ['KEEL_CHUNK'])"
        )
        if finishes
        else SLEEPER
    )
    job = workload("ckpt", command, kind="training", image=image)
    job["spec"]["compute"]["hours"] = 2  # type: ignore[index]
    job["spec"]["window"] = {  # type: ignore[index]
        "earliest_start": (hour + timedelta(hours=1)).isoformat(),
        "deadline": (hour + timedelta(hours=12)).isoformat(),
        "interruptible": True,
    }
    path = write(folder, engine or cluster(), job, down="dc-b")
    text = path.read_text()
    path.write_text(text.replace("  country: DE\n", "  country: DE\n  grid_zone: ZZ\n", 1))
    apply_manifests(workspace, [str(folder)], actor=ADMIN)
    result = planning.compute_plan(workspace, horizon=HorizonRequest(hour, 12, source=Files(grid)))
    planning.commit_plan(workspace, result, actor=ADMIN)
    (run,) = planning.plan_data(result)["schedule"]["runs"]
    assert len(run["chunks"]) == 2
    return hour


def _clock(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    """Dispatch's clock, set to ``moment``."""

    class Clock(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Clock:  # type: ignore[override]
            return cls.fromtimestamp(moment.timestamp(), UTC)

    monkeypatch.setattr(dispatching, "datetime", Clock)


@pytest.mark.parametrize("mode", ["chunks", "finishes", "late"])
def test_an_interruptible_job_runs_chunk_by_chunk_and_stops_at_each_chunks_end(
    workspace: Workspace,
    folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
) -> None:
    """Two clean hours apart: a 2-hour checkpointing job is planned in two chunks. Each starts
    at its hour and is stopped at its end; a job that finishes in its first chunk is not run
    again; chunks whose hour passed before any cycle ran are skipped, and said so."""
    finishes = mode == "finishes"
    hour = _chunked_plan(workspace, folder, tmp_path, finishes)

    def at(hours: float) -> None:
        _clock(monkeypatch, hour + timedelta(hours=hours))

    if mode == "late":
        at(7.5)
        missed = dispatching.dispatch(workspace, actor=ADMIN)
        assert [a.action for a in missed.actions] == ["skip", "skip"]
        assert missed.jobs_waiting == 0  # keel dispatch --until-done may stop
        return
    at(1.5)
    held = dispatching.dispatch(workspace, actor=ADMIN)
    assert [a.action for a in held.actions] == ["wait", "wait"] and held.jobs_waiting == 2
    at(2.1)
    first = dispatching.dispatch(workspace, actor=ADMIN)
    assert [(a.action, a.detail[:9]) for a in first.actions if a.action != "wait"] == [
        ("submit", "new: plan")
    ]
    if finishes:
        _settle(workspace)
        assert (tmp_path / "chunk.txt").read_text() == "1/2"  # KEEL_CHUNK
        at(6.1)  # it finished in its first chunk: the second never runs
        later = dispatching.dispatch(workspace, actor=ADMIN)
        assert [a.action for a in later.actions] == []
        return
    time.sleep(1)
    at(3.1)  # the first chunk's hour is over
    stopped = dispatching.dispatch(workspace, actor=ADMIN)
    cancels = [a for a in stopped.actions if a.action == "cancel"]
    assert len(cancels) == 1 and "chunk 1/2 ended" in cancels[0].detail
    assert stopped.jobs_waiting == 1  # the second chunk, until its hour
    at(6.1)
    second = dispatching.dispatch(workspace, actor=ADMIN)
    assert [a.action for a in second.actions if a.action != "update"] == ["submit"]
    at(7.1)
    last = dispatching.dispatch(workspace, actor=ADMIN)
    (ended,) = [a.detail for a in last.actions if a.action == "cancel"]
    assert ended.startswith("its chunk 2/2 ended")
    assert ended.endswith("it was its last: the job did not finish in the hours planned")
    assert last.jobs_waiting == 0
    states = sorted(r.state for r in dispatching.list_runs(workspace, every=True).runs)
    assert states == ["cancelled", "cancelled"]
    entries = _entries(workspace, "run.cancelled")
    assert len(entries) == 2 and all("ended at" in e["reason"] for e in entries)


def test_a_dry_runs_kubernetes_objects_tell_a_chunk_which_it_is(
    workspace: Workspace, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preview builds its Job objects as a dispatch submits them: with KEEL_CHUNK."""
    pytest.importorskip("kubernetes")
    engine = cluster(
        "kubernetes", context="hub", namespace="ml", credentials={"file": str(kubeconfig(tmp_path))}
    )
    hour = _chunked_plan(
        workspace, folder, tmp_path, finishes=False, engine=engine, image="registry.example/t:1"
    )
    _clock(monkeypatch, hour + timedelta(hours=2.1))
    done = dispatching.dispatch(workspace, actor=ADMIN, dry_run=True)
    (job,) = [o for o in done.objects if o["kind"] == "Job"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    told = {e["name"]: e["value"] for e in container["env"]}
    assert told["KEEL_CHUNK"] == "1/2"
