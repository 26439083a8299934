"""``/v1/decisions``: model decision records in, and what a regulator or a customer asks.

Who may do what (the baseline's roles, on the ``Ledger`` resource):

* send records: ``apply`` (an operator's key, or a model server's);
* counts per model version and outcome: ``read``;
* anything that opens a record's content or finds a subject's records (one record, its sheet, a
  proof with its opening, a subject's records, erasure, pruning): ``admin``. A subject is sent
  in a body, never in a URL, so that it stays out of access logs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field, JsonValue

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard
from keel.operations import MAX_DECISIONS

router = APIRouter(tags=["decisions"])

Admin = Annotated[Caller, Depends(guard("admin", "Ledger"))]
AdminChange = Annotated[Caller, Depends(guard("admin", "Ledger", mutates=True))]
RecordId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


class RecordsBody(Body):
    """A batch of decision records (see docs/decisions.md for the fields)."""

    records: list[dict[str, JsonValue]] = Field(min_length=1, max_length=MAX_DECISIONS)


class SubjectBody(Body):
    """A data subject, as the model server named it."""

    subject: str = Field(min_length=1, max_length=256)


class SubjectErasureBody(SubjectBody):
    """A subject whose records' contents to erase, and why."""

    reason: str = Field(min_length=1, max_length=4096)


@router.post("/v1/decisions", response_model=wire.DecisionsRecorded)
def record(
    body: RecordsBody,
    caller: Annotated[Caller, Depends(guard("apply", "Ledger", mutates=True))],
) -> wire.DecisionsRecorded:
    """Store a batch of decision records: all or none; ids already stored count as retries."""
    return caller.ops.record_decisions(body.records)


@router.get("/v1/decisions/summary", response_model=wire.DecisionSummary)
def summary(
    caller: Annotated[Caller, Depends(guard("read", "Ledger"))],
    model: Annotated[str | None, Query(max_length=127)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
) -> wire.DecisionSummary:
    """Counts per model version and outcome between two RFC 3339 times (default: 30 days)."""
    return caller.ops.decision_summary(model, since, until)


@router.post("/v1/decisions/searches", response_model=wire.Decisions)
def of_subject(body: SubjectBody, caller: Admin) -> wire.Decisions:
    """Every record about one subject, newest first, contents opened."""
    return caller.ops.decisions_of_subject(body.subject)


@router.post("/v1/decisions/erasures", response_model=wire.DecisionsForgotten)
def erase_subject(body: SubjectErasureBody, caller: AdminChange) -> wire.DecisionsForgotten:
    """Erase the contents of a subject's records; leaves and proofs stay valid."""
    return caller.ops.erase_subject(body.subject, body.reason)


@router.post("/v1/decisions/prunes", response_model=wire.DecisionsForgotten)
def prune(caller: AdminChange) -> wire.DecisionsForgotten:
    """Erase the contents of every record whose retention period ended."""
    return caller.ops.prune_decisions()


@router.get("/v1/decisions/{record_id}", response_model=wire.Decision)
def show(record_id: RecordId, caller: Admin) -> wire.Decision:
    """One record, its content opened while held."""
    return caller.ops.decision_record(record_id)


@router.get("/v1/decisions/{record_id}/proof", response_model=wire.DecisionProof)
def proof(record_id: RecordId, caller: Admin) -> wire.DecisionProof:
    """A record's tlog-proof and the opening of its content commitment."""
    return caller.ops.decision_proof(record_id)


@router.get("/v1/decisions/{record_id}/sheet", response_model=wire.DecisionSheet)
def sheet(record_id: RecordId, caller: Admin) -> wire.DecisionSheet:
    """A decision with its model version's approvals, training data and monitors at the time."""
    return caller.ops.decision_sheet(record_id)
