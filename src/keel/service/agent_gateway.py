"""``keel gateway``: the MCP gateway for one agent, over stdio or streamable HTTP.

The gateway is an MCP server to the agent and an MCP client to the servers in its file
(:mod:`keel.gateway.upstreams`). Each call is checked (:mod:`keel.gateway.proxy`) and
recorded before the agent gets its answer: a ledger entry and a row for ``keel agents
calls``. Calls that finish together are written in one transaction (group commit), so
recording costs one commit per batch, not per call; a call whose record fails is answered
with an error, never with its result.

Running an agent is an operator's act (``deploy`` on ``Workload/*``): the person starting a
gateway must be allowed it. Over HTTP, a caller presents the agent's own key (made with
``keel token create --agent NAME``; it opens only this gateway) or an operator's key.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from keel import wire
from keel.errors import ForbiddenError, KeelError, UserError
from keel.estate.estate import Estate
from keel.estate.resources import DatasetSpec
from keel.estate.spelling import did_you_mean
from keel.gateway import screening
from keel.gateway.calls import Call
from keel.gateway.proxy import PRINCIPAL_SCOPE_KEY, Gateway
from keel.gateway.upstreams import Upstreams, load, rank
from keel.policy.access.tools import ToolCallPolicy, ToolLabels
from keel.service import access, gateway, tokens
from keel.service.actor import Actor
from keel.service.stored import estate_in, load_estate
from keel.service.workspace import Workspace
from keel.store import ResourceRepository


class GroupCommit:
    """Records calls in batches: whoever finds others waiting writes them all.

    Args:
        write: Writes a batch in one transaction; returns the first ledger index.
    """

    def __init__(self, write: Callable[[list[Call]], int]) -> None:
        self._write = write
        self._pending: list[tuple[Call, list[int | BaseException]]] = []
        self._lock = anyio.Lock()

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
                for i, (_, waiting) in enumerate(batch):
                    waiting.append(first if isinstance(first, BaseException) else first + i)
        found = slot[0]
        if isinstance(found, BaseException):
            raise found
        return found


class StoredApprovals:
    """Calls that need an approver wait in the store; the gateway polls for the decision.

    Args:
        workspace: The workspace.
        actor: Who runs the gateway (recorded as the requester; may not decide).
        poll_s: How often a waiting call looks for its decision.
    """

    def __init__(self, workspace: Workspace, actor: str, poll_s: float = 0.25) -> None:
        self.workspace = workspace
        self.actor = actor
        self.poll_s = poll_s

    async def request(self, call: Call, arguments: object) -> int:
        """Store the request (a ledger entry); its id."""
        return await anyio.to_thread.run_sync(
            lambda: gateway.request_approval(self.workspace, call, arguments, actor=self.actor)
        )

    async def outcome(self, approval_id: int, timeout_s: float) -> str:
        """The decision, or ``expired`` once ``timeout_s`` has passed undecided."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = await anyio.to_thread.run_sync(
                gateway.approval_state, self.workspace, approval_id
            )
            if state != "pending":
                return state
            if time.monotonic() >= deadline:
                expired = await anyio.to_thread.run_sync(
                    lambda: gateway.expire_approval(self.workspace, approval_id, actor=self.actor)
                )
                if expired:
                    return "expired"
                continue  # decided at the last moment: read it
            await anyio.sleep(self.poll_s)


class LivePolicy:
    """The access policy's decisions on an agent's tool calls, kept in step with the estate.

    At most once every ``check_s`` seconds, a call reads the estate's revision (one small
    query); when it changed (a policy set, the agent's manifest), the decisions are rebuilt
    from the stored estate before the call is decided. A revoked tool or a new forbid reaches
    a running gateway within a second.
    """

    def __init__(
        self,
        workspace: Workspace,
        agent: str,
        labels: dict[str, ToolLabels],
        check_s: float = 1.0,
    ) -> None:
        self.workspace = workspace
        self.agent = agent
        self.labels = labels
        self.check_s = check_s
        self._revision, self._policy = self._read()
        self._next = time.monotonic() + check_s

    def _read(self) -> tuple[int, ToolCallPolicy]:
        with self.workspace.unit(snapshot=True) as unit:
            revision = unit.repository(ResourceRepository).revision()[0]
            estate = estate_in(unit)
        return revision, gateway.tool_policy(estate, self.agent, self.labels)

    def _current(self) -> ToolCallPolicy:
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.check_s
            with self.workspace.unit(snapshot=True) as unit:
                revision = unit.repository(ResourceRepository).revision()[0]
            if revision != self._revision:
                self._revision, self._policy = self._read()
        return self._policy

    def decide(
        self,
        tool: str,
        arguments: Mapping[str, object],
        usage: Mapping[str, int] | None = None,
        *,
        via: str = "mcp",
    ) -> list[str]:
        """See :meth:`keel.policy.access.tools.ToolCallPolicy.decide`."""
        return self._current().decide(tool, arguments, usage, via=via)


