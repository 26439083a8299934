"""``/v1/readiness``: the readiness and maturity index, computed from the estate.

Who may: reading the latest assessment is ``read``; assessing writes the ledger and is
``apply`` (operators). Scores cover the whole estate; the names in their evidence that the
caller may not read are withheld (and counted).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard

router = APIRouter(tags=["readiness"])

RESOURCE = "Resource/Readiness/all"


class AssessBody(Body):
    """Nothing to choose: an assessment reads the whole estate and its records."""


@router.get("/v1/readiness", response_model=wire.Readiness)
def latest(caller: Annotated[Caller, Depends(guard("read", RESOURCE))]) -> wire.Readiness:
    """The latest assessment with its trend (404 before the first)."""
    return caller.ops.readiness()


@router.post("/v1/readiness", response_model=wire.Readiness)
def assess(
    body: AssessBody,
    caller: Annotated[Caller, Depends(guard("apply", RESOURCE, mutates=True))],
) -> wire.Readiness:
    """Assess now: score the estate, store the assessment, record it in the ledger."""
    return caller.ops.assess_readiness()
