"""``/v1/monitors`` and ``/metrics``: monitor runs, alerts, Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
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


@router.get("/metrics", response_class=PlainTextResponse, responses=TEXT)
def metrics(caller: Annotated[Caller, Depends(guard("read", "Resource/Metrics/all"))]) -> str:
    """Monitor results in the Prometheus text format."""
    return caller.ops.metrics()
