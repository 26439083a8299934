"""``keel gateway``: the MCP gateway for one agent, over stdio or streamable HTTP.

The gateway is an MCP server to the agent and an MCP client to the servers in its file
(:mod:`keel.gateway.upstreams`). Each call is checked (:mod:`keel.gateway.proxy`) and
recorded before the agent gets its answer: a ledger entry and a row for ``keel agents
calls``. Calls that finish together are written in one transaction (group commit), so
recording costs one commit per batch, not per call; a call whose record fails is answered
with an error, never with its result.

Running an agent is an operator's act (``deploy`` on ``Workload/*``): the person starting a
stdio gateway, and every key presented to the HTTP gateway, must be allowed it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from keel.errors import KeelError
from keel.gateway import screening
from keel.gateway.proxy import PRINCIPAL_SCOPE_KEY, Call, Gateway
from keel.gateway.upstreams import load
from keel.service import access, gateway, tokens
from keel.service.actor import Actor
from keel.service.workspace import Workspace


class GroupCommit:
    """Records calls in batches: whoever finds others waiting writes them all.

    Args:
        write: Writes a batch in one transaction; returns the first ledger index.
    """

    def __init__(self, write: Callable[[list[Call]], int]) -> None:
        self._write = write
        self._pending: list[tuple[Call, list[int | BaseException]]] = []
        self._lock = anyio.Lock()
        self.batches = 0

    async def record(self, call: Call) -> int:
        """Record a call durably; its ledger index.

        Raises:
            Exception: Whatever writing the batch raised (the call must then be refused).
        """
        slot: list[int | BaseException] = []
        self._pending.append((call, slot))
        async with self._lock:
            if not slot:
                batch, self._pending = self._pending, []
                try:
                    first: int | BaseException = await anyio.to_thread.run_sync(
                        self._write, [c for c, _ in batch]
                    )
                except Exception as exc:  # every waiter of the batch learns it failed
                    first = exc
                self.batches += 1
                for i, (_, waiting) in enumerate(batch):
                    waiting.append(first if isinstance(first, BaseException) else first + i)
        found = slot[0]
        if isinstance(found, BaseException):
            raise found
        return found


def open_gateway(workspace: Workspace, agent: str, config: Path, *, actor: Actor) -> Gateway:
    """The gateway for ``agent`` with the servers of ``config`` (not yet connected).

    Raises:
        NotFoundError: If the agent is not in the estate.
        RefusedError: If the actor may not run agents.
        UserError: If the file is unreadable or invalid.
    """
    access.authorize(workspace, actor, [("deploy", "Workload/*")])
    spec = gateway.agent_spec(workspace, agent)
    upstreams = load(config)
    commit = GroupCommit(
        lambda batch: gateway.record_calls(workspace, batch, actor=actor.principal)
    )
    grant = screening.Grant(tools=frozenset(spec.tools))
    return Gateway(agent, grant, spec.max_classification, upstreams, commit.record)


async def serve_stdio(found: Gateway) -> None:
    """Serve the agent on this process's stdin and stdout until it closes them."""
    from mcp.server.stdio import stdio_server

    async with found:
        server = found.server()
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def _refusal(status: int, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": message}).encode()


def http_front(workspace: Workspace, inner: Any) -> Any:
    """An ASGI app that admits only requests with a key allowed to run agents.

    The caller's principal goes into the scope, where the gateway finds its session.
    """

    def admit(header: str | None) -> tuple[int, bytes] | str:
        key = header[7:].strip() if header and header[:7].lower() == "bearer " else None
        try:
            token = tokens.authenticate(workspace, key)
            actor = Actor.of_token(token)
            access.authorize(workspace, actor, [("deploy", "Workload/*")])
        except KeelError as exc:  # 401 without a valid key, 403 when not allowed
            return _refusal(exc.http_status, str(exc))
        return actor.principal

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            admitted = await anyio.to_thread.run_sync(admit, headers.get("authorization"))
            if not isinstance(admitted, str):
                status, body = admitted
                await send({
                    "type": "http.response.start",
                    "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"www-authenticate", b"Bearer")],
                })  # fmt: skip
                await send({"type": "http.response.body", "body": body})
                return
            scope = {**scope, PRINCIPAL_SCOPE_KEY: admitted}
        await inner(scope, receive, send)

    return app


async def serve_http(
    workspace: Workspace, found: Gateway, *, host: str, port: int, ready: Callable[[], None]
) -> None:
    """Serve the agent over streamable HTTP at ``http://HOST:PORT/mcp`` until stopped."""
    import uvicorn

    async with found:
        app = found.server().streamable_http_app(host=host)
        config = uvicorn.Config(
            http_front(workspace, app),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        ready()
        await server.serve()
