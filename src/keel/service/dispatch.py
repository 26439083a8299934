"""Dispatch: make the engines run what the latest committed plan says, and record what they do.

One reconcile cycle (:func:`dispatch`):

1. **Want.** Every replica of every placement in the latest committed plan is a run, keyed by
   the ledger's origin (one per workspace), workload, site, pool, its index there and the
   digest of the workload's ``run`` section and devices per replica (:func:`run_digest`). A
   re-plan that leaves a replica where it was keeps its key, so nothing restarts; one that
   moves it makes a new key at the new site, and the old one is no longer wanted. A job replica
   that already succeeded with the same digest is done: moving it does not run it again.
   Placed work with no ``run`` section or no ``Cluster`` serving its site is reported as not
   dispatchable, never dropped silently.
2. **Observe.** Each engine lists the Keel jobs it knows. An engine that cannot be reached
   marks its runs ``unknown`` (not failed) and Keel says so; nothing is done to them.
3. **Converge.** New runs are first stored as ``submitting`` (committed), then submitted under
   their deterministic name, which the adapter checks against the engine first: a Keel killed
   anywhere in between finds the job by name when it restarts and never runs it twice. Runs no
   longer wanted are cancelled. Failed jobs are retried with exponential backoff
   (:data:`RETRY_BASE_S` doubling, at most :data:`RETRY_MAX_S`), up to ``run.max_retries``.
4. **Record.** Every transition is a ledger entry naming the ``placement.decided`` entry it
   carries out: ``run.submitted``, ``run.started``, ``run.finished`` (status, exit code,
   duration, energy measured or estimated), ``run.rejected`` (the engine's reason),
   ``run.cancelled`` (why).

Energy of a finished run is what the engine's meter measured when it has one (the local
runtime reads RAPL and NVML); otherwise it is estimated as devices x pool power x measured
duration x utilisation x PUE, and labelled ``estimated``.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from keel import progress, wire
from keel.errors import DispatchError, EngineError, ForbiddenError, NotFoundError, Problem
from keel.estate import Estate
from keel.estate.digest import canonical_json
from keel.estate.resources import JOB_KINDS, ClusterSpec, WorkloadSpec
from keel.runtimes.base import TERMINAL, JobRequest, JobStatus, Runtime, job_name
from keel.service import conversion, corrections, engines, ledger, outages
from keel.service.actor import Actor
from keel.service.stored import estate_in
from keel.service.workspace import Unit, Workspace
from keel.store.outages import Outage
from keel.store.plans import PlanRepository
from keel.store.runs import RunRepository, StoredRun

RETRY_BASE_S = 5.0
"""The first retry waits this long; each later one twice the one before."""

RETRY_MAX_S = 300.0
"""No retry waits longer."""

MEASURED_MIN_RUNS = 3
"""A job's measured duration replaces its declared ``compute.hours`` from this many runs on."""

MEASURED_LAST_RUNS = 5
"""The measured duration is the median of at most this many latest successful runs."""


@dataclass(frozen=True, slots=True)
class Intent:
    """One replica the plan wants running, or why it cannot be.

    Attributes:
        reason: Empty when dispatchable; otherwise why not (no run section, no cluster).
    """

    key: str
    workload: str
    replica: int
    digest: str
    site: str
    pool: str
    devices: int
    plan_id: int
    decision_index: int | None
    cluster: str | None
    service: bool
    reason: str = ""
    start: datetime | None = None
    stop: datetime | None = None
    chunk: str = ""
    group: str = ""


Spans = list[tuple[datetime, datetime]]


def _starts(plan: wire.Plan) -> dict[tuple[str, str, str], list[tuple[datetime, Spans]]]:
    """The scheduled starts of a plan over a horizon, per workload, site and pool, in order.

    Each comes with its chunks (start, end), for a job planned to run in several.
    """
    found: dict[tuple[str, str, str], list[tuple[datetime, Spans]]] = {}
    for run in plan.schedule.runs if plan.schedule is not None else []:
        if run.start is not None and run.site is not None and run.pool is not None:
            when = datetime.fromisoformat(run.start)
            spans = [
                (datetime.fromisoformat(a), datetime.fromisoformat(b)) for a, b in run.chunks or []
            ]
            found.setdefault((run.workload, run.site, run.pool), []).append((when, spans))
    return {key: sorted(starts) for key, starts in found.items()}


def run_digest(spec: WorkloadSpec, served: str | None = None) -> str:
    """Digest of what a run executes: its ``run`` section, devices, and a rolled-back model.

    It covers the workload's ``run`` section and devices per replica, and the model version
    served when a monitor's rollback serves another than the manifest's.

    Scaling (``replicas``) and the planner's figures (``hours``, ``utilisation``) are not in
    it: adding a replica starts one run and restarts none.

    Args:
        spec: The workload.
        served: The ``model@version`` it serves, if not its manifest's.

    Returns:
        Hex SHA-256; a change to what it covers makes new runs.
    """
    assert spec.run is not None
    covered: list[Any] = [spec.run.model_dump(mode="json"), spec.compute.count]
    if served is not None and served != spec.model:
        covered.append(served)
    return hashlib.sha256(canonical_json(covered).encode()).hexdigest()


