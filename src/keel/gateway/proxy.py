"""The MCP gateway: an MCP server to the agent, an MCP client to the real servers.

Every ``tools/call`` passes these checks, in order, and is recorded whatever the outcome:

1. **the access policy** (Cedar, :mod:`keel.policy.access.tools`): may this agent call this
   tool with these arguments, given what it used so far (``tool.not_granted``,
   ``policy.forbid:ID``, ``policy.error:ID``); then **the arguments**
   (:func:`keel.gateway.screening.screen`): secrets block the call, personal data is
   redacted;
2. **a known tool**: a server behind the gateway offers it (``tool.unknown``), and the access
   policy lets the agent read every dataset the tool serves (``dataset.refused:NAME``);
3. **ceiling**: the tool's results are not above the agent's classification ceiling
   (``result.above_ceiling``), so the agent never receives what it may not hold;
4. **taint**: once a session has received data of a classification, a call to a tool whose
   destination (``sink``) is below it is blocked (``taint.exfiltration``); then **budgets and
   rates** from the gateway file: the session's budget of forwarded calls
   (``budget.session:N``), the agent's and the tool's calls per minute
   (``rate.agent:N/min``, ``rate.tool:N/min``);
5. **approval**: a tool labelled ``approval: true`` waits for an approver (another
   principal than the one running the gateway) before it is forwarded; denied or not decided
   in time, it is blocked (``approval.denied:ID``, ``approval.expired:ID``);
6. **the call**, with the (redacted) arguments, bounded by the server's timeout: a server
   that hangs (``server.timeout``) or fails (``server.failed``) gives the agent an error;
7. **the result**: text and structured content are scanned. Secrets are redacted; personal
   data is redacted unless the tool is labelled as returning confidential data or above;
   content that cannot be scanned (images, audio, binary) or more than 1 MiB of text is
   withheld (``result.unscannable``, ``result.too_large``). What the session receives
   taints it: the tool's ``returns`` label, or ``confidential`` when personal data passed.

Nothing is forwarded unchecked: each refusal is an MCP tool error naming its reasons and the
ledger entry. ``tools/list`` shows the tools a server offers and the policy permits to the
agent with no arguments at the session's start.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.server.lowlevel import Server
from opentelemetry import trace

from keel.errors import UserError
from keel.estate.digest import canonical_json
from keel.estate.resources import Classification
from keel.gateway import screening
from keel.gateway.calls import Call
from keel.gateway.upstreams import Upstream, Upstreams, rank

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer("keel.gateway")

MAX_ARGUMENTS_CHARS = 64 * 1024
"""Arguments larger than this (as JSON) are refused unscanned (``arguments.too_large``)."""
MAX_RESULT_CHARS = 1 << 20
"""Result text larger than this is withheld unscanned (``result.too_large``)."""
MAX_NAME_CHARS = 128
"""A tool name or request id longer than this is refused (``call.name_too_long``), and kept in
the record cut to this length: an agent cannot write megabytes into the ledger."""


class Approvals(Protocol):
    """Where calls that need an approver wait (the service layer stores them)."""

    async def request(self, call: Call, arguments: object) -> int:
        """Ask for an approval of ``call`` with its (redacted) ``arguments``; its id."""
        ...

    async def outcome(self, approval_id: int, timeout_s: float) -> str:
        """Wait for the decision: ``approved``, ``denied`` or ``expired`` (after the timeout)."""
        ...


Record = Callable[[Call], Awaitable[int]]
"""Stores a call durably and returns its ledger index."""


class CallPolicy(Protocol):
    """The access policy's decisions on an agent's tool calls (the service builds it)."""

    def decide(
        self,
        tool: str,
        arguments: Mapping[str, object],
        usage: Mapping[str, int] | None = None,
        *,
        via: str = "mcp",
    ) -> list[str]:
        """Why the call may not go on; empty when it may. ``usage``: what the agent used."""
        ...


PolicyFor = Callable[[dict[str, str]], CallPolicy]
"""The access policy's decisions on the tools the servers offer (given tool -> server)."""
MAX_SESSIONS = 10_000
"""Gateway sessions remembered; the least recently used beyond this are forgotten."""
PRINCIPAL_SCOPE_KEY = "keel.principal"
"""Where the HTTP front puts the authenticated caller in the ASGI scope."""


def _key(ctx: Any) -> Hashable:
    """A call's gateway session.

    Over stdio a gateway process serves one connection: one session. Over HTTP the 2026
    protocol has no connection, so a session is the caller's key and its ``Mcp-Session-Id``
    (when the client sends one): taint then lasts as long as the key does, which errs on
    the side of blocking.
    """
    request = getattr(ctx, "request", None)
    if request is None:
        return "stdio"
    return (request.scope.get(PRINCIPAL_SCOPE_KEY), request.headers.get("mcp-session-id"))


