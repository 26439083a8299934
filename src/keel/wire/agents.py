"""The agent gateway's tool-call checks, in OpenAI's ``tool_calls`` format."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from keel.wire.base import JsonValue, Wire

MAX_ARGUMENTS_CHARS = 65_536
MAX_TOOL_CALLS = 64
MAX_BATCH_ARGUMENTS_CHARS = 262_144
"""All the arguments of one batch together: scanning costs up to 0.3 s per 64 KiB of text
packed with phone numbers, so a batch is bounded at about a second of work."""


class ToolFunction(Wire):
    """The function a tool call invokes: its name and its arguments as a JSON string."""

    name: str = Field(min_length=1, max_length=128)
    arguments: str = Field(max_length=MAX_ARGUMENTS_CHARS)


class ToolCall(Wire):
    """One entry of an assistant message's ``tool_calls`` (OpenAI chat completions)."""

    id: str = Field(min_length=1, max_length=128)
    type: Literal["function"] = "function"
    function: ToolFunction
    index: int | None = Field(default=None, ge=0, description="As streamed deltas number them.")


class ToolCallFinding(Wire):
    """Sensitive data found in a call's arguments: its kind and JSON path, never its value."""

    kind: str
    path: str


class ToolCallVerdict(Wire):
    """What Keel decided for one tool call."""

    id: str
    tool: str
    decision: Literal["allow", "redact", "block"]
    reasons: list[str] = Field(description="Stable codes; empty when allowed outright.")
    findings: list[ToolCallFinding]
    arguments: str | None = Field(
        description="The arguments to forward (redacted where the decision says so); none when"
        " blocked."
    )
    ledger_index: int = Field(description="The verdict's entry in the ledger.")


class ToolCallVerdicts(Wire):
    """The verdicts on a batch of tool calls, in the batch's order."""

    agent: str
    verdicts: list[ToolCallVerdict]


class ToolResultPart(Wire):
    """One part of a tool message's content: text is scanned, anything else is withheld."""

    type: str = Field(min_length=1, max_length=32)
    text: str | None = Field(default=None, max_length=MAX_BATCH_ARGUMENTS_CHARS)


class ToolResult(Wire):
    """A tool's answer, as the framework will hand it to the model (an OpenAI ``tool`` message)."""

    role: Literal["tool"] = "tool"
    tool_call_id: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, min_length=1, max_length=128)
    content: str | Annotated[list[ToolResultPart], Field(max_length=256)] = Field(
        description="Text, or up to 256 content parts (only text parts can be scanned)."
    )


class ToolResultVerdict(Wire):
    """What Keel decided for one tool result."""

    id: str = Field(description="The result's tool_call_id.")
    tool: str | None
    decision: Literal["allow", "redact", "block"]
    reasons: list[str] = Field(description="Stable codes; empty when allowed outright.")
    findings: list[ToolCallFinding]
    content: str | list[ToolResultPart] | None = Field(
        description="The content to hand to the model, redacted; none when withheld."
    )
    ledger_index: int = Field(description="The verdict's entry in the ledger.")


class ToolResultVerdicts(Wire):
    """The verdicts on a batch of tool results, in the batch's order."""

    agent: str
    verdicts: list[ToolResultVerdict]


class AgentCall(Wire):
    """One tool call Keel checked for an agent, as recorded (never its arguments)."""

    id: int = Field(description="Its row; page with before=ID.")
    at: datetime
    session: str | None = Field(description="The gateway session (MCP only).")
    call_id: str
    tool: str
    via: Literal["check", "result", "mcp"] = Field(
        description="The check endpoint (calls or results) or the MCP gateway."
    )
    decision: Literal["allow", "redact", "block"]
    reasons: list[str]
    found: dict[str, int] = Field(description="Kinds of sensitive data found, counted.")
    outcome: str = Field(description="ok, tool_error, timeout, server_failed or not_run.")
    duration_ms: float | None
    ledger_index: int


class AgentCalls(Wire):
    """An agent's recent tool calls, newest first, with counts over those listed."""

    agent: str
    calls: list[AgentCall]
    decisions: dict[str, int] = Field(description="Calls listed per decision.")
    reasons: dict[str, int] = Field(description="Calls listed per reason.")
    tools: dict[str, int] = Field(description="Calls listed per tool.")
    data_kinds: dict[str, int] = Field(description="Sensitive data found, per kind.")


class SessionCall(Wire):
    """One call of a scripted session through the MCP gateway."""

    tool: str
    decision: Literal["allow", "redact", "block"]
    reasons: list[str]
    found: dict[str, int] = Field(description="Sensitive data in the arguments, per kind.")
    result_found: dict[str, int] = Field(description="Sensitive data in the result, per kind.")
    outcome: str = Field(description="ok, tool_error, timeout, server_failed or not_run.")
    taint: Literal["public", "internal", "confidential", "restricted"] = Field(
        description="What the session had received after this call."
    )
    ledger_index: int


class GatewaySession(Wire):
    """A scripted session run through the MCP gateway, call by call."""

    agent: str
    session: str
    calls: list[SessionCall]


class AgentPair(Wire):
    """Two agents compared for duplication, with the evidence."""

    first: str
    second: str
    score: float = Field(description="0 to 1; 0.6 or more is a likely duplicate.")
    likely: bool
    parts: dict[str, float] = Field(description="model, tools, datasets, purpose: each 0 to 1.")
    shared_tools: list[str]
    shared_datasets: list[str]
    family: str | None = Field(description="The model family both use, if one.")


class AgentDuplicates(Wire):
    """Pairs of agents that may do the same job, highest score first."""

    agents: int
    pairs: list[AgentPair]
    weights: dict[str, float]


class ToolApproval(Wire):
    """A high-impact tool call that waits for, or was decided by, an approver."""

    id: int
    created_at: datetime
    agent: str
    session: str
    tool: str
    arguments: JsonValue = Field(description="What would be sent (redacted); blanked once decided.")
    arguments_digest: str
    requested_by: str = Field(description="Who runs the gateway; may not decide it.")
    state: Literal["pending", "approved", "denied", "expired"]
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    ledger_index: int = Field(description="The request's entry in the ledger.")


class ToolApprovals(Wire):
    """Tool calls that need an approver, newest first (of the agents the caller reads)."""

    approvals: list[ToolApproval]