def intents(
    estate: Estate,
    plan: wire.Plan,
    decisions: Mapping[str, int],
    origin: str = "",
    models: Mapping[str, str] | None = None,
) -> list[Intent]:
    """Every replica the plan places, as runs to have.

    Args:
        estate: The estate now (clusters, run sections).
        plan: The latest committed plan.
        decisions: Workload -> its ``placement.decided`` ledger index in that plan.
        origin: The ledger's origin (``keel.local/ledger/...``), so that two Keel workspaces
            sharing an engine never take each other's jobs for their own.
        models: Workload -> the model version it serves (a monitor's rollback may have
            changed it).

    Returns:
        One intent per replica, in the plan's order; a job the plan starts later (over a
        horizon) has its ``start``.
    """
    assert plan.plan_id is not None
    workloads = estate.workloads()
    served = engines.clusters_by_site(estate)
    starts = _starts(plan)
    found = []
    for placed in plan.placements:
        spec = workloads.get(placed.workload)
        cluster = served.get(placed.site)
        reason = ""
        if spec is None:
            reason = "the workload was deleted after the plan"
        elif spec.run is None:
            reason = "the workload has no run section"
        elif cluster is None:
            reason = f"no Cluster serves site {placed.site}"
        model = (models or {}).get(placed.workload)
        digest = run_digest(spec, model) if spec is not None and spec.run is not None else ""
        timed = starts.get((placed.workload, placed.site, placed.pool), [])
        for replica in range(placed.replicas):
            key = f"{origin}|{placed.workload}|{placed.site}|{placed.pool}|{replica}|{digest}"
            start, spans = timed[replica] if replica < len(timed) else (None, [])
            one = Intent(
                key="sha256:" + hashlib.sha256(key.encode()).hexdigest(),
                workload=placed.workload,
                replica=replica,
                digest=digest,
                site=placed.site,
                pool=placed.pool,
                devices=placed.devices,
                plan_id=plan.plan_id,
                decision_index=decisions.get(placed.workload),
                cluster=cluster[0] if cluster else None,
                service=spec is not None and spec.kind not in JOB_KINDS,
                reason=reason,
                start=start,
            )
            if not spans:
                found.append(one)
                continue
            for at, (begins, ends) in enumerate(spans):  # one run per chunk, stopped at its end
                chunk = f"{key}|chunk{at + 1}/{len(spans)}"
                found.append(
                    replace(
                        one,
                        key="sha256:" + hashlib.sha256(chunk.encode()).hexdigest(),
                        start=begins,
                        stop=ends,
                        chunk=f"{at + 1}/{len(spans)}",
                        group=one.key,
                    )
                )
    return found


def measured_hours(estate: Estate, runs: Iterable[StoredRun]) -> dict[str, tuple[float, int]]:
    """What measured runs say each job takes, where enough of them did.

    The rule: for a job (training, fine-tuning, batch inference) with a ``run`` section, the
    median duration of its latest :data:`MEASURED_LAST_RUNS` successful runs of the current
    ``run`` and ``compute`` sections, once there are :data:`MEASURED_MIN_RUNS` of them.
    One run is not enough: a cold cache or a busy node would swing the plan.

    Args:
        estate: The estate.
        runs: Stored runs.

    Returns:
        Workload -> (hours per run, how many runs the figure is from).
    """
    durations: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for run in runs:
        seconds = run.duration_s
        if run.state == "succeeded" and not run.service and seconds is not None:
            assert run.finished_at is not None
            durations.setdefault((run.workload, run.digest), []).append((run.finished_at, seconds))
    found: dict[str, tuple[float, int]] = {}
    for name, spec in estate.workloads().items():
        if spec.run is None or spec.kind not in JOB_KINDS:
            continue
        latest = sorted(durations.get((name, run_digest(spec)), []))[-MEASURED_LAST_RUNS:]
        if len(latest) >= MEASURED_MIN_RUNS:
            hours = max(statistics.median(s for _, s in latest) / 3600, 1e-6)
            found[name] = (hours, len(latest))
    return found