@dataclass(slots=True)
class _Session:
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    taint: Classification = "public"
    tainted_by: str | None = None
    forwarded: int = 0


class _Window:
    """Calls in the last minute, to hold a rate."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()

    def count(self, now: float) -> int:
        """Calls forwarded in the minute before ``now``."""
        while self._times and self._times[0] <= now - 60:
            self._times.popleft()
        return len(self._times)

    def add(self, now: float) -> None:
        """Count a forwarded call."""
        self._times.append(now)


def _raise_to(session: _Session, level: Classification, tool: str) -> None:
    if rank(level) > rank(session.taint):
        session.taint, session.tainted_by = level, tool


async def _client(stack: AsyncExitStack, name: str, upstream: Upstream) -> Client:
    """A client of the server, its credentials taken from the environment (not connected).

    Raises:
        UserError: If a variable its headers or env name is not set.
    """
    headers, env = upstream.resolved(name, os.environ)
    if upstream.command is not None:
        command, *args = upstream.command
        return Client(
            StdioServerParameters(command=command, args=args, env=env or None),
            read_timeout_seconds=upstream.timeout_s,
        )
    assert upstream.url is not None
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0))
    await stack.enter_async_context(http)
    return Client(
        streamable_http_client(upstream.url, http_client=http),
        read_timeout_seconds=upstream.timeout_s,
    )


class Gateway:
    """Fronts MCP servers for one agent.

    Args:
        agent: The agent's name.
        rules: What sensitive data found in arguments leads to.
        policy: The access policy's decisions on its tool calls, built once the servers'
            tools are known.
        ceiling: Its classification ceiling (``spec.max_classification``).
        upstreams: The servers and the tools' labels.
        record: Stores each call (awaited before the agent gets its answer).
        approvals: Where high-impact calls wait for an approver; without it they are refused.
        readable: The datasets the access policy lets the agent read (for tools' ``reads``).
    """

    def __init__(
        self,
        agent: str,
        rules: screening.Rules,
        policy: PolicyFor,
        ceiling: Classification,
        upstreams: Upstreams,
        *,
        record: Record,
        approvals: Approvals | None = None,
        readable: frozenset[str] = frozenset(),
    ) -> None:
        self.agent = agent
        self.rules = rules
        self._policy_for = policy
        self._policy: CallPolicy | None = None
        self.ceiling = ceiling
        self.upstreams = upstreams
        self._record = record
        self._approvals = approvals
        self.readable = readable
        self._clients: dict[str, Client] = {}
        self._routes: dict[str, tuple[str, types.Tool]] = {}
        self._sessions: OrderedDict[Hashable, _Session] = OrderedDict()
        self._stack = AsyncExitStack()
        self._rates: dict[str | None, _Window] = {}

    async def __aenter__(self) -> Gateway:
        try:
            for name, upstream in self.upstreams.servers.items():
                client = await _client(self._stack, name, upstream)
                try:
                    await self._stack.enter_async_context(client)
                    with anyio.fail_after(upstream.timeout_s):
                        tools = await _all_tools(client)
                except Exception as exc:
                    raise UserError(
                        f"server {name}: cannot start it or list its tools ({exc!r})",
                        hint="check its command or url in the gateway file",
                    ) from None
                self._clients[name] = client
                for tool in tools:
                    if tool.name in self._routes:
                        other = self._routes[tool.name][0]
                        raise UserError(
                            f"tool {tool.name!r} is offered by servers {other} and {name}:"
                            " each tool must come from one server"
                        )
                    self._routes[tool.name] = (name, tool)
            self._policy = self._policy_for({t: s for t, (s, _) in self._routes.items()})
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    @property
    def policy(self) -> CallPolicy:
        """The access policy's decisions (once the gateway is entered)."""
        if self._policy is None:
            raise RuntimeError("the gateway is not started: enter it first")
        return self._policy

    def tools(self) -> list[types.Tool]:
        """The tools the agent may see: offered by a server and permitted."""
        return [
            tool
            for name, (_, tool) in self._routes.items()
            if not self.policy.decide(name, {})  # permitted with no arguments, nothing used
        ]

    def server(self) -> Server[Any]:
        """The MCP server the agent talks to."""

        async def list_tools(
            ctx: Any, params: types.PaginatedRequestParams | None
        ) -> types.ListToolsResult:
            return types.ListToolsResult(tools=self.tools())

        async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
            key = _key(ctx)
            caller = key[0] if isinstance(key, tuple) else None
            return await self.call(
                key, str(ctx.request_id), params.name, params.arguments, caller=caller
            )

        return Server(
            "keel-gateway",
            version="1",
            instructions=f"Keel's gateway for agent {self.agent}: every tool call is checked"
            " and recorded.",
            on_list_tools=list_tools,
            on_call_tool=call_tool,
        )

    def session(self, key: Hashable) -> _Session:
        """The gateway session for ``key`` (made on first use; the oldest of too many go)."""
        found = self._sessions.get(key)
        if found is None:
            found = self._sessions[key] = _Session()
            if len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        else:
            self._sessions.move_to_end(key)
        return found

    async def call(
        self,
        key: Hashable,
        request_id: str,
        tool: str,
        arguments: dict[str, Any] | None,
        *,
        caller: str | None = None,
    ) -> types.CallToolResult:
        """Check, forward, check the result, record: the agent's ``tools/call``.

        Each call is an OpenTelemetry span (GenAI conventions: ``execute_tool TOOL``), exported
        wherever the process has a tracer provider; without one it costs next to nothing.
        """
        with _tracer.start_as_current_span(f"execute_tool {tool[:MAX_NAME_CHARS]}") as span:
            answer, call, index = await self._call(key, request_id, tool, arguments, caller)
            span.set_attributes({
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": call.tool,
                "gen_ai.tool.call.id": call.request_id,
                "gen_ai.tool.type": "function",
                "gen_ai.agent.name": self.agent,
                "keel.session": call.session,
                "keel.decision": call.decision,
                "keel.reasons": call.reasons,
                "keel.outcome": call.outcome,
                "keel.taint": call.taint,
                "keel.ledger_index": -1 if index is None else index,
            })  # fmt: skip
            if call.decision == "block" or index is None:
                span.set_attribute("error.type", call.reasons[0] if call.reasons else "unrecorded")
                span.set_status(trace.StatusCode.ERROR)
            return answer

    async def _call(
        self,
        key: Hashable,
        request_id: str,
        tool: str,
        arguments: dict[str, Any] | None,
        caller: str | None,
    ) -> tuple[types.CallToolResult, Call, int | None]:
        started = time.perf_counter()
        session = self.session(key)
        route = self._routes.get(tool)
        call = Call(
            self.agent, session.id, request_id[:MAX_NAME_CHARS], tool[:MAX_NAME_CHARS],
            route[0] if route else None, caller=caller,
        )  # fmt: skip
        if max(len(tool), len(request_id)) > MAX_NAME_CHARS:
            call.worsen("block", "call.name_too_long")
            result = None
        else:
            result = await self._checked(call, session, arguments or {})
        call.taint, call.tainted_by = session.taint, session.tainted_by
        call.duration_ms = (time.perf_counter() - started) * 1000
        try:
            index = await self._record(call)
        except Exception:  # unrecorded means refused, whatever was decided
            _log.exception("agent %s: call %s not recorded", self.agent, call.request_id)
            refused = types.CallToolResult(
                content=[types.TextContent(text="refused by Keel: the call could not be recorded")],
                is_error=True,
            )
            return refused, call, None
        if result is None:
            why = ", ".join(call.reasons)
            refused = types.CallToolResult(
                content=[types.TextContent(text=f"refused by Keel ({why}); ledger entry {index}")],
                is_error=True,
            )
            return refused, call, index
        return result, call, index

    async def _checked(
        self, call: Call, session: _Session, arguments: dict[str, Any]
    ) -> types.CallToolResult | None:
        if len(canonical_json(arguments)) > MAX_ARGUMENTS_CHARS:
            call.worsen("block", "arguments.too_large")
            return None
        screened = screening.screen(self.rules, arguments)  # unread arguments: blocked already
        refusals = [] if screened.unread else self._decided(call, session, arguments)
        verdict = screened.refused(refusals)
        call.decision, call.reasons = verdict.decision, list(verdict.reasons)
        call.found = verdict.kinds()
        rule = self.upstreams.rule(call.tool)
        if call.server is None:
            call.worsen("block", "tool.unknown")
        for dataset in rule.reads:
            if dataset not in self.readable:
                call.worsen("block", f"dataset.refused:{dataset}")
        if rank(rule.returns) > rank(self.ceiling):
            call.worsen("block", f"result.above_ceiling:{rule.returns}>{self.ceiling}")
        if rank(session.taint) > rank(rule.receives):
            call.worsen("block", f"taint.exfiltration:{session.taint}>{rule.receives}")
        self._limit(call, session)
        if call.decision == "block" or call.server is None:
            return None
        self._count(call, session)
        call.arguments = verdict.shown
        if rule.approval and not await self._approved(call):
            return None
        upstream = self.upstreams.servers[call.server]
        forwarded = verdict.shown if isinstance(verdict.shown, dict) else {}
        try:
            with anyio.fail_after(upstream.timeout_s):
                answer = await self._clients[call.server].call_tool(call.tool, forwarded)
        except TimeoutError:
            call.outcome = "timeout"
            call.worsen("block", "server.timeout")
            return None
        except Exception:  # a dead or broken server: the agent gets an error, not a crash
            call.outcome = "server_failed"
            call.worsen("block", "server.failed")
            return None
        if not isinstance(answer, types.CallToolResult):
            call.outcome = "server_failed"
            call.worsen("block", "server.failed")
            return None
        call.outcome = "tool_error" if answer.is_error else "ok"
        return self._result(call, session, answer)

    def _decided(self, call: Call, session: _Session, arguments: dict[str, Any]) -> list[str]:
        """The access policy's reasons against the call (Cedar sees the raw arguments)."""
        now = time.monotonic()
        usage = {
            "session_calls": session.forwarded,
            "agent_calls_last_minute": self._rates.setdefault(None, _Window()).count(now),
            "tool_calls_last_minute": self._rates.setdefault(call.tool, _Window()).count(now),
            "session_taint_rank": rank(session.taint),
        }
        return self.policy.decide(call.tool, arguments, usage)

    def _limit(self, call: Call, session: _Session) -> None:
        """Budgets and rates: the session's, the agent's per minute, the tool's per minute."""
        now = time.monotonic()
        budget = self.upstreams.calls_per_session
        if budget is not None and session.forwarded >= budget:
            call.worsen("block", f"budget.session:{budget}")
        limits = [(None, self.upstreams.calls_per_minute),
                  (call.tool, self.upstreams.rule(call.tool).calls_per_minute)]  # fmt: skip
        for scope, limit in limits:
            window = self._rates.setdefault(scope, _Window())
            if limit is not None and window.count(now) >= limit:
                what = "agent" if scope is None else "tool"
                call.worsen("block", f"rate.{what}:{limit}/min")

    def _count(self, call: Call, session: _Session) -> None:
        now = time.monotonic()
        session.forwarded += 1
        for scope in (None, call.tool):
            self._rates.setdefault(scope, _Window()).add(now)

    async def _approved(self, call: Call) -> bool:
        """Wait for an approver's decision on a high-impact call."""
        if self._approvals is None:
            call.worsen("block", "approval.unavailable")
            return False
        approval_id = await self._approvals.request(call, call.arguments)
        state = await self._approvals.outcome(approval_id, self.upstreams.approval_timeout_s)
        if state != "approved":
            call.worsen("block", f"approval.{state}:{approval_id}")
            return False
        call.reasons.append(f"approval.granted:{approval_id}")
        return True

    def _result(
        self, call: Call, session: _Session, answer: types.CallToolResult
    ) -> types.CallToolResult | None:
        rule = self.upstreams.rule(call.tool)
        texts: list[str] = []
        for block in answer.content:
            if isinstance(block, types.TextContent):
                texts.append(block.text)
            else:
                call.worsen("block", f"result.unscannable:{block.type}")
        if call.decision == "block":
            return None
        payload = {"content": texts, "structured": answer.structured_content}
        if sum(len(t) for t in texts) + len(canonical_json(answer.structured_content)) > (
            MAX_RESULT_CHARS
        ):
            call.worsen("block", "result.too_large")
            return None
        personal_allowed = rank(rule.returns) >= rank("confidential")
        verdict = screening.screen_result(self.rules, payload, personal_allowed=personal_allowed)
        for reason in verdict.reasons:
            call.worsen(verdict.decision, reason)
        if verdict.decision == "block":
            return None
        findings = verdict.findings
        kinds = {f.kind for f in findings}
        call.result_found = {  # text and structured content usually say the same: not twice
            k: max(
                sum(f.kind == k and f.path.startswith(part) for f in findings)
                for part in ("$.content", "$.structured")
            )
            for k in sorted(kinds)
        }
        shown: Any = verdict.shown
        call.result = shown
        _raise_to(session, rule.returns, call.tool)
        if personal_allowed and kinds - {"secret", *self.rules.patterns}:
            _raise_to(session, "confidential", call.tool)  # personal data passed through
        if verdict.decision == "allow":
            return answer
        return types.CallToolResult(
            content=[types.TextContent(text=t) for t in shown["content"]],
            structured_content=shown["structured"],
            is_error=answer.is_error,
        )


async def _all_tools(client: Client) -> list[types.Tool]:
    tools: list[types.Tool] = []
    cursor: str | None = None
    for _ in range(1000):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools
