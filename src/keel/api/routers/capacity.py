"""``/v1/capacity``: demand from Keel's own runs, and the recorded capacity advice.

Who may: the demand history is the runs' read (``Resource/Runs/all``); a caller sees the demand
of the workloads it may read only, as with the runs themselves. Advice is
``Resource/Capacity/all``'s read; which workload each trace class behaved as reads
``(withheld)`` for a workload the caller may not read. Traces are files on the machine that
runs ``keel capacity``; the server reads none, so advice is made there and only served here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from keel import wire
from keel.api.security import Caller, guard

router = APIRouter(tags=["capacity"])


@router.get("/v1/capacity/history", response_model=wire.CapacityHistory)
def history(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Runs/all"))],
    step_s: Annotated[int, Query(ge=60, le=31 * 86_400)] = 3600,
    by: Literal["pool", "workload"] = "pool",
    top: Annotated[int | None, Query(ge=1, le=10_000)] = 8,
) -> wire.CapacityHistory:
    """Devices in use and arrivals per pool (or workload), from the runs Keel dispatched."""
    return caller.ops.capacity_history(step_s=step_s, by=by, top=top)


@router.get("/v1/capacity/advice", response_model=wire.AdviceList)
def advice_list(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Capacity/all"))],
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> wire.AdviceList:
    """The newest recorded ``keel capacity advise`` runs, summarised."""
    return caller.ops.capacity_advice_list(limit=limit)


@router.get("/v1/capacity/advice/latest", response_model=wire.CapacityAdvice)
def latest_advice(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Capacity/all"))],
) -> wire.CapacityAdvice:
    """The newest advice run, whole: evidence digests, frontier, baselines and replays."""
    return caller.ops.capacity_advice()


@router.get("/v1/capacity/advice/{advice_id}", response_model=wire.CapacityAdvice)
def one_advice(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Capacity/all"))],
    advice_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> wire.CapacityAdvice:
    """One advice run, whole."""
    return caller.ops.capacity_advice(advice_id)