def job_request(
    estate: Estate, run: StoredRun, model: str | None = None, chunk: str = ""
) -> JobRequest:
    """What to hand the engine for a run's current attempt.

    Args:
        estate: The estate.
        run: The run.
        model: The model version the workload serves (its manifest's when ``None``).
        chunk: Which chunk of an interruptible job this run is (``1/2``), given to it in
            ``KEEL_CHUNK``; empty for a run at one stretch.

    Returns:
        The job request, with the placement's facts in ``KEEL_*`` variables.
    """
    spec = estate.workloads()[run.workload]
    assert spec.run is not None
    cluster = estate.specs(ClusterSpec)[run.cluster]
    pool = next(p for p in estate.sites[run.site].pools if p.name == run.pool)
    devices = spec.compute.count
    env = {
        **spec.run.env,
        "KEEL_RUN": run.name,
        "KEEL_WORKLOAD": run.workload,
        "KEEL_REPLICA": str(run.replica),
        "KEEL_SITE": run.site,
        "KEEL_POOL": run.pool,
        "KEEL_ACCELERATOR": pool.accelerator,
        "KEEL_DEVICES": str(devices),
        "KEEL_PLAN": str(run.plan_id),
        "KEEL_MODEL": model or spec.model,
    }
    if chunk:
        env["KEEL_CHUNK"] = chunk
    return JobRequest(
        name=run.name,
        workload=run.workload,
        replica=run.replica,
        site=run.site,
        pool=run.pool,
        queue=engines.queue_for(cluster, run.site, run.pool),
        devices=devices,
        accelerator=pool.accelerator,
        accelerator_resource=engines.accelerator_resource(estate, cluster, pool.accelerator),
        command=tuple(spec.run.command),
        env=env,
        working_dir=spec.run.working_dir,
        image=spec.run.image,
        runtime_env=spec.run.runtime_env,
        service=spec.kind not in JOB_KINDS,
        time_limit_s=spec.run.expected_minutes * 120 if spec.run.expected_minutes else None,
        labels={"keel.dev/plan": str(run.plan_id), "keel.dev/workload": run.workload},
    )


def check(estate: Estate, wanted: Iterable[Intent], *, remote: bool) -> None:
    """Refuse, before anything is submitted, placed work its engine cannot run.

    Args:
        estate: The estate.
        wanted: The dispatchable intents.
        remote: The caller came through the API (local clusters run processes on the server's
            machine as its user, so they are dispatched from that machine's CLI only).

    Raises:
        DispatchError: Every problem, each naming the workload or cluster and the field.
    """
    clusters = estate.specs(ClusterSpec)
    workloads = estate.workloads()
    problems: list[Problem] = []
    used: set[str] = set()
    for intent in wanted:
        assert intent.cluster is not None
        cluster = clusters[intent.cluster]
        used.add(intent.cluster)
        run = workloads[intent.workload].run
        assert run is not None
        if cluster.type == "kubernetes" and run.image is None:
            problems.append(
                Problem(
                    "<estate>",
                    0,
                    f"Workload/{intent.workload}",
                    "spec.run.image",
                    f"placed at {intent.site}, which Cluster/{intent.cluster} serves with"
                    " kubernetes: give the container image to run",
                )
            )
    for name in sorted(used):
        if remote and clusters[name].type == "local":
            raise ForbiddenError(
                f"Cluster/{name} is local: its jobs would run on the API server's machine as"
                " the server's user; dispatch to it with keel dispatch on that machine",
                [],
            )
        problems += engines.problems_of(name, clusters[name])
    unique = list(dict.fromkeys(problems))
    if unique:
        raise DispatchError(
            f"{len(unique)} problem(s) stop the dispatch; nothing was submitted", unique
        )


def _new_run(intent: Intent, estate: Estate, now: datetime) -> StoredRun:
    assert intent.cluster is not None
    return StoredRun(
        key=intent.key,
        name=job_name(intent.workload, intent.key, 1),
        plan_id=intent.plan_id,
        decision_index=intent.decision_index,
        workload=intent.workload,
        replica=intent.replica,
        digest=intent.digest,
        site=intent.site,
        pool=intent.pool,
        cluster=intent.cluster,
        engine=estate.specs(ClusterSpec)[intent.cluster].type,
        service=intent.service,
        wanted=True,
        state="submitting",
        attempt=1,
        message="",
        created_at=now,
        updated_at=now,
        history=[["submitting", now.isoformat()]],
    )


def _entry(kind: str, run: StoredRun, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"run.{kind}",
        "run": run.name,
        "workload": run.workload,
        "replica": run.replica,
        "site": run.site,
        "pool": run.pool,
        "cluster": run.cluster,
        "engine": run.engine,
        "attempt": run.attempt,
        "plan_id": run.plan_id,
        "decision": run.decision_index,
        **extra,
    }


def estimated_kwh(estate: Estate, run: StoredRun) -> float | None:
    """Energy of a finished run from the pool's power and its measured duration.

    Args:
        estate: The estate.
        run: A finished run.

    Returns:
        kWh (devices x power x hours x utilisation x PUE), or ``None`` without a duration.
    """
    duration = run.duration_s
    site = estate.sites.get(run.site)
    spec = estate.workloads().get(run.workload)
    if duration is None or site is None or spec is None:
        return None
    pool = next((p for p in site.pools if p.name == run.pool), None)
    if pool is None:
        return None
    hours = duration / 3600
    power_kw = spec.compute.count * pool.power_w / 1000
    return float(power_kw * hours * spec.compute.utilisation * site.pue)


