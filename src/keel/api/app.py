"""The HTTP API: ``/v1`` routes over the service layer, the dashboard, health.

Every route but ``/healthz`` and the dashboard's sign-in form requires an API key and the
access policy's permission (see :mod:`keel.api.security`). ``POST /api/v1/lineage`` takes the
same path and payload as Marquez, so OpenLineage clients and integrations can point at Keel
unchanged. Errors have one JSON shape, ``{"error": {"code", "message", "hint"?}}``, whatever
fails: Keel's own errors, unknown paths and methods (404, 405), invalid requests (422),
oversized bodies (413) and headers (431), and unexpected failures (500, with an id to find
the logged traceback by, and nothing else).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keel import __version__
from keel.api import dashboard
from keel.api.dashboard import error_page, is_page, wants_page
from keel.api.routers import ROUTERS
from keel.api.security import (
    LOG,
    ApiSettings,
    Denials,
    Guards,
    RateLimiter,
    SharedRateLimiter,
    retry_after,
    security_headers,
)
from keel.errors import (
    AuthenticationError,
    ConfigError,
    KeelError,
    Problem,
    RateLimitError,
    RequestError,
)
from keel.service import access, lineage
from keel.service.workspace import Workspace


class BodyLimit:
    """Refuses a request body over a size with 413, before or while it is read.

    Args:
        app: The wrapped app.
        max_bytes: The limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on, counting its body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLargeError
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLargeError:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        message = f"the body is over {self.max_bytes} bytes"
        response = JSONResponse({"error": {"code": "E-USER", "message": message}}, status_code=413)
        await response({"type": "http"}, _nothing, send)


class _TooLargeError(Exception):
    pass


class HeaderLimit:
    """Refuses a request whose headers total more than a size with 431, before any route.

    Args:
        app: The wrapped app.
        max_bytes: The limit on names and values together.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on unless its headers are too large."""
        if scope["type"] == "http":
            size = sum(len(name) + len(value) for name, value in scope["headers"])
            if size > self.max_bytes:
                message = f"the request headers total {size} bytes, over {self.max_bytes}"
                body = {"error": {"code": "E-USER", "message": message}}
                await JSONResponse(body, status_code=431)({"type": "http"}, _nothing, send)
                return
        await self.app(scope, receive, send)


async def _nothing() -> Message:
    return {"type": "http.disconnect"}


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


def _handle_errors(app: FastAPI) -> None:
    """Every error as a JSON body of the E- shape; the security headers on every response."""

    @app.exception_handler(KeelError)
    async def keel_error(request: Request, error: KeelError) -> Response:
        if isinstance(error, AuthenticationError) and is_page(request.url.path):
            return RedirectResponse("/ui/login", status_code=303)
        headers = {}  # the security headers come from the middleware, like every response's
        if isinstance(error, RateLimitError):
            headers["Retry-After"] = retry_after(error)
        if isinstance(error, AuthenticationError):
            headers["WWW-Authenticate"] = 'Bearer realm="keel"'
        if wants_page(request):
            problems = [str(p) for p in error.problems]
            page = error_page(
                request, error.http_status, error.code, error.message, hint=error.hint,
                problems=problems,
            )  # fmt: skip
            page.headers.update(headers)
            return page
        return JSONResponse(error.to_body(), status_code=error.http_status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        problems = [
            Problem(
                "<request>", 0, "", ".".join(str(p) for p in e.get("loc", ())), e.get("msg", "")
            )
            for e in error.errors()
        ]
        invalid = RequestError("the request is invalid", problems)
        if wants_page(request):
            shown = [str(p) for p in problems]
            return error_page(request, 422, invalid.code, invalid.message, problems=shown)
        return JSONResponse(invalid.to_body(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        code = "E-NOT-FOUND" if error.status_code == 404 else "E-USER"
        message = {
            404: f"no route {request.url.path}",
            405: f"{request.method} is not allowed on {request.url.path}",
        }.get(error.status_code, str(error.detail))
        if wants_page(request):
            page = error_page(request, error.status_code, code, message)
            page.headers.update(error.headers or {})
            return page
        body = {"error": {"code": code, "message": message}}
        return JSONResponse(body, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        incident = secrets.token_hex(6)
        LOG.error("incident %s: %s %s", incident, request.method, request.url.path, exc_info=error)
        message = f"internal error (incident {incident}, in the server's log)"
        if wants_page(request):
            return error_page(request, 500, "E-INTERNAL", message)
        return JSONResponse({"error": {"code": "E-INTERNAL", "message": message}}, 500)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        for name, value in security_headers().items():
            response.headers.setdefault(name, value)
        return response


def create_app(workspace: Workspace, settings: ApiSettings | None = None) -> FastAPI:
    """The API over one workspace.

    Args:
        workspace: The open workspace the API serves.
        settings: Rate limits, body size, CORS; the defaults when ``None``.

    Returns:
        The ASGI app.
    """
    settings = settings or ApiSettings()
    app = FastAPI(
        title="Keel",
        version=__version__,
        description="Control plane for hybrid AI infrastructure. Every route but /healthz "
        "needs `Authorization: Bearer <API key>` (keel token create).",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    shared = settings.shared_limits
    if shared is None:
        shared = workspace.database.dialect == "postgresql"

    def limiter(scope: str, rate_per_s: float, burst: int) -> RateLimiter:
        if shared:
            return SharedRateLimiter(workspace, scope, rate_per_s, burst)
        return RateLimiter(rate_per_s, burst)

    guards = Guards(
        workspace,
        access.Gate(workspace, settings.auth_cache_s),
        limiter("requests", settings.rate_per_s, settings.burst),
        limiter("failures", settings.failures_per_s, settings.failure_burst),
        Denials(workspace, settings.denial_flush_s),
        plan_cache_s=settings.plan_cache_s,
    )
    app.state.guards = guards
    app.state.writes = GroupCommit(workspace)

    _handle_errors(app)
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(dashboard.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeaderLimit, max_bytes=settings.max_header_bytes)
    return app


WORKER_SETTINGS = "KEEL_SERVE_WORKER"
"""Where ``keel serve --workers N`` leaves the one document its workers start from."""


def worker_settings(workspace: Workspace, settings: ApiSettings) -> str:
    """Everything a worker process needs, as one JSON document (see :func:`factory`).

    Args:
        workspace: The workspace the server serves (its folder and database URL travel).
        settings: The API's settings, every field of them.

    Returns:
        The document.
    """
    return json.dumps(
        {
            "workspace": str(workspace.settings.workspace),
            "database_url": workspace.settings.database_url,
            "api": dataclasses.asdict(settings),
        }
    )


def factory() -> FastAPI:
    """The app of one worker of ``keel serve --workers N`` (``uvicorn --factory``).

    uvicorn starts workers from an import string, so the parent hands them one document (see
    :func:`worker_settings`) instead of arguments; nothing else of the environment is read.

    Returns:
        The app, with exactly the parent's settings.

    Raises:
        ConfigError: If the process was not started by ``keel serve``.
    """
    raw = os.environ.get(WORKER_SETTINGS)
    if raw is None:
        raise ConfigError(f"{WORKER_SETTINGS} is missing: start workers with keel serve --workers")
    document = json.loads(raw)
    api = document["api"] | {"cors_origins": tuple(document["api"]["cors_origins"])}
    workspace = Workspace.open(document["workspace"], database_url=document["database_url"])
    return create_app(workspace, ApiSettings(**api))