def open_gateway(
    workspace: Workspace,
    agent: str,
    config: Path,
    *,
    actor: Actor,
    observe: Callable[[Call, int], None] | None = None,
) -> Gateway:
    """The gateway for ``agent`` with the servers of ``config`` (not yet connected).

    ``observe`` is told of each call once it is recorded, with its ledger index.

    Raises:
        NotFoundError: If the agent is not in the estate.
        ForbiddenError: If the actor may not run agents (the refusal is in the ledger).
        UserError: If the file is unreadable or invalid.
    """
    access.authorize(workspace, actor, [("deploy", "Workload/*")])
    estate = load_estate(workspace)
    spec = gateway.agent_spec(estate, agent)
    upstreams, readable = _with_datasets(estate, agent, load(config))
    commit = GroupCommit(
        lambda batch: gateway.record_calls(workspace, batch, actor=actor.principal)
    )
    rules = screening.Rules(upstreams.kind_actions(), upstreams.compiled())

    def policy(routes: dict[str, str]) -> LivePolicy:
        labels = {}
        for tool, server in routes.items():
            rule = upstreams.rule(tool)
            labels[tool] = ToolLabels(
                server, rank(rule.returns), rank(rule.receives), rule.approval, tuple(rule.reads)
            )
        return LivePolicy(workspace, agent, labels)

    async def record(call: Call) -> int:
        index = await commit.record(call)
        if observe is not None:
            observe(call, index)
        return index

    approvals = StoredApprovals(workspace, actor.principal)
    return Gateway(
        agent,
        rules,
        policy,
        spec.max_classification,
        upstreams,
        record=record,
        approvals=approvals,
        readable=readable,
    )


def _with_datasets(
    estate: Estate, agent: str, upstreams: Upstreams
) -> tuple[Upstreams, frozenset[str]]:
    """Tools that serve datasets: their labels from the estate, and what the agent may read.

    A tool's ``returns`` is raised to the classification of the datasets it ``reads``; which of
    those datasets the agent may read is decided by the access policy (Cedar), once, at start.

    Raises:
        UserError: If a tool names a dataset the estate does not have.
    """
    datasets = estate.of_kind("Dataset")
    tools = dict(upstreams.tools)
    for tool, rule in upstreams.tools.items():
        levels = [rule.returns]
        for name in rule.reads:
            found = datasets.get(name)
            if found is None:
                hint = did_you_mean(name, datasets)
                raise UserError(f"tools.{tool}.reads: no dataset {name!r}{hint}")
            assert isinstance(found.spec, DatasetSpec)
            levels.append(found.spec.classification)
        tools[tool] = rule.model_copy(update={"returns": max(levels, key=rank)})
    wanted = sorted({name for rule in upstreams.tools.values() for name in rule.reads})
    decided = access.decide_all(
        estate, Actor(f"agent:{agent}"), [("read", f"Dataset/{name}") for name in wanted]
    )
    readable = frozenset(name for name, d in zip(wanted, decided, strict=True) if d.allowed)
    return upstreams.model_copy(update={"tools": tools}), readable


def run_session(
    workspace: Workspace,
    agent: str,
    config: Path,
    calls: Sequence[wire.ToolCall],
    *,
    actor: Actor,
) -> wire.GatewaySession:
    """Run tool calls (OpenAI format) in order through the gateway, as one session.

    A real MCP client talks to the gateway; the servers of ``config`` are started and called
    for real; every call is checked and recorded as an agent's would be. For the demo, and to
    try a gateway file.

    Raises:
        UserError: If a call's arguments are unreadable (nothing is run), or as
            :func:`open_gateway`.
    """
    from mcp import Client

    names = [c.function.name for c in calls]
    script = list(zip(names, gateway.parse_arguments(calls), strict=True))

    done: list[wire.SessionCall] = []

    def observe(call: Call, index: int) -> None:
        done.append(
            wire.SessionCall(
                tool=call.tool,
                decision=call.decision,
                reasons=call.reasons,
                found=call.found,
                result_found=call.result_found,
                outcome=call.outcome,
                taint=call.taint,
                ledger_index=index,
            )
        )

    found = open_gateway(workspace, agent, config, actor=actor, observe=observe)

    async def main() -> None:
        async with found, Client(found.server()) as client:
            for tool, arguments in script:
                await client.call_tool(tool, arguments)

    anyio.run(main)
    return wire.GatewaySession(agent=agent, session=found.session("stdio").id, calls=done)