def observe(
    run: StoredRun, status: JobStatus, estate: Estate, now: datetime
) -> tuple[StoredRun, list[dict[str, Any]]]:
    """Fold what the engine reports into a stored run, with the ledger entries it makes.

    Args:
        run: The run as stored (not terminal).
        status: The engine's report on its current attempt.
        estate: The estate (for estimated energy).
        now: The cycle's time.

    Returns:
        The updated run and its new entries (submitted, started, finished).
    """
    if (
        status.state == run.state
        and run.submitted_at is not None
        and (run.started_at is not None or status.state == "pending")
        and status.node in (None, run.node)
        and status.where in (None, run.location)
        and status.state not in TERMINAL
    ):
        return run, []  # nothing new: the usual case of a steady cycle
    entries: list[dict[str, Any]] = []
    changes: dict[str, Any] = {"engine_id": status.engine_id or run.engine_id}
    if run.submitted_at is None:
        changes["submitted_at"] = now
        entries.append(_entry("submitted", run, engine_id=status.engine_id))
    if status.state in ("running", *TERMINAL) and run.started_at is None:
        changes.update(started_at=status.started_at or now, node=status.node, location=status.where)
        if status.state == "running" or status.started_at is not None:
            entries.append(_entry("started", run, node=status.node, location=status.where))
    if status.node:
        changes["node"] = status.node
    if status.where:
        changes["location"] = status.where
    state = status.state
    if state in TERMINAL:
        if status.started_at is not None:  # the engine's start time beats a cycle's first sight
            changes["started_at"] = status.started_at
        changes.update(
            finished_at=status.finished_at or now,
            exit_code=status.exit_code,
            message=status.message,
        )
    updated = run.moved_to(state, now, **changes)
    if state in TERMINAL:
        energy, source = status.energy_kwh, status.energy_source
        if energy is None:
            energy, source = estimated_kwh(estate, updated), "estimated"
        updated = replace(updated, energy_kwh=energy, energy_source=source)
        entries.append(
            _entry(
                "finished",
                updated,
                status=state,
                exit_code=status.exit_code,
                duration_s=updated.duration_s,
                energy_kwh=energy,
                energy_source=source,
                message=status.message,
            )
        )
    elif state == "pending" and status.message:
        updated = replace(updated, message=status.message)
    return updated, entries


def _stopped(estate: Estate, run: StoredRun, why: str, now: datetime) -> StoredRun:
    """A run cancelled now, with the energy it used while it ran (estimated)."""
    done = run.moved_to("cancelled", now, message=why, finished_at=now)
    if done.started_at is None:
        return done
    return replace(done, energy_kwh=estimated_kwh(estate, done), energy_source="estimated")


def _backoff_s(attempt: int, base_s: float) -> float:
    return float(min(RETRY_MAX_S, base_s * 2.0 ** (attempt - 1)))


def dispatch(
    workspace: Workspace,
    *,
    actor: Actor,
    dry_run: bool = False,
    remote: bool = False,
    runtimes: Mapping[str, Runtime] | None = None,
    retry_base_s: float = RETRY_BASE_S,
) -> wire.Dispatch:
    """One reconcile cycle between the latest committed plan and the engines.

    Args:
        workspace: The workspace.
        actor: Who dispatches (credited in the ledger).
        dry_run: Observe and report what would be done; change nothing, submit nothing.
        remote: The caller came through the API (see :func:`check`).
        runtimes: Adapters to use by cluster name instead of building them (tests).
        retry_base_s: The first retry's wait.

    Returns:
        What the cycle found and did.

    Raises:
        NotFoundError: If no plan was committed.
        DispatchError: If placed work cannot run on its engine (nothing is submitted).
    """
    started = time.perf_counter()
    with workspace.unit() as unit:
        plans = unit.repository(PlanRepository)
        plan_row = plans.latest()
        if plan_row is None:
            raise NotFoundError("no plan was committed yet", hint="keel plan, then dispatch")
        plan = conversion.plan(plan_row[1], plan_id=plan_row[0])
        decisions = plans.decisions(plan_row[0])
        estate = estate_in(unit)
        stored = {run.key: run for run in unit.repository(RunRepository).all()}
        served, paused = corrections.controls(unit, estate)
    wanted_all = [
        replace(i, reason=f"paused by monitor action {paused[i.workload]}")
        if i.workload in paused and i.key not in stored and not i.reason
        else i
        for i in intents(estate, plan, decisions, ledger.signer(workspace).name, served)
    ]
    check(estate, [i for i in wanted_all if not i.reason], remote=remote and not dry_run)
    cycle = Cycle(
        workspace, estate, plan, wanted_all, stored, dict(runtimes or {}), dry_run, retry_base_s
    )
    cycle.served, cycle.paused = served, paused
    cycle.observe_engines()
    if not dry_run and outages.observe(
        workspace,
        estate,
        reachable=list(cycle.observed),
        unreachable=cycle.unreachable,
        actor=actor,
        now=cycle.now,
    ):  # sites went down or came back: the plan changed; dispatch that one
        return dispatch(
            workspace,
            actor=actor,
            remote=remote,
            runtimes={**(runtimes or {}), **cycle.adapters},
            retry_base_s=retry_base_s,
        )
    cycle.outages = outages.known(workspace)
    for run in list(stored.values()):
        cycle.reconcile(run)
    cycle.plan_retries()
    new = cycle.new_runs()
    if dry_run:
        objects = _objects(estate, [*cycle.to_submit, *new], cycle.job_request)
        return cycle.report([*stored.values()], objects, started)
    final = cycle.submit(new, actor)
    return cycle.report(final, [], started)


