"""``/v1/agents``: the agent gateway's tool-call check and call history.

Who may: checking (and so recording) an agent's tool calls is running that agent, an
operator's act (``deploy`` on ``Workload/*``), as dispatching work is; or the agent itself,
with its own key (no other agent's). Every verdict is a
ledger entry; the arguments are never stored, only a digest of what may be forwarded.
Reading an agent's calls is reading the agent (``read`` on ``Agent/NAME``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard

router = APIRouter(tags=["agents"])

AgentName = Annotated[str, Path(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class ToolCallsBody(Body):
    """The model's ``tool_calls`` (OpenAI chat completions format), checked together."""

    tool_calls: list[wire.ToolCall] = Field(min_length=1, max_length=wire.MAX_TOOL_CALLS)


@router.post("/v1/agents/{agent}/tool-calls:check", response_model=wire.ToolCallVerdicts)
def check_tool_calls(
    agent: AgentName,
    body: ToolCallsBody,
    caller: Annotated[
        Caller, Depends(guard("deploy", "Workload/*", mutates=True, agent_key="agent"))
    ],
) -> wire.ToolCallVerdicts:
    """Allow, redact or block each tool call before the agent's framework runs it.

    An operator's key, or the agent's own key (``keel token create --agent NAME``).
    """
    return caller.ops.check_tool_calls(agent, body.tool_calls)


class ToolResultsBody(Body):
    """Tools' answers (OpenAI ``tool`` messages), scanned before the model sees them."""

    results: list[wire.ToolResult] = Field(min_length=1, max_length=wire.MAX_TOOL_CALLS)


@router.post("/v1/agents/{agent}/tool-results:check", response_model=wire.ToolResultVerdicts)
def check_tool_results(
    agent: AgentName,
    body: ToolResultsBody,
    caller: Annotated[
        Caller, Depends(guard("deploy", "Workload/*", mutates=True, agent_key="agent"))
    ],
) -> wire.ToolResultVerdicts:
    """Redact secrets and personal data in tool results, withhold what cannot be scanned.

    An operator's key, or the agent's own key.
    """
    return caller.ops.check_tool_results(agent, body.results)


@router.get("/v1/agents/duplicates", response_model=wire.AgentDuplicates)
def agent_duplicates(
    caller: Annotated[Caller, Depends(guard("read", "Estate/Agent/*"))],
    min_score: Annotated[float, Query(ge=0, le=1)] = 0.0,
) -> wire.AgentDuplicates:
    """Pairs of agents that may do the same job, with the evidence (agents the caller reads)."""
    return caller.ops.agent_duplicates(min_score=min_score)


@router.get("/v1/agents/approvals", response_model=wire.ToolApprovals)
def tool_approvals(
    caller: Annotated[Caller, Depends(guard("read", "Estate/Agent/*"))],
    state: Annotated[str | None, Query(max_length=16, description="pending (default), approved,"
                                       " denied, expired; all when empty")] = "pending",
) -> wire.ToolApprovals:  # fmt: skip
    """High-impact tool calls waiting for (or decided by) an approver, newest first."""
    return caller.ops.tool_approvals(state=state or None)


class ApprovalBody(Body):
    """An approver's decision on a waiting tool call."""

    approve: bool
    reason: str = Field(default="", max_length=1000)


@router.post("/v1/agents/approvals/{approval_id}/decisions", response_model=wire.ToolApproval)
def decide_tool_approval(
    approval_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: ApprovalBody,
    caller: Annotated[Caller, Depends(guard("approve", "Resource/Agents/approvals", mutates=True))],
) -> wire.ToolApproval:
    """Approve or deny a waiting tool call; the gateway forwards or refuses it at once.

    The approver needs ``approve`` on the agent and does not run the gateway that asked.
    """
    return caller.ops.decide_tool_approval(approval_id, approve=body.approve, reason=body.reason)


@router.get("/v1/agents/{agent}/calls", response_model=wire.AgentCalls)
def agent_calls(
    agent: AgentName,
    caller: Annotated[Caller, Depends(guard("read", "Agent/{agent}"))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    before: Annotated[int | None, Query(ge=1, description="Calls older than this id.")] = None,
) -> wire.AgentCalls:
    """An agent's recent tool calls, newest first (never their arguments or results)."""
    return caller.ops.agent_calls(agent, limit=limit, before=before)
