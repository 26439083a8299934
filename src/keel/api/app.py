"""The HTTP API (for now: health, OpenLineage ingestion and lineage queries).

``POST /api/v1/lineage`` takes the same path and payload as Marquez, so OpenLineage clients and
integrations (Airflow, Spark, dbt) can point at Keel unchanged. The server binds to loopback by
default and does not authenticate yet: put it behind an authenticating proxy before exposing it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from keel import __version__
from keel.errors import EventError, ForbiddenError, KeelError, NotFoundError, StoreError, UserError
from keel.service import lineage
from keel.service.workspace import Workspace

MAX_BODY_BYTES = lineage.MAX_EVENT_BYTES * 16
"""Largest request body read (16 MiB); a larger one gets 413 before it is read."""


def _status(error: KeelError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ForbiddenError):
        return 403
    if isinstance(error, UserError):
        return 400
    if isinstance(error, StoreError):
        return 503
    return 500


def error_body(error: KeelError) -> dict[str, Any]:
    """The one JSON shape of every error.

    Args:
        error: The error.

    Returns:
        ``{"error": {"code", "message", "hint", ...}}`` with the event's location for
        ``E-EVENT``.
    """
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.hint:
        body["hint"] = error.hint
    if isinstance(error, EventError):
        body |= {"index": error.index, "path": error.path, "schema_path": error.schema_path}
    return {"error": body}


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BodyTooLargeError
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


class _BodyTooLargeError(Exception):
    pass


def create_app(workspace: Workspace) -> FastAPI:
    """The API over one workspace.

    Args:
        workspace: The open workspace the API serves.

    Returns:
        The ASGI app.
    """
    app = FastAPI(
        title="Keel",
        version=__version__,
        docs_url=None,
        redoc_url=None,
    )

    @app.exception_handler(KeelError)
    async def keel_error(_request: Request, error: KeelError) -> JSONResponse:
        return JSONResponse(error_body(error), status_code=_status(error))

    @app.exception_handler(_BodyTooLargeError)
    async def too_large(_request: Request, _error: _BodyTooLargeError) -> JSONResponse:
        message = f"the body is over {MAX_BODY_BYTES} bytes"
        return JSONResponse({"error": {"code": "E-USER", "message": message}}, status_code=413)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/lineage", status_code=201)
    async def post_lineage(request: Request) -> dict[str, Any]:
        """Store one OpenLineage event, or a JSON array of them (all or none)."""
        events = lineage.parse_events(lineage.decode_body(await _body(request)))
        result = await run_in_threadpool(lineage.ingest, workspace, events)
        return {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "external": result.external,
        }

    @app.get("/api/v1/lineage/show")
    def get_lineage(
        node: str,
        direction: Annotated[str, Query(pattern="^(upstream|downstream)$")] = "downstream",
        depth: Annotated[int, Query(ge=0, le=1000)] = 3,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """The neighbourhood of a node."""
        view = lineage.show(
            workspace,
            node,
            namespace=namespace,
            direction="upstream" if direction == "upstream" else "downstream",
            depth=depth,
        )
        return {
            "root": lineage.node_json(view.root),
            "nodes": [{**lineage.node_json(n), "depth": d} for n, d in view.nodes],
            "edges": [
                {"from": lineage.label(s), "to": lineage.label(t), "kind": k}
                for s, t, k in view.edges
            ],
            "truncated": view.truncated,
        }

    @app.get("/api/v1/lineage/impact")
    def get_impact(
        node: str,
        depth: Annotated[int | None, Query(ge=0, le=1000)] = None,
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """Everything downstream of a dataset."""
        return lineage.impact_json(
            lineage.impact(workspace, node, namespace=namespace, depth=depth)
        )

    return app
