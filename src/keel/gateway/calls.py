"""One tool call as Keel records it, whichever way it came (the check endpoint or MCP).

Pure data, without the MCP SDK: the service records calls without loading the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from keel.estate.resources import Classification
from keel.gateway import screening


@dataclass(slots=True)
class Call:
    """One tool call, as recorded.

    Attributes:
        agent: The agent.
        session: The gateway session's id (one per MCP connection or HTTP session); ``None``
            for a call checked by the check endpoint.
        request_id: The JSON-RPC request id, or the OpenAI tool call's id.
        tool: The tool called.
        server: The server that offers it, or ``None`` when none does.
        decision: ``allow``, ``redact`` or ``block``.
        reasons: Stable codes.
        found: Kinds of sensitive data found in the arguments, counted.
        result_found: Kinds found in the result, counted.
        arguments: The arguments as forwarded (redacted), or ``None`` when not forwarded.
        result: The result as returned to the agent (redacted), or ``None``.
        outcome: ``ok``, ``tool_error``, ``timeout``, ``server_failed`` or ``not_run``.
        taint: The session's classification after the call.
        duration_ms: Time in the gateway, the server's time included.
        caller: Who sent it over HTTP (``agent:NAME`` for the agent's own key), else ``None``.
        tainted_by: The tool whose result last raised the session's taint, if any.
    """

    agent: str
    session: str | None
    request_id: str
    tool: str
    server: str | None
    decision: screening.Action = "allow"
    reasons: list[str] = field(default_factory=list)
    found: dict[str, int] = field(default_factory=dict)
    result_found: dict[str, int] = field(default_factory=dict)
    arguments: object | None = None
    result: object | None = None
    outcome: str = "not_run"
    taint: Classification = "public"
    duration_ms: float = 0.0
    caller: str | None = None
    tainted_by: str | None = None

    def worsen(self, action: screening.Action, reason: str) -> None:
        """Add a reason; the strictest action wins."""
        self.reasons.append(reason)
        if screening.ORDER[action] > screening.ORDER[self.decision]:
            self.decision = action
