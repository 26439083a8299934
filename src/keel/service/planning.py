"""Planning as a service: compile the stored estate, solve, explain, commit and record.

A committed plan is stored with the digests of the estate and policy set it was computed from,
and a ``plan.committed`` entry with the plan's digest goes into the ledger in the same
transaction.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from keel import progress, wire
from keel.errors import NotFoundError, UserError
from keel.estate import Estate
from keel.estate.digest import canonical_json
from keel.estate.spelling import did_you_mean
from keel.lineage import emit
from keel.placement.baselines import Baseline, cheapest_ignoring_capacity, on_prem_first
from keel.placement.plan import Plan, build_plan, explain
from keel.placement.problem import PRESETS, Problem, compile_problem
from keel.placement.rejection import rejections
from keel.placement.replan import Move, add_churn_penalty, diff
from keel.placement.solver import Solution, solve
from keel.policy.compliance.decision import Decision
from keel.service import conversion, dispatch, ledger, lineage, policy, timing
from keel.service.actor import Actor
from keel.service.stored import estate_in, load_estate
from keel.service.workspace import Workspace
from keel.store import ResourceRepository
from keel.store.outages import OutageRepository
from keel.store.plans import PlanRepository
from keel.store.runs import RunRepository


@dataclass
class PlanResult:
    """A computed plan with the problem and solution behind it.

    Attributes:
        plan: The plan.
        problem: The compiled problem.
        solution: The solver's assignment.
        moves: With ``replan``, what changed against the previous committed plan, and why.
        previous_id: With ``replan``, the id of that plan (``None`` if there was none).
        decisions: The compliance decision per workload (the policy's site denials are
            placement constraints; a workload denied outright is unplaced).
        estate: The estate the plan was computed from (SLOs and explanations read it).
        measured_hours: Jobs whose run length came from measured runs, not the manifest.
    """

    plan: Plan
    problem: Problem
    solution: Solution
    estate: Estate
    moves: list[Move] = field(default_factory=list)
    previous_id: int | None = None
    decisions: dict[str, Decision] = field(default_factory=dict)
    measured_hours: dict[str, float] = field(default_factory=dict)

    def decides(self) -> bool:
        """Whether the plan decides anything (an estate without workloads has nothing to say)."""
        return bool(self.plan.placements or self.plan.unplaced)


MAX_BUDGET_S = 3_600.0
"""The longest time budget a plan may ask for. A budget only shortens a solve (without one
the fast solver takes as long as it needs), so this is a sanity bound that catches a value
meant in another unit, not a limit on how long a request may hold a server worker."""


def compute_plan(
    workspace: Workspace,
    *,
    objective: str = "balanced",
    solver: str = "fast",
    seed: int = 0,
    time_limit_s: float = 120.0,
    budget_s: float | None = None,
    replan: bool = False,
    horizon: timing.HorizonRequest | None = None,
) -> PlanResult:
    """Compute a plan for every workload of the stored estate (nothing is stored).

    Args:
        workspace: The workspace.
        objective: Objective preset (``cost``, ``carbon``, ``latency``, ``balanced``).
        solver: ``fast`` or ``exact``.
        seed: Seed of the fast solver.
        time_limit_s: Time limit of the exact solver.
        budget_s: Time budget of the fast solver and its bound (``None``: none;
            :mod:`keel.placement.deadline`).
        replan: Re-plan against the last committed plan: moving a workload costs a churn
            penalty, and the result lists what moved and why.
        horizon: Schedule the jobs over these hours of grid signals too: each gets a start
            as well as a place (:mod:`keel.service.timing`).

    Returns:
        The plan, problem and solution.

    Raises:
        UserError: If the objective or solver is unknown, or the budget out of range.
    """
    if objective not in PRESETS:
        raise UserError(f"unknown objective '{objective}'{did_you_mean(objective, PRESETS)}")
    if solver not in ("fast", "exact"):
        raise UserError(f"unknown solver '{solver}': use fast or exact")
    if budget_s is not None and not 0 < budget_s <= MAX_BUDGET_S:
        raise UserError(
            f"time budget {budget_s:g} s: give more than 0 and at most {MAX_BUDGET_S:g} s"
        )
    with progress.step("loading the estate"):
        # One snapshot: the digest recorded with the plan is the estate's it was computed from.
        with workspace.unit(snapshot=True) as unit:
            estate = estate_in(unit)
            _revision, digest = unit.repository(ResourceRepository).revision()
            previous = unit.repository(PlanRepository).latest() if replan else None
            measured = dispatch.measured_hours(estate, unit.repository(RunRepository).all())
            down = unit.repository(OutageRepository).down_sites()
        if down:  # sites whose engine has not answered for site_down_after_s (outages.py)
            estate = estate.with_sites_down(down)
        if measured:  # measured run lengths replace the declared ones (docs/runtimes.md)
            estate = estate.with_job_hours({name: h for name, (h, _) in measured.items()})
    workloads = len(estate.workloads())
    with progress.step(f"deciding data and model rules for {workloads:,} workloads"):
        engine = policy.engine_for(estate)
        decisions = policy.decide(estate, engine=engine)
    with progress.step("compiling the placement problem"):
        denied = policy.denial_mask(decisions)
        problem = compile_problem(estate, objective=objective, policy=denied)
        if previous is not None:
            add_churn_penalty(problem, previous[1])
    # Over a horizon, jobs get their place with their start (below); services come first.
    spatial = problem if horizon is None else timing.services_only(problem)
    budget = "" if budget_s is None else f", within {budget_s:g} s"
    with progress.step(f"solving {workloads:,} workloads ({solver} solver{budget})"):
        solution = solve(spatial, solver, seed=seed, time_limit_s=time_limit_s, budget_s=budget_s)
    schedule = None
    if horizon is not None:
        with progress.step(f"scheduling the jobs over {horizon.hours:,} h of grid signals"):
            schedule = timing.schedule_jobs(
                problem, solution, estate, horizon, objective=objective, seed=seed
            )
            solution = timing.timed_solution(problem, solution, schedule)
    with progress.step("explaining each placement"):
        plan = build_plan(problem, solution, objective)
        if schedule is not None:
            plan = timing.timed_plan(plan, schedule)
    plan.estate_digest = digest
    plan.policy_digest = engine.digest
    result = PlanResult(plan, problem, solution, estate, decisions=decisions)
    result.measured_hours = {name: h for name, (h, _) in measured.items()}
    if previous is not None:
        result.previous_id = previous[0]
        result.moves = diff(problem, previous[1], plan.to_json())
    return result


def commit_plan(
    workspace: Workspace, result: PlanResult, *, actor: Actor, unless_same: bool = False
) -> tuple[int, int | None]:
    """Store a plan and record it in the ledger, in one transaction.

    The ledger gets a ``plan.committed`` entry with the plan's digest, then one
    ``placement.decided`` entry per workload with the digest of its explanation.

    Args:
        workspace: The workspace.
        result: A computed plan.
        actor: Who commits it (recorded with its entries).
        unless_same: Commit nothing if the latest plan decided the same. The comparison is made
            under the write lock, so that concurrent plans of one estate (several API servers)
            commit it once.

    Returns:
        The plan's id and the ledger index of its ``plan.committed`` entry; with
        ``unless_same``, the latest plan's id and ``None`` when it decided the same.
    """
    with progress.step(f"committing {len(result.plan.placements):,} placements to the ledger"):
        return _commit(workspace, result, actor=actor, unless_same=unless_same)


def _same_decision(data: dict[str, Any], stored: dict[str, Any]) -> bool:
    return all(canonical_json(data.get(k)) == canonical_json(stored.get(k)) for k in DECISION_KEYS)


def horizon_record(schedule: dict[str, Any]) -> dict[str, Any]:
    """What a ``plan.committed`` entry says of a plan's horizon: its hours and the signals.

    Args:
        schedule: The plan's ``schedule`` section.

    Returns:
        Start, hours, signal, and the digest of every site's series (a fallback's too); with
        ``energy_price``, the digest of every priced site's prices.
    """
    found = {
        "start": schedule["start"],
        "hours": schedule["hours"],
        "signal": schedule["signal"],
        "signals": {s["site"]: s["digest"] for s in schedule["signals"]},
    }
    if schedule.get("energy_price"):
        found["prices"] = {
            s["site"]: s["price_digest"] for s in schedule["signals"] if s.get("price_digest")
        }
    return found


def _commit(
    workspace: Workspace, result: PlanResult, *, actor: Actor, unless_same: bool
) -> tuple[int, int | None]:
    data = plan_data(result)
    digest = "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()
    with workspace.unit(actor.principal, write=True) as unit:
        if unless_same:
            latest = unit.repository(PlanRepository).latest()
            if latest is not None and _same_decision(data, latest[1]):
                return latest[0], None
        plan_id = unit.repository(PlanRepository).add(data, digest, datetime.now(UTC))
        unit.after_commit(lambda: _committed(workspace.settings.database_url))
        entry = {
            "type": "plan.committed",
            "plan_id": plan_id,
            "plan_digest": digest,
            "estate_digest": data["estate_digest"],
            "policy_digest": data["policy_digest"],
            "solver": data["solver"],
            "objective": data["objective"],
            "placements": len(data["placements"]),
            "unplaced": len(data["unplaced"]),
        }
        if data.get("schedule") is not None:
            entry["horizon"] = horizon_record(data["schedule"])
        if data.get("budget_s") is not None:  # the plan depends on the machine's speed
            entry["budget_s"] = data["budget_s"]
        decisions = [
            {
                "type": "placement.decided",
                "plan_id": plan_id,
                "estate_digest": data["estate_digest"],
                "policy_digest": data["policy_digest"],
                **record,
            }
            for record in decision_records(result)
        ]
        first, _ = ledger.record(unit, [entry, *decisions])
        unit.repository(PlanRepository).record_decisions(
            plan_id, {d["workload"]: first + 1 + i for i, d in enumerate(decisions)}
        )
    if workspace.settings.lineage_emit:
        _emit_plan(workspace, plan_id, data, digest)
    return plan_id, first


def _emit_plan(workspace: Workspace, plan_id: int, data: dict[str, Any], digest: str) -> None:
    workloads = load_estate(workspace).workloads()
    inputs = [
        name
        for placed in {p["workload"] for p in data["placements"]}
        for name in workloads[placed].inputs
    ]
    lineage.emit(workspace, [emit.plan_event(plan_id, data, digest, inputs, datetime.now(UTC))])


def decision_records(result: PlanResult) -> list[dict[str, Any]]:
    """One decision record per workload: where it went and the digest of its explanation.

    The explanation (chosen options with costs, alternatives, rejected sites with reason codes,
    relaxations) is what ``keel plan --explain`` prints; its digest in the ledger lets anyone
    show later that an explanation is the one the decision was made with.

    Args:
        result: A computed plan.

    Returns:
        JSON objects, in workload order.
    """
    records = []
    schedule = result.plan.schedule
    runs: dict[str, list[dict[str, Any]]] = {}
    for run in schedule["runs"] if schedule else []:
        runs.setdefault(run["workload"], []).append(run)
    digests = {s["site"]: s["digest"] for s in schedule["signals"]} if schedule else {}
    prices = {s["site"]: s.get("price_digest") for s in schedule["signals"]} if schedule else {}
    for workload in result.problem.workloads:
        why = explain_workload(result, workload)
        record: dict[str, Any] = {
            "workload": workload,
            "placed_at": sorted(f"{c['site']}/{c['pool']}" for c in why["chosen"]),
            "explanation_digest": "sha256:"
            + hashlib.sha256(canonical_json(why).encode()).hexdigest(),
        }
        timed = [r for r in runs.get(workload, []) if r["start"] is not None]
        if timed:
            record["starts"] = sorted(r["start"] for r in timed)
            chunked = [r["chunks"] for r in timed if r.get("chunks")]
            if chunked:
                record["chunks"] = chunked
            record["signals"] = {r["site"]: digests[r["site"]] for r in timed}
            record["expected_saving_kgco2e"] = round(
                sum(r["at_once_kgco2e"] - r["carbon_kgco2e"] for r in timed), 4
            )
            priced = [r for r in timed if r.get("electricity_usd") is not None]
            if priced:
                record["prices"] = {r["site"]: prices[r["site"]] for r in priced}
                record["expected_saving_usd"] = round(
                    sum(r["at_once_electricity_usd"] - r["electricity_usd"] for r in priced), 4
                )
        records.append(record)
    return records


def explain_workload(result: PlanResult, workload: str, *, detail: bool = False) -> dict[str, Any]:
    """Why a workload is placed where it is.

    Args:
        result: A computed plan.
        workload: Workload name.
        detail: Add ``rejections``: every reason a rejected site or pool turns the workload
            away, with its numbers (what ``keel plan --explain`` shows; the digests recorded
            in the ledger cover the explanation without them, computed for every workload).

    Returns:
        Chosen options, alternatives with deltas, rejected sites with reasons (a site the
        policy denies lists ``policy:<rule>`` for each rule that denied it), relaxations, and
        ``policy``: the compliance decision (every rule that fired, with its message).

    Raises:
        NotFoundError: If the workload does not exist.
    """
    if result.problem.workload_index(workload) is None:
        names = result.problem.workloads
        raise NotFoundError(f"Workload/{workload} does not exist{did_you_mean(workload, names)}")
    why = explain(result.problem, result.solution, workload)
    decision = result.decisions.get(workload)
    if decision is not None:
        for site, codes in why["rejected"].items():
            if "policy" in codes:
                at = codes.index("policy")
                rules = [f"policy:{rule}" for rule in decision.rules_at(site)]
                codes[at : at + 1] = rules
        why["policy"] = decision.to_json()
        why["policy"].pop("elapsed_ms")
        why["policy"].pop("cached")
        why["policy"].pop("workload")
    if detail:
        sites = why["rejected"]
        denying = {site: _denials_at(decision, site) for site in sites} if decision else {}
        found = rejections(result.problem, result.estate, workload, denying)
        why["rejections"] = [r.to_json() for r in found]
    return why


def inputs_of(result: PlanResult, workload: str) -> list[str]:
    """The datasets a workload of a computed plan reads (none for an unknown workload).

    Args:
        result: A computed plan.
        workload: The workload's name.

    Returns:
        Dataset names.
    """
    spec = result.estate.workloads().get(workload)
    return list(spec.inputs) if spec is not None else []


def _denials_at(decision: Decision, site: str) -> list[tuple[str, str]]:
    """The rules that deny a site, each with its message (without the "here" suffix)."""
    findings = [*decision.denied, *decision.site_denials.get(site, [])]
    found = {f.rule: f.message.split(" (here ")[0] for f in reversed(findings)}
    return [(rule, found[rule]) for rule in decision.rules_at(site)]


def baselines(result: PlanResult) -> list[Baseline]:
    """The two naive baselines, computed on the same problem.

    Args:
        result: A computed plan.

    Returns:
        SkyPilot-like (cheapest per workload, capacity ignored) and Karmada-like (on-premises
        first, then cloud, in a fixed order).
    """
    return [cheapest_ignoring_capacity(result.problem), on_prem_first(result.problem)]


def placed_items(result: PlanResult) -> int:
    """How many workload replicas the plan places.

    Args:
        result: A computed plan.

    Returns:
        The count.
    """
    return int((result.solution.assignment >= 0).sum())


__all__ = [
    "PlanResult",
    "baselines",
    "commit_plan",
    "compute_plan",
    "explain_workload",
    "placed_items",
]


DECISION_KEYS = (
    "objective", "estate_digest", "policy_digest", "placements", "unplaced", "schedule"
)  # fmt: skip
"""What a plan decides; two plans that agree on these are the same decision (timings aside)."""


def same_as_latest(workspace: Workspace, result: PlanResult) -> int | None:
    """The latest committed plan, if it decided exactly what ``result`` decides.

    Args:
        workspace: The workspace.
        result: A computed plan.

    Returns:
        The latest plan's id, or ``None`` if there is none or it decided otherwise.
    """
    with workspace.unit() as unit:
        found = unit.repository(PlanRepository).latest()
    if found is None:
        return None
    return found[0] if _same_decision(plan_data(result), found[1]) else None


def plan_data(result: PlanResult) -> dict[str, Any]:
    """A plan's JSON as it is stored: each placement with its workload's latency SLO.

    Args:
        result: A computed plan.

    Returns:
        The JSON (its digest is the plan's).
    """
    data = result.plan.to_json()
    specs = result.estate.workloads()
    for placement in data["placements"]:
        placement["latency_slo_ms"] = specs[placement["workload"]].latency_slo_ms
    if result.measured_hours:
        data["measured_hours"] = dict(sorted(result.measured_hours.items()))
    return data


def report(result: PlanResult, *, diff: bool = False) -> wire.Plan:
    """A computed plan as the front ends show it: with baselines and, re-planned, its moves.

    Args:
        result: A computed plan.
        diff: Whether it was re-planned against the last committed plan.

    Returns:
        The plan.
    """
    with progress.step("comparing with two naive baselines"):
        compared = [
            wire.Baseline(
                name=b.name,
                placed=b.placed,
                objective_usd=b.objective_usd,
                capacity_violations=b.capacity_violations,
            )
            for b in baselines(result)
        ]
    extra: dict[str, Any] = {"placed_replicas": placed_items(result), "baselines": compared}
    if diff:
        extra["previous_plan_id"] = result.previous_id
        extra["moves"] = [m.to_json() for m in result.moves]
    return conversion.plan(plan_data(result), **extra)


def redact_plan(plan: wire.Plan, visible: Callable[[list[str]], list[bool]]) -> wire.Plan:
    """A plan without the placements of workloads the caller may not read.

    Counts over every workload that the plan's own lists do not give (replicas no option can
    take, the most any plan can place) are withheld too: they would tell of hidden workloads.

    Args:
        plan: The plan.
        visible: The caller's read decisions on ``Workload/NAME`` resources.

    Returns:
        The plan the caller may see (the same object when nothing is hidden).
    """
    runs = plan.schedule.runs if plan.schedule is not None else []
    names = sorted(
        {p.workload for p in plan.placements}
        | {u.workload for u in plan.unplaced}
        | {r.workload for r in runs}
    )
    allowed = visible([f"Workload/{name}" for name in names])
    hidden = {name for name, ok in zip(names, allowed, strict=True) if not ok}
    if not hidden:
        return plan
    return plan.model_copy(
        update={
            "placements": [p for p in plan.placements if p.workload not in hidden],
            "unplaced": [u for u in plan.unplaced if u.workload not in hidden],
            "moves": [m for m in plan.moves if m.workload not in hidden]
            if plan.moves is not None
            else None,
            "schedule": _redact_schedule(plan.schedule, hidden),
            "unplaceable": None,
            "placeable_at_most": None,
        }
    )


def _redact_schedule(schedule: wire.Schedule | None, hidden: set[str]) -> wire.Schedule | None:
    """A schedule without the runs of hidden workloads.

    Its totals and baselines cover every job, so they would tell what the hidden runs emit:
    they are withheld (zero, and no baselines) when any run is hidden.
    """
    if schedule is None or not any(r.workload in hidden for r in schedule.runs):
        return schedule
    return schedule.model_copy(
        update={
            "runs": [r for r in schedule.runs if r.workload not in hidden],
            "carbon_kgco2e": 0.0,
            "at_once_kgco2e": 0.0,
            "objective_usd": 0.0,
            "electricity_usd": None,
            "bound_usd": None,
            "baselines": [],
            "totals_withheld": True,
        }
    )


@dataclass(frozen=True, slots=True)
class _Latest:
    """The latest plan as last read from a database, when, and the commits counted then."""

    plan: wire.Plan
    checked_s: float  # time.monotonic() before the read
    commits: int


_LATEST: dict[str, _Latest] = {}
"""By database URL. A committed plan never changes, so a plan is read once per id."""
_COMMITS: dict[str, int] = {}
"""By database URL, a fresh number from :data:`_COMMIT_COUNT` after each plan this process
commits: a cache entry read before that commit is no longer trusted."""
_COMMIT_COUNT = itertools.count(1)
_KEEPING = threading.Lock()
"""Held while :func:`latest` compares and replaces an entry of :data:`_LATEST`."""


def latest(workspace: Workspace, *, trusted_s: float = 0.0) -> wire.Plan | None:
    """The latest committed plan.

    Args:
        workspace: The workspace.
        trusted_s: How long a plan already read is served without asking the store whether a
            newer one was committed. A plan committed by this process is seen at once; one
            committed by another process (another server on the database, the CLI) within
            this time. 0 asks on every call.

    Returns:
        The plan, with its id, or ``None`` when none was committed.
    """
    url = workspace.settings.database_url
    commits = _COMMITS.get(url, 0)
    checked_s = time.monotonic()
    cached = _LATEST.get(url)
    if (
        cached is not None
        and cached.commits == commits
        and checked_s - cached.checked_s < trusted_s
    ):
        return cached.plan
    with workspace.unit() as unit:
        repo = unit.repository(PlanRepository)
        plan_id = repo.latest_id()
        if plan_id is None:
            return None
        if cached is not None and cached.plan.plan_id == plan_id:
            plan = cached.plan
        else:
            found = repo.latest()
            assert found is not None
            plan = conversion.plan(found[1], plan_id=found[0])
    with _KEEPING:
        kept = _LATEST.get(url)
        # A slower read that found an older plan does not replace a newer one read meanwhile.
        if kept is None or (kept.plan.plan_id or 0) <= plan_id:
            _LATEST[url] = _Latest(plan, checked_s, commits)
    return plan


def _committed(url: str) -> None:
    """A plan was committed on this database by this process: trust no plan read before."""
    _COMMITS[url] = next(_COMMIT_COUNT)
