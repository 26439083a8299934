"""OpenLineage in (Marquez's path) and the lineage graph: walks, impact, erasure."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard
from keel.operations import MAX_PAGE
from keel.service import lineage

router = APIRouter(tags=["lineage"])

Read = Annotated[Caller, Depends(guard("read", "Resource/Lineage/graph"))]


class EraseBody(Body):
    """A dataset to erase."""

    node: str = Field(min_length=1, max_length=2048)
    reason: str = Field(min_length=1, max_length=4096)
    namespace: str | None = None


@router.post("/api/v1/lineage", status_code=201, response_model=wire.Ingested)
async def post_lineage(
    request: Request,
    _: Annotated[Caller, Depends(guard("apply", "Resource/Lineage/graph", mutates=True))],
) -> wire.Ingested:
    """Store one OpenLineage 2-0-2 event or a JSON array of them (all or none)."""
    events = lineage.parse_events(lineage.decode_body(await request.body()))
    found = await request.app.state.writes.submit(events)
    return wire.Ingested(
        accepted=found.accepted, duplicates=found.duplicates, external=found.external
    )


@router.get("/v1/lineage/show", response_model=wire.LineageView)
def lineage_show(
    node: str,
    caller: Read,
    direction: Literal["upstream", "downstream"] = "downstream",
    depth: Annotated[int, Query(ge=0, le=1000)] = 3,
    namespace: str | None = None,
) -> wire.LineageView:
    """The neighbourhood of a node (without the nodes the caller may not read)."""
    return caller.ops.lineage(node, direction=direction, depth=depth, namespace=namespace)


@router.get("/v1/lineage/impact", response_model=wire.Impact)
def lineage_impact(
    node: str,
    caller: Read,
    *,
    depth: Annotated[int | None, Query(ge=0, le=1000)] = None,
    namespace: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE)] = None,
    page: Annotated[str | None, Query(max_length=40)] = None,
) -> wire.Impact:
    """Everything downstream of a dataset (that the caller may read).

    With `limit` (or `page`), one page: the `limit` reached nodes with the smallest ids past the
    cursor, hidden ones left out before counting; `next_page` is the next page's cursor.
    """
    return caller.ops.impact(node, depth=depth, namespace=namespace, limit=limit, page=page)


@router.post("/v1/lineage/erasures", response_model=wire.Erasure)
def erase(
    body: EraseBody,
    caller: Annotated[Caller, Depends(guard("admin", "Resource/Lineage/graph", mutates=True))],
) -> wire.Erasure:
    """Erase a dataset's payloads, keep the graph, record it."""
    return caller.ops.erase(body.node, body.reason, namespace=body.namespace)