class Cycle:
    """One reconcile cycle's state: what is wanted, observed, changed and recorded.

    Args:
        workspace: The workspace.
        estate: The estate now.
        plan: The latest committed plan.
        wanted: Its intents (undispatchable ones included, with their reasons).
        stored: Every stored run, by key.
        adapters: Runtime adapters already built, by cluster.
        dry_run: Change nothing.
        retry_base_s: The first retry's wait.
    """

    def __init__(  # noqa: PLR0917 - built in one place, from one cycle's reads
        self,
        workspace: Workspace,
        estate: Estate,
        plan: wire.Plan,
        wanted: list[Intent],
        stored: dict[str, StoredRun],
        adapters: dict[str, Runtime],
        dry_run: bool,
        retry_base_s: float,
    ) -> None:
        self.workspace = workspace
        self.estate = estate
        self.plan = plan
        self.intents = wanted
        self.wanted = {i.key: i for i in wanted if not i.reason}
        self.stored = stored
        self.done = self._done_jobs()
        self.adapters = adapters
        self.dry_run = dry_run
        self.retry_base_s = retry_base_s
        self.now = datetime.now(UTC)
        self.clusters = estate.specs(ClusterSpec)
        self.observed: dict[str, dict[str, JobStatus]] = {}
        self.unreachable: dict[str, str] = {}
        self.actions: list[wire.Action] = []
        self.entries: list[dict[str, Any]] = []
        self.changed: dict[str, StoredRun] = {}
        self.to_submit: list[StoredRun] = []
        self.served: dict[str, str] = {}
        self.paused: dict[str, int] = {}
        self.outages: dict[str, Outage] = {}

    def _done_jobs(self) -> set[str]:
        """Succeeded job runs that stand for replicas the plan now places elsewhere.

        A job's replica that already succeeded with the same run and compute sections is done:
        a re-plan that moves it does not run it again. Its intent is dropped and the run that
        did it counts as wanted.
        """
        succeeded: dict[tuple[str, str], list[str]] = {}
        for run in self.stored.values():
            if run.state == "succeeded" and not run.service and run.key not in self.wanted:
                succeeded.setdefault((run.workload, run.digest), []).append(run.key)
        done: set[str] = set()
        for key, intent in list(self.wanted.items()):
            if intent.service or key in self.stored:
                continue
            left = succeeded.get((intent.workload, intent.digest))
            if left:
                done.add(left.pop(0))
                del self.wanted[key]
        return done

    def wants(self, key: str) -> bool:
        """Whether the plan wants a stored run (placed, or a job replica it already did)."""
        return key in self.wanted or key in self.done

    def act(self, kind: str, run: StoredRun, detail: str) -> None:
        """Note an action for the report."""
        self.actions.append(
            wire.Action(
                action=kind,
                workload=run.workload,
                replica=run.replica,
                site=run.site,
                pool=run.pool,
                cluster=run.cluster,
                name=run.name,
                detail=detail,
            )
        )

    def change(self, run: StoredRun, *made: dict[str, Any]) -> StoredRun:
        """Keep a run's new values (and its ledger entries) for the cycle's write."""
        self.changed[run.key] = run
        self.entries += made
        return run

    def observe_engines(self) -> None:
        """Ask every engine involved what Keel jobs it knows; note those that cannot be asked."""
        involved = sorted(
            {i.cluster for i in self.wanted.values() if i.cluster}
            | {
                r.cluster
                for r in self.stored.values()
                if r.state not in TERMINAL and r.cluster in self.clusters
            }
        )
        with progress.step(f"asking {len(involved)} engine(s) what they run"):
            for name in involved:
                try:
                    if name not in self.adapters:
                        self.adapters[name] = engines.runtime_for(
                            name,
                            self.clusters[name],
                            self.estate,
                            self.workspace.settings.state_dir,
                        )
                    self.observed[name] = self.adapters[name].jobs()
                except EngineError as exc:
                    self.unreachable[name] = exc.message

    def reconcile(self, stored: StoredRun) -> None:
        """Bring one stored run in line with its engine and the plan."""
        wanted = self.wants(stored.key)
        run = stored
        if run.wanted != wanted:
            run = self.change(replace(run, wanted=wanted, updated_at=self.now))
        if run.state in TERMINAL or run.cluster not in self.clusters:
            return
        if run.cluster in self.unreachable:
            if run.state != "unknown" and not self.dry_run:
                self.change(
                    run.moved_to("unknown", self.now, message=self.unreachable[run.cluster])
                )
            return
        status = self.observed.get(run.cluster, {}).get(run.name)
        if status is not None:
            updated, made = observe(run, status, self.estate, self.now)
            if updated.state != run.state or made:
                self.act("update", updated, f"{run.state} -> {updated.state}")
                run = self.change(updated, *made)
        elif run.engine_id is None:  # never confirmed by the engine: (re)submit by its name
            if wanted:
                self.to_submit.append(run)
                self.act("submit", run, "not on the engine yet")
            return
        else:
            lost = "the engine no longer knows this job"
            run = run.moved_to("failed", self.now, message=lost, finished_at=self.now)
            self.change(run, _entry("finished", run, status="failed", message=lost))
            self.act("update", run, "lost -> failed")
        if run.state not in TERMINAL and not wanted:
            self.cancel(run)
            return
        intent = self.wanted.get(run.key)
        if run.state not in TERMINAL and intent and intent.stop and self.now >= intent.stop:
            when = intent.stop.isoformat().replace("+00:00", "Z")
            number, count = intent.chunk.split("/")
            after = (
                "it resumes in the next"
                if number != count
                else "it was its last: the job did not finish in the hours planned"
            )
            self.cancel(run, f"its chunk {intent.chunk} ended at {when}; {after}")

    def cancel(self, run: StoredRun, why: str | None = None) -> None:
        """Stop a run: one the plan no longer wants, or a chunk whose time is up.

        Args:
            run: The run.
            why: Why, when its chunk ended; else the plan no longer wants it, and the reason
                says where its work went.
        """
        if why is None:
            why = self._moved(run)
        self.act("cancel", run, why)
        if self.dry_run:
            return
        try:
            self.adapters[run.cluster].cancel(run.name)
        except EngineError as exc:
            self.change(run.moved_to("unknown", self.now, message=exc.message))
            return
        done = _stopped(self.estate, run, why, self.now)
        self.change(done, _entry("cancelled", done, reason=why, energy_kwh=done.energy_kwh))

    def _moved(self, run: StoredRun) -> str:
        """Where the work of a run the plan no longer wants went."""
        moved = next(
            (
                i
                for i in self.intents
                if i.workload == run.workload and i.key not in self.stored and i.site != run.site
            ),
            None,
        )
        if moved is None:
            return f"plan {self.plan.plan_id} no longer places it at {run.site}/{run.pool}"
        why = f"plan {self.plan.plan_id} moved it to {moved.site}/{moved.pool}"
        if moved.reason:
            why += f" ({moved.reason}: not dispatchable)"
        return why

    def plan_retries(self) -> None:
        """Schedule, and when due start, the next attempt of failed runs the plan wants.

        A job that failed and a service that died are retried alike, up to ``max_retries``.
        """
        specs = self.estate.workloads()
        for key, stored in list({**self.stored, **self.changed}.items()):
            if not (stored.wanted and stored.state == "failed"):
                continue
            spec = specs[stored.workload].run
            if spec is None or stored.attempt > spec.max_retries:
                continue
            if stored.cluster in self.unreachable or stored.workload in self.paused:
                continue
            intent = self.wanted.get(key)
            if intent is not None and intent.stop is not None and self.now >= intent.stop:
                continue  # a chunk whose time is up: the next chunk carries on
            run = stored
            if run.retry_at is None:
                wait_s = _backoff_s(run.attempt, self.retry_base_s)
                run = self.change(
                    replace(run, retry_at=self.now + timedelta(seconds=wait_s), updated_at=self.now)
                )
            assert run.retry_at is not None
            if self.now < run.retry_at:
                continue
            attempt = run.attempt + 1
            again = replace(
                run.moved_to("submitting", self.now),
                attempt=attempt,
                name=job_name(run.workload, key, attempt),
                engine_id=None,
                submitted_at=None,
                started_at=None,
                finished_at=None,
                exit_code=None,
                retry_at=None,
                energy_kwh=None,
                energy_source=None,
                message=f"retry {attempt - 1} of {spec.max_retries}",
            )
            self.act("retry", again, again.message)
            self.to_submit.append(self.change(again))

    def new_runs(self) -> list[StoredRun]:
        """Runs the plan wants that were never stored (on engines that can be asked).

        A job the plan starts later waits (reported, not stored) until a cycle at or after its
        start.
        """
        new = []
        for key, i in self.wanted.items():
            if key in self.stored or (not self.dry_run and i.cluster in self.unreachable):
                continue
            run = _new_run(i, self.estate, self.now)
            if i.start is not None and i.start > self.now:
                when = i.start.isoformat().replace("+00:00", "Z")
                self.act("wait", run, f"plan {self.plan.plan_id} starts it at {when}")
                continue
            if i.group and not self._chunk_due(i, run):
                continue
            new.append(run)
        for run in new:
            self.act(
                "submit", run, f"new: plan {self.plan.plan_id} places it at {run.site}/{run.pool}"
            )
        return new

    def _chunk_due(self, intent: Intent, run: StoredRun) -> bool:
        """Whether a chunk of an interruptible job should start now.

        Not if the job already finished in an earlier chunk, nor while an earlier chunk still
        runs, nor once the chunk's end has passed (the next chunk carries on).
        """
        mine = [
            self.changed.get(k, self.stored[k])
            for k, other in self.wanted.items()
            if other.group == intent.group and k in self.stored
        ]
        if any(r.state == "succeeded" for r in mine):
            return False
        if any(r.state not in TERMINAL for r in mine):
            self.act("wait", run, f"chunk {intent.chunk} waits for the chunk before it to stop")
            return False
        assert intent.stop is not None
        if self.now >= intent.stop:
            self.act("skip", run, f"chunk {intent.chunk} ended before a cycle could start it")
            return False
        return True

    def job_request(self, run: StoredRun) -> JobRequest:
        """What to hand the engine for a run: the model version served, and its chunk."""
        intent = self.wanted.get(run.key)
        chunk = intent.chunk if intent is not None else ""
        return job_request(self.estate, run, self.served.get(run.workload), chunk)

    def submit(self, new: list[StoredRun], actor: Actor) -> list[StoredRun]:
        """Store what is about to be submitted, submit it, record what the engines said.

        The first transaction commits the new runs as ``submitting`` before any engine is
        called, so a Keel killed from here on finds each job by its name when it restarts.

        Args:
            new: Runs never stored before.
            actor: Who dispatches.

        Returns:
            Every run, as it stands after the cycle.
        """
        if new or self.changed:
            with self.workspace.unit(actor.principal, write=True) as unit:
                repo = unit.repository(RunRepository)
                present = repo.keys()  # another dispatcher may have stored some meanwhile
                new = [r for r in new if r.key not in present]
                repo.add(new)
                repo.save(self.changed.values())
        submitted: dict[str, StoredRun] = {}
        with progress.step(f"submitting {len(new) + len(self.to_submit)} job(s)"):
            for run in [*self.to_submit, *new]:
                try:
                    status = self.adapters[run.cluster].submit(self.job_request(run))
                except EngineError as exc:
                    if exc.unreachable:
                        submitted[run.key] = run.moved_to("unknown", self.now, message=exc.message)
                        continue
                    done = run.moved_to(
                        "rejected", self.now, message=exc.message, finished_at=self.now
                    )
                    self.entries.append(_entry("rejected", done, reason=exc.message))
                    submitted[run.key] = done
                    continue
                updated, made = observe(run, status, self.estate, self.now)
                self.entries += made
                submitted[run.key] = updated
        if submitted or self.entries:
            with self.workspace.unit(actor.principal, write=True) as unit:
                unit.repository(RunRepository).save(submitted.values())
                if self.entries:
                    ledger.record(unit, self.entries)
        final = {**self.stored, **self.changed, **{r.key: r for r in new}, **submitted}
        return list(final.values())

    def report(
        self, runs: list[StoredRun], objects: list[dict[str, Any]], started: float
    ) -> wire.Dispatch:
        """The cycle's report."""
        assert self.plan.plan_id is not None
        missing: Counter[tuple[str, str, str]] = Counter(
            (i.workload, i.site, i.reason) for i in self.intents if i.reason
        )
        mine = [r for r in runs if self.wants(r.key)]
        return wire.Dispatch(
            plan_id=self.plan.plan_id,
            dry_run=self.dry_run,
            actions=self.actions,
            undispatchable=[
                wire.Undispatchable(workload=w, site=s, replicas=n, reason=r)
                for (w, s, r), n in sorted(missing.items())
            ],
            unreachable=[
                wire.EngineTrouble(
                    cluster=c,
                    message=m,
                    down_since=self.outages[c].down_since if c in self.outages else None,
                    sites_down=list(self.outages[c].sites) if c in self.outages else [],
                )
                for c, m in sorted(self.unreachable.items())
            ],
            states=dict(Counter(r.state for r in mine)),
            jobs_active=sum(1 for r in mine if not r.service and r.state not in TERMINAL),
            jobs_waiting=sum(1 for a in self.actions if a.action == "wait"),
            objects=objects,
            cycle_s=time.perf_counter() - started,
        )


