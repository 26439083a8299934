"""``/v1/capacity``: demand from Keel's own runs.

Who may: reading it is the runs' read (``Resource/Runs/all``); a caller sees the demand of the
workloads it may read only, as with the runs themselves. Traces are files on the machine that
runs ``keel capacity``; the server reads none.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

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
