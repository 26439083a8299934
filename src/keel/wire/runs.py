"""Runs and dispatch: placed work handed to engines, what Keel did about it, and why."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from keel.wire.base import Instant, JsonObject, Wire


class Transition(Wire):
    """A run entering a state."""

    state: str
    at: Instant


class Run(Wire):
    """One replica of a workload at a site and pool, handed to an engine."""

    workload: str
    replica: int = Field(description="Which replica at that site and pool (0-based).")
    site: str
    pool: str
    cluster: str
    engine: str = Field(description="local, ray, slurm or kubernetes.")
    name: str = Field(description="The job's name on the engine (its current attempt).")
    state: str = Field(
        description="submitting, pending, running, succeeded, failed, cancelled, rejected or"
        " unknown (the engine could not be asked)."
    )
    attempt: int
    service: bool = Field(description="Runs until stopped (online inference, agents).")
    wanted: bool = Field(
        description="Whether the plan asked for it at the last dispatch cycle (a plan committed"
        " since is taken into account by the next cycle)."
    )
    plan_id: int
    decision_index: int | None = Field(
        description="The ledger's placement.decided entry this run carries out."
    )
    engine_id: str | None = None
    node: str | None = None
    location: str | None = Field(
        default=None,
        description="Where the engine says it ran: Slurm partition, Ray site resource, Kueue"
        " queue.",
    )
    exit_code: int | None = None
    message: str = ""
    submitted_at: Instant | None = None
    started_at: Instant | None = None
    finished_at: Instant | None = None
    retry_at: Instant | None = None
    duration_s: float | None = None
    energy_kwh: float | None = None
    energy_source: str | None = Field(
        default=None,
        description="What measured energy_kwh (rapl, nvml), or 'estimated' (pool power x"
        " devices x measured duration x utilisation x PUE).",
    )
    history: list[Transition] = Field(default_factory=list)


class Runs(Wire):
    """Runs, and how many are in each state."""

    runs: list[Run]
    states: dict[str, int]


class Action(Wire):
    """One thing a dispatch cycle did (or, dry, would do)."""

    action: Literal["submit", "cancel", "retry", "update", "wait", "skip"] = Field(
        description="wait: a job (or chunk) the plan starts later (a plan over a horizon),"
        " submitted by the first cycle at or after its start; skip: a chunk whose time passed"
        " before any cycle could start it."
    )
    workload: str
    replica: int
    site: str
    pool: str
    cluster: str
    name: str
    detail: str = Field(description="Why, or what changed (pending -> running).")


class Undispatchable(Wire):
    """Placed work that has no engine to run on, and why (never silently dropped)."""

    workload: str
    site: str
    replicas: int
    reason: str


class EngineTrouble(Wire):
    """An engine that could not be asked; its runs are unknown, not failed.

    Once it stays unreachable for ``site_down_after_s``, the sites it serves count as down
    (``sites_down``, since ``down_since``) and the plan moves their work.
    """

    cluster: str
    message: str
    down_since: Instant | None = None
    sites_down: list[str] = Field(default_factory=list)


class Dispatch(Wire):
    """What one reconcile cycle found and did."""

    plan_id: int
    dry_run: bool
    actions: list[Action]
    undispatchable: list[Undispatchable]
    unreachable: list[EngineTrouble]
    states: dict[str, int] = Field(description="Runs the plan wants, by state, after the cycle.")
    jobs_active: int = Field(
        default=0, description="Jobs (not services) the plan wants that have not finished."
    )
    jobs_waiting: int = Field(
        default=0,
        description="Job runs held for a later start or chunk (a plan over a horizon).",
    )
    objects: list[JsonObject] = Field(
        default_factory=list,
        description="With dry_run: the Kubernetes objects that would be applied.",
    )
    cycle_s: float = Field(description="How long the cycle took, seconds.")