def _objects(
    estate: Estate, runs: Sequence[StoredRun], request: Callable[[StoredRun], JobRequest]
) -> list[dict[str, Any]]:
    """The Kubernetes objects a dispatch would apply (setup first, then jobs).

    ``request`` is the cycle's own (:meth:`Cycle.job_request`), so a preview shows what a
    dispatch submits.
    """
    from keel.runtimes.kubernetes import job_object, setup_objects

    clusters = estate.specs(ClusterSpec)
    found: list[dict[str, Any]] = []
    for name in sorted({r.cluster for r in runs if clusters[r.cluster].type == "kubernetes"}):
        spec = clusters[name]
        found += setup_objects(engines.site_queues(spec, estate), spec.namespace)
        found += [job_object(request(r), spec.namespace) for r in runs if r.cluster == name]
    return found


def list_runs(
    workspace: Workspace, *, workload: str | None = None, every: bool = False
) -> wire.Runs:
    """Stored runs: those the latest plan wants (all, with ``every``).

    Args:
        workspace: The workspace.
        workload: Only this workload's runs.
        every: Include runs the plan no longer wants (moved, cancelled, superseded).

    Returns:
        The runs and their count by state.
    """
    with workspace.unit() as unit:
        found = unit.repository(RunRepository).all(workload=workload)
    shown = [r for r in found if every or r.wanted]
    return wire.Runs(runs=[_wire(r) for r in shown], states=dict(Counter(r.state for r in shown)))


