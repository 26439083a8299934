"""``/v1/plans`` and ``/v1/policy``: plans, explanations, compliance and access decisions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime, Field, model_validator

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard
from keel.errors import NotFoundError
from keel.operations import Commit
from keel.service.planning import MAX_BUDGET_S
from keel.service.timing import MAX_HORIZON_H

router = APIRouter(tags=["plans"])

Objective = Literal["cost", "carbon", "latency", "balanced"]
Solver = Literal["fast", "exact"]


class PlanBody(Body):
    """How to plan."""

    objective: Objective = "balanced"
    solver: Solver = "fast"
    seed: int = 0
    commit: Commit = Field(
        default="changed",
        description="changed: only when the plan differs from the latest (never with diff)",
    )
    diff: bool = False
    horizon_h: int | None = Field(
        default=None,
        ge=1,
        le=MAX_HORIZON_H,
        description="Schedule the jobs over this many hours of the server's grid series too.",
    )
    start: AwareDatetime | None = Field(
        default=None, description="The horizon's first hour (UTC offset required; now if unset)."
    )
    signal: Literal["carbon_location", "carbon_marginal"] = "carbon_location"
    budget_s: float | None = Field(
        default=None,
        gt=0,
        le=MAX_BUDGET_S,
        description="The fast solver returns its best plan after this many seconds (the plan"
        " then depends on the server's speed); none: no budget.",
    )
    energy_price: bool = Field(
        default=False,
        description="Price owned sites' electricity by the hour too (their zone's day-ahead"
        " price); needs horizon_h.",
    )

    @model_validator(mode="after")
    def _start_needs_horizon(self) -> PlanBody:
        if self.start is not None and self.horizon_h is None:
            raise ValueError("start needs horizon_h (the hours to schedule from it)")
        if self.energy_price and self.horizon_h is None:
            raise ValueError("energy_price needs horizon_h (electricity is priced by the hour)")
        return self


@router.post("/v1/plans", response_model=wire.Plan)
def plan(
    body: PlanBody,
    caller: Annotated[Caller, Depends(guard("plan", "Workload/*", mutates=True))],
) -> wire.Plan:
    """Compute a plan for every workload and commit it if it changed; with diff, what moved."""
    return caller.ops.plan(
        objective=body.objective,
        solver=body.solver,
        seed=body.seed,
        commit=body.commit,
        diff=body.diff,
        horizon_h=body.horizon_h,
        start=body.start,
        signal=body.signal,
        energy_price=body.energy_price,
        budget_s=body.budget_s,
    )


@router.get("/v1/plans/latest", response_model=wire.Plan)
def latest_plan(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Plan/latest"))],
) -> wire.Plan:
    """The latest committed plan (placements of the workloads the caller may read)."""
    return caller.ops.latest_plan()


@router.get("/v1/plans/latest/workloads/{workload}", response_model=wire.WorkloadPlacement)
def placement_of(
    workload: str, caller: Annotated[Caller, Depends(guard("read", "Workload/{workload}"))]
) -> wire.WorkloadPlacement:
    """One workload in the latest committed plan: its placements or why it is unplaced."""
    found = caller.ops.latest_plan()
    placed = [p for p in found.placements if p.workload == workload]
    unplaced = [u for u in found.unplaced if u.workload == workload]
    if not placed and not unplaced:
        raise NotFoundError(f"Workload/{workload} is not in plan {found.plan_id}")
    assert found.plan_id is not None
    return wire.WorkloadPlacement(
        plan_id=found.plan_id, workload=workload, placements=placed, unplaced=unplaced
    )


@router.get("/v1/plans/explanations/{workload}", response_model=wire.Explanation)
def explanation(
    workload: str,
    caller: Annotated[Caller, Depends(guard("read", "Workload/{workload}"))],
    objective: Objective = "balanced",
    solver: Solver = "fast",
    seed: int = 0,
) -> wire.Explanation:
    """Why a workload would be placed where it is: options, alternatives, rejected sites."""
    return caller.ops.explain(workload, objective=objective, solver=solver, seed=seed)


@router.get("/v1/policy/decisions/{workload}", response_model=wire.PolicyDecision, tags=["policy"])
def decision(
    workload: str, caller: Annotated[Caller, Depends(guard("read", "Workload/{workload}"))]
) -> wire.PolicyDecision:
    """The compliance decision for one workload, with every rule that fired."""
    return caller.ops.decision(workload)


@router.get("/v1/access/decisions", response_model=wire.AccessDecision, tags=["policy"])
def access_decision(
    principal: Annotated[str, Query(min_length=1, max_length=512)],
    action: Annotated[str, Query(min_length=1, max_length=64)],
    resource: Annotated[str, Query(min_length=1, max_length=1024)],
    caller: Annotated[Caller, Depends(guard("admin", "Resource/Access/decisions"))],
) -> wire.AccessDecision:
    """Whether a principal may do an action to a resource (who may do what is an admin's)."""
    return caller.ops.check_access(principal, action, resource)
