"""``/v1/models``: the registry, evaluations, transitions, approvals, aliases, fact sheets."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import Field

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard

router = APIRouter(tags=["models"])

Change = Annotated[Caller, Depends(guard("apply", "ModelVersion/{ref}", mutates=True))]


class EvaluationBody(Body):
    """One evaluation result."""

    kind: Literal["benchmark", "probe"]
    name: str = Field(min_length=1, max_length=128)
    passed: bool
    score: float | None = None


class EvaluationsBody(Body):
    """Evaluation results of a model version."""

    results: list[EvaluationBody] = Field(min_length=1, max_length=256)


class PromoteBody(Body):
    """A lifecycle transition."""

    to: Literal["validated", "draft", "retired"]
    reason: str = Field(default="", max_length=4096)


class AliasBody(Body):
    """An alias to point at a version."""

    alias: str = Field(min_length=1, max_length=63)


@router.get("/v1/models", response_model=wire.ModelVersions)
def models(
    caller: Annotated[Caller, Depends(guard("read", "Resource/Registry/all"))],
    model: str | None = None,
) -> wire.ModelVersions:
    """Every registered version the caller may read, with its state."""
    return caller.ops.models(model)


@router.get("/v1/models/{ref}", response_model=wire.ModelVersionDetail)
def model(
    ref: str, caller: Annotated[Caller, Depends(guard("read", "ModelVersion/{ref}"))]
) -> wire.ModelVersionDetail:
    """One version: state, evaluations, approvals, history with ledger indices."""
    return caller.ops.model(ref)


@router.get("/v1/models/{ref}/factsheet", response_model=wire.Text)
def factsheet(
    ref: str,
    caller: Annotated[Caller, Depends(guard("read", "ModelVersion/{ref}"))],
    format: Literal["md", "json", "html"] = "md",
) -> wire.Text:
    """An EU AI Act Annex IV-style fact sheet, with verified ledger proofs."""
    return caller.ops.factsheet(ref, format)


@router.post("/v1/models/{ref}/evaluations", response_model=wire.ModelVersionDetail)
def evaluate(ref: str, body: EvaluationsBody, caller: Change) -> wire.ModelVersionDetail:
    """Record evaluation results."""
    results = [wire.Evaluation(**r.model_dump()) for r in body.results]
    return caller.ops.evaluate(ref, results)


@router.post("/v1/models/{ref}/transitions", response_model=wire.ModelVersionDetail)
def promote(ref: str, body: PromoteBody, caller: Change) -> wire.ModelVersionDetail:
    """Move a version to validated, back to draft, or to retired."""
    return caller.ops.promote(ref, body.to, body.reason)


@router.post("/v1/models/{ref}/aliases", response_model=wire.ModelVersionDetail)
def alias(ref: str, body: AliasBody, caller: Change) -> wire.ModelVersionDetail:
    """Point MODEL@ALIAS at this version."""
    return caller.ops.alias(ref, body.alias)


@router.post("/v1/models/{ref}/approvals", response_model=wire.ModelVersionDetail)
def approve(
    ref: str,
    caller: Annotated[Caller, Depends(guard("approve", "ModelVersion/{ref}", mutates=True))],
) -> wire.ModelVersionDetail:
    """Approve a validated version (two approvers for high risk; never the registrant)."""
    return caller.ops.approve(ref)