async def serve_stdio(found: Gateway) -> None:
    """Serve the agent on this process's stdin and stdout until it closes them."""
    from mcp.server.stdio import stdio_server

    async with found:
        server = found.server()
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def http_front(workspace: Workspace, agent: str, inner: Any) -> Any:
    """An ASGI app that admits the agent's own key, or a key allowed to run agents.

    The caller's principal (``agent:NAME`` for the agent's key) goes into the scope, where the
    gateway finds its session.
    """

    def admit(header: str | None) -> KeelError | str:
        """The caller's principal, or why not (a refusal to run is in the ledger)."""
        key = header[7:].strip() if header and header[:7].lower() == "bearer " else None
        try:
            token = tokens.authenticate(workspace, key)
            if token.agent is None:  # an operator's key
                access.authorize(workspace, Actor.of_token(token), [("deploy", "Workload/*")])
            elif token.agent != agent:  # another agent's own key: refused, in the ledger
                access.record_denials(
                    workspace, [(token.principal, "deploy", f"Agent/{agent}", [])]
                )
                raise ForbiddenError(
                    f"API key {token.name!r} belongs to agent {token.agent}, not {agent}", [],
                    hint="an agent's key opens only its own gateway; the refusal is in the ledger",
                )  # fmt: skip
        except KeelError as exc:  # 401 without a valid key, 403 when not allowed
            return exc
        return token.principal

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            admitted = await anyio.to_thread.run_sync(admit, headers.get("authorization"))
            if isinstance(admitted, KeelError):  # the API's error shape
                await send({
                    "type": "http.response.start",
                    "status": admitted.http_status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"www-authenticate", b"Bearer")],
                })  # fmt: skip
                body = json.dumps(admitted.to_body()).encode()
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
            http_front(workspace, found.agent, app),
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


def _calls(*calls: tuple[str, dict[str, Any]]) -> str:
    body = [
        {"id": f"call_{i}", "type": "function",
         "function": {"name": tool, "arguments": json.dumps(arguments)}}
        for i, (tool, arguments) in enumerate(calls, 1)
    ]  # fmt: skip
    return json.dumps(body, indent=1) + "\n"


DEMO_SESSIONS: dict[str, str] = {
    "kyc-review-agent": _calls(
        ("crm-read", {"customer_id": "C-1001"}),
        ("case-create", {"customer_id": "C-1001", "note": "card 4111 1111 1111 1111 flagged"}),
        ("sanctions-screening", {"name": "Marta Nowak"}),
    ),
    "cn-service-agent": _calls(
        ("crm-read", {"customer_id": "C-1002"}),
        ("ticket-update", {"ticket": "T-77", "comment": "Wei Zhang, call +86 138 0013 8000"}),
    ),
    "treasury-research-agent": _calls(
        ("web-search", {"query": "EUR/USD 3-month forward points"}),
        ("spreadsheet-write", {"sheet": "credit-limits", "cell": "C4", "value": "2500000"}),
        ("spreadsheet-write", {"sheet": "fx", "cell": "B2", "value": "AKIAIOSFODNN7EXAMPLE"}),
        ("email-send", {"to": "broker@example.com", "body": "our positions"}),
    ),
}
"""The demo agents' scripted sessions (OpenAI ``tool_calls``), for ``keel agents session``."""


def demo_files() -> list[tuple[str, str]]:
    """The demo's gateway file and sessions, as (relative path, text).

    The gateway file is JSON (YAML's subset), so ``keel apply -f`` on the folder skips it; it
    starts the bank tools' MCP server with this Python.
    """
    config = {
        "servers": {
            "bank": {
                "command": [sys.executable, "-m", "keel.gateway.bank_tools"],
                "timeout_s": 30,
            }
        },
        "tools": {
            "crm-read": {"returns": "confidential"},
            "case-create": {"sink": "confidential", "approval": True},
            "sanctions-screening": {"sink": "confidential"},
            "ticket-update": {"sink": "internal"},
            "spreadsheet-write": {"sink": "internal"},
            "web-search": {"sink": "public"},
        },
    }
    config["approval_timeout_s"] = 120
    files = [("gateway.json", json.dumps(config, indent=1) + "\n")]
    return files + [(f"sessions/{agent}.json", text) for agent, text in DEMO_SESSIONS.items()]