def _wire(run: StoredRun) -> wire.Run:
    return wire.Run(
        workload=run.workload,
        replica=run.replica,
        site=run.site,
        pool=run.pool,
        cluster=run.cluster,
        engine=run.engine,
        name=run.name,
        state=run.state,
        attempt=run.attempt,
        service=run.service,
        wanted=run.wanted,
        plan_id=run.plan_id,
        decision_index=run.decision_index,
        engine_id=run.engine_id,
        node=run.node,
        location=run.location,
        exit_code=run.exit_code,
        message=run.message,
        submitted_at=run.submitted_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        retry_at=run.retry_at,
        duration_s=run.duration_s,
        energy_kwh=run.energy_kwh,
        energy_source=run.energy_source,
        history=[wire.Transition(state=s, at=datetime.fromisoformat(at)) for s, at in run.history],
    )


def _runs_of(unit: Unit, workload: str) -> list[StoredRun]:
    found = unit.repository(RunRepository).all(workload=workload)
    if not found:
        raise NotFoundError(f"Workload/{workload} has no runs", hint="keel dispatch")
    return found


def logs(workspace: Workspace, workload: str, *, replica: int = 0, max_bytes: int = 65_536) -> str:
    """The end of the output of a workload's latest run (of one replica).

    Args:
        workspace: The workspace.
        workload: The workload.
        replica: Which replica.
        max_bytes: At most this much, from the end.

    Returns:
        The text.

    Raises:
        NotFoundError: If the workload has no such run.
        EngineError: If its engine cannot be asked.
    """
    with workspace.unit() as unit:
        found = [r for r in _runs_of(unit, workload) if r.replica == replica]
        estate = estate_in(unit)
    if not found:
        raise NotFoundError(f"Workload/{workload} has no run of replica {replica}")
    run = sorted(found, key=lambda r: (r.wanted, r.updated_at))[-1]
    cluster = estate.specs(ClusterSpec).get(run.cluster)
    if cluster is None:
        raise NotFoundError(f"Cluster/{run.cluster}, where {run.name} ran, no longer exists")
    adapter = engines.runtime_for(run.cluster, cluster, estate, workspace.settings.state_dir)
    return adapter.logs(run.name, max_bytes=max_bytes)


