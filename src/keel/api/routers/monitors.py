"""``/v1/monitors`` and ``/metrics``: monitor runs, alerts, Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import Field

from keel import wire
from keel.api.routers.body import Body
from keel.api.routers.ledger import TEXT
from keel.api.security import Caller, guard

router = APIRouter(tags=["monitors"])


class RunBody(Body):
    """Which monitors to run."""

    name: str | None = Field(default=None, max_length=63)
    due: bool = False


@router.post("/v1/monitors/runs", response_model=wire.MonitorRuns)
def run(
    body: RunBody,
    caller: Annotated[Caller, Depends(guard("apply", "Resource/Monitor/all", mutates=True))],
) -> wire.MonitorRuns:
    """Run monitors now: check, store, alert (deduplicated), record in the ledger."""
    return caller.ops.run_monitors(body.name, due=body.due)


@router.get("/v1/monitors/alerts", response_model=wire.Alerts)
def alerts(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Monitor/all"))],
    every: Annotated[bool, Query(alias="all")] = False,
) -> wire.Alerts:
    """Alerts (firing ones unless all=true)."""
    return caller.ops.alerts(every=every)


@router.get("/v1/monitors/checks", response_model=wire.MonitorChecks)
def checks(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Monitor/all"))],
) -> wire.MonitorChecks:
    """The latest check of every monitor: drift per column, metrics, conditions."""
    return caller.ops.monitor_checks()


class DecisionBody(Body):
    """An approver's decision on a monitor action."""

    approve: bool
    reason: str = Field(default="", max_length=1000)


class ReleaseBody(Body):
    """Why a workload goes back to its manifest."""

    reason: str = Field(min_length=1, max_length=1000)


@router.get("/v1/monitors/actions", response_model=wire.MonitorActions)
def actions(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Monitor/all"))],
    workload: Annotated[str | None, Query(max_length=63)] = None,
    state: Annotated[str | None, Query(max_length=16)] = None,
) -> wire.MonitorActions:
    """Monitor actions (rollback, replan, pause, notify), newest first, at most 1,000."""
    return caller.ops.monitor_actions(workload=workload, state=state)


@router.post("/v1/monitors/actions/{action_id}/decisions", response_model=wire.MonitorAction)
def decide(
    action_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: DecisionBody,
    caller: Annotated[Caller, Depends(guard("approve", "Resource/Monitor/all", mutates=True))],
) -> wire.MonitorAction:
    """Approve or reject an action that waits for an approver.

    The approver needs ``approve`` on the action's workload and never ran the monitor.
    """
    return caller.ops.decide_action(action_id, approve=body.approve, reason=body.reason)


@router.get("/v1/workloads/{workload}/serving", response_model=wire.Serving, tags=["monitors"])
def serving(
    workload: str,
    caller: Annotated[Caller, Depends(guard("read", "Workload/{workload}"))],
) -> wire.Serving:
    """What a workload serves, and whether a monitor paused it; model servers poll this.

    A monitor's rollback may serve an earlier version than the manifest's.
    """
    return caller.ops.serving(workload)


@router.post("/v1/workloads/{workload}/releases", response_model=wire.Serving, tags=["monitors"])
def release(
    workload: str,
    body: ReleaseBody,
    caller: Annotated[Caller, Depends(guard("approve", "Workload/{workload}", mutates=True))],
) -> wire.Serving:
    """Hand a workload back to its manifest: lift a monitor's rollback and pause."""
    return caller.ops.release(workload, reason=body.reason)


@router.get("/metrics", response_class=PlainTextResponse, responses=TEXT)
def metrics(caller: Annotated[Caller, Depends(guard("read", "Resource/Metrics/all"))]) -> str:
    """Monitor results in the Prometheus text format."""
    return caller.ops.metrics()
