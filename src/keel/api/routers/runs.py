"""``/v1/dispatch`` and ``/v1/runs``: hand the plan to the engines; runs, their logs, stopping.

Who may: dispatching and cancelling are ``deploy`` (operators); reading runs is ``read``, and a
list leaves out the runs of workloads the caller may not read; a run's output may hold its data,
so reading logs is ``deploy`` on the workload too. Local clusters are never dispatched through
the API: their jobs would run on the server's machine as the server's user.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard

router = APIRouter(tags=["runs"])

NAME = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"


class DispatchBody(Body):
    """How to dispatch."""

    dry_run: bool = Field(default=False, description="Report what would be done; do nothing.")


class CancelBody(Body):
    """Which runs to stop."""

    workload: str | None = Field(
        default=None, pattern=NAME, description="One workload's runs; every run when absent."
    )


@router.post("/v1/dispatch", response_model=wire.Dispatch)
def dispatch(
    body: DispatchBody,
    caller: Annotated[Caller, Depends(guard("deploy", "Workload/*", mutates=True))],
) -> wire.Dispatch:
    """One reconcile cycle: submit what the latest plan wants, cancel what it no longer does."""
    return caller.ops.dispatch(dry_run=body.dry_run)


@router.get("/v1/runs", response_model=wire.Runs)
def runs(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Runs/all"))],
    workload: Annotated[str | None, Query(pattern=NAME)] = None,
    every: Annotated[bool, Query(alias="all")] = False,
) -> wire.Runs:
    """Runs the latest plan wants (every run with all=true), of workloads the caller reads."""
    return caller.ops.runs(workload, every=every)


@router.get("/v1/runs/{workload}/logs", response_model=wire.Text)
def logs(
    workload: Annotated[str, Path(pattern=NAME)],
    caller: Annotated[Caller, Depends(guard("deploy", "Workload/{workload}"))],
    replica: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> wire.Text:
    """The end of a workload's latest run's output (64 KiB at most)."""
    return caller.ops.run_logs(workload, replica=replica)


@router.post("/v1/runs/cancel", response_model=wire.Runs)
def cancel(
    body: CancelBody,
    caller: Annotated[Caller, Depends(guard("deploy", "Workload/*", mutates=True))],
) -> wire.Runs:
    """Stop runs; they stay stopped until the plan asks for something new."""
    return caller.ops.cancel_runs(body.workload)
