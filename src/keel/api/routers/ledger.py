"""``/v1/ledger``: checkpoints, entries, proofs, verification, appends, keys, erasure."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import PlainTextResponse
from pydantic import Field, JsonValue

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard

router = APIRouter(tags=["ledger"])

MAX_INDEX = 2**53
"""Largest ledger index a request may name (beyond any log, within every database's integers)."""

TEXT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}}
}
"""The OpenAPI description of a text answer (a signed note, a proof, a key)."""

Read = Annotated[Caller, Depends(guard("read", "Ledger"))]
Admin = Annotated[Caller, Depends(guard("admin", "Ledger", mutates=True))]


class EntriesBody(Body):
    """Decision records to append to the ledger."""

    entries: list[dict[str, JsonValue]] = Field(min_length=1, max_length=1000)


class PersonalErasureBody(Body):
    """A personal value to erase."""

    commitment: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    reason: str = Field(min_length=1, max_length=4096)


@router.get("/v1/ledger/checkpoint", response_class=PlainTextResponse, responses=TEXT)
def checkpoint(caller: Read) -> str:
    """The latest signed checkpoint (a C2SP signed note)."""
    return caller.ops.latest_checkpoint()


@router.post("/v1/ledger/checkpoints", response_class=PlainTextResponse, responses=TEXT)
def sign_checkpoint(
    caller: Annotated[Caller, Depends(guard("apply", "Ledger", mutates=True))],
) -> str:
    """Sign a checkpoint of the log as it is now."""
    return caller.ops.checkpoint()


@router.get("/v1/ledger/pubkey", response_class=PlainTextResponse, responses=TEXT)
def pubkey(caller: Read) -> str:
    """The log's public key (what an auditor verifies proofs with)."""
    return caller.ops.pubkey()


@router.post("/v1/ledger/keys", response_class=PlainTextResponse, responses=TEXT)
def rotate_key(caller: Admin) -> str:
    """Replace the signing key; the rotation is an entry signed by both keys."""
    return caller.ops.rotate_key()


@router.get("/v1/ledger/entries", response_model=wire.LedgerEntries)
def entries(
    caller: Read,
    start: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> wire.LedgerEntries:
    """Entries from an index on (personal values only as commitments)."""
    return caller.ops.entries(start, limit)


@router.post("/v1/ledger/entries", response_model=wire.Appended)
def append_entries(
    body: EntriesBody,
    caller: Annotated[Caller, Depends(guard("apply", "Ledger", mutates=True))],
) -> wire.Appended:
    """Append decision records from another system; each is marked with its principal."""
    return caller.ops.record(body.entries)


@router.get("/v1/ledger/proofs/{index}", response_class=PlainTextResponse, responses=TEXT)
def proof(index: Annotated[int, Path(ge=0, le=MAX_INDEX)], caller: Read) -> str:
    """A C2SP tlog-proof that an entry is in the latest checkpoint."""
    return caller.ops.prove(index)


@router.get("/v1/ledger/verification", response_model=wire.Verification)
def verification(
    caller: Read, key: Annotated[list[str] | None, Query(max_length=16)] = None
) -> wire.Verification:
    """Recompute the log and check every checkpoint (against ``key``s, or the server's)."""
    return caller.ops.verify(key or ())


@router.post("/v1/ledger/erasures", status_code=204)
def erase_personal(body: PersonalErasureBody, caller: Admin) -> Response:
    """Erase a personal value; entries, checkpoints and proofs stay valid."""
    caller.ops.erase_personal(body.commitment, body.reason)
    return Response(status_code=204)