def cancel(
    workspace: Workspace, workload: str | None, *, actor: Actor, remote: bool = False
) -> wire.Runs:
    """Stop a workload's runs (every workload's, with ``None``).

    They stay stopped until the plan asks for something new (another site, a changed run).

    Args:
        workspace: The workspace.
        workload: The workload, or ``None`` for all.
        actor: Who cancels (credited in the ledger).
        remote: The caller came through the API.

    Returns:
        The runs cancelled.
    """
    now = datetime.now(UTC)
    with workspace.unit() as unit:
        found = _runs_of(unit, workload) if workload else unit.repository(RunRepository).all()
        estate = estate_in(unit)
    clusters = estate.specs(ClusterSpec)
    live = [r for r in found if r.state not in TERMINAL and r.cluster in clusters]
    if remote and any(clusters[r.cluster].type == "local" for r in live):
        raise ForbiddenError("local runs are cancelled on their machine, with keel runs cancel", [])
    done: list[StoredRun] = []
    entries = []
    adapters: dict[str, Runtime] = {}
    why = f"cancelled by {actor.principal}"
    for run in live:
        if run.cluster not in adapters:
            adapters[run.cluster] = engines.runtime_for(
                run.cluster, clusters[run.cluster], estate, workspace.settings.state_dir
            )
        adapters[run.cluster].cancel(run.name)
        stopped = _stopped(estate, run, why, now)
        done.append(stopped)
        entries.append(_entry("cancelled", stopped, reason=why, energy_kwh=stopped.energy_kwh))
    if done:
        with workspace.unit(actor.principal, write=True) as unit:
            unit.repository(RunRepository).save(done)
            ledger.record(unit, entries)
    return wire.Runs(runs=[_wire(r) for r in done], states=dict(Counter(r.state for r in done)))
