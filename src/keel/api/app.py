"""The HTTP API (for now: health, OpenLineage ingestion and lineage queries).

``POST /api/v1/lineage`` takes the same path and payload as Marquez, so OpenLineage clients and
integrations (Airflow, Spark, dbt) can point at Keel unchanged. The server binds to loopback by
default and does not authenticate yet: put it behind an authenticating proxy before exposing it.
"""

from __future__ import annotations

import asyncio
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


class GroupCommit:
    """Concurrent ingest requests share one transaction.

    Each request's events wait in a queue; one writer takes everything queued, stores it in one
    transaction (:func:`keel.service.lineage.ingest_batches`) and answers each request with its
    own result. While a transaction runs, the next requests gather behind it, so the commit
    cost is shared under load and a lone request waits for no timer.

    Args:
        workspace: The workspace to store into.
        max_batches: Most requests in one transaction.
    """

    def __init__(self, workspace: Workspace, max_batches: int = 512) -> None:
        self.workspace = workspace
        self.max_batches = max_batches
        self.queue: asyncio.Queue[tuple[list[Any], asyncio.Future[Any]]] = asyncio.Queue()
        self.writer: asyncio.Task[None] | None = None

    async def submit(self, events: list[Any]) -> lineage.IngestResult:
        """Queue a request's events and wait for their transaction.

        Args:
            events: Valid events.

        Returns:
            What was stored of them.
        """
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self.queue.put((events, done))
        result: lineage.IngestResult = await done
        return result

    async def _write(self) -> None:
        while True:
            waiting = [await self.queue.get()]
            while not self.queue.empty() and len(waiting) < self.max_batches:
                waiting.append(self.queue.get_nowait())
            try:
                results = await run_in_threadpool(
                    lineage.ingest_batches, self.workspace, [events for events, _ in waiting]
                )
            except Exception as error:  # every waiting request gets the transaction's failure
                for _, done in waiting:
                    if not done.done():
                        done.set_exception(error)
                continue
            for (_, done), result in zip(waiting, results, strict=True):
                if not done.done():
                    done.set_result(result)


def create_app(workspace: Workspace) -> FastAPI:
    """The API over one workspace.

    Args:
        workspace: The open workspace the API serves.

    Returns:
        The ASGI app.
    """
    writes = GroupCommit(workspace)
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
        result = await writes.submit(events)
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
