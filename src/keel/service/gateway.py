"""Agents' tool calls: the check endpoint, the record of every call, approvals, duplicates.

- **Checking** (:func:`check`): an agent framework that calls tools itself sends the model's
  ``tool_calls`` (OpenAI format) here before running them, and runs only what comes back
  allowed, with the arguments that come back (redacted where the verdict says so).
- **Recording** (:func:`record_calls`), for the check endpoint and the MCP gateway alike:
  every call is an ``agent.tool_call`` ledger entry and an ``agent_calls`` row, in one
  transaction: the decision and its reasons, the kinds of sensitive data found, digests of
  what was forwarded and returned (redacted), never the raw values.
- **History** (:func:`calls`), **approvals** of high-impact calls (requested by the gateway,
  decided by an approver who is not its runner) and **duplicate agents**.

The MCP gateway itself is served by :mod:`keel.service.agent_gateway`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from keel import wire
from keel.errors import LifecycleError, NotFoundError, UserError
from keel.estate.digest import canonical_json
from keel.estate.estate import Estate
from keel.estate.resources import AgentSpec
from keel.estate.spelling import did_you_mean
from keel.gateway import duplicates, screening
from keel.gateway.calls import Call
from keel.policy.access.tools import ToolCallPolicy, ToolLabels, tool_entity
from keel.service import access, ledger
from keel.service.actor import Actor
from keel.service.stored import estate_in, load_estate
from keel.service.workspace import Workspace
from keel.store.agent_calls import (
    AgentCallRepository,
    ApprovalRepository,
    StoredApproval,
    StoredCall,
)

MAX_LISTED_CALLS = 1000
APPROVAL_STATES = ("pending", "approved", "denied", "expired")


def _integer(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise ValueError(f"the number {text[:24]} is out of the 64-bit range")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:24]} is not finite")
    return value


def _no_constant(text: str) -> object:
    raise ValueError(f"{text} is not JSON")


def parse_arguments(calls: Sequence[wire.ToolCall]) -> list[dict[str, object]]:
    """Each call's arguments parsed; one error names every call whose are not a JSON object.

    Refused: not JSON, not an object, NaN or infinite numbers, integers beyond 64 bits,
    nesting too deep to read.
    """
    parsed: list[dict[str, object]] = []
    problems: list[str] = []
    for i, call in enumerate(calls):
        where = f"tool_calls[{i}].function.arguments"
        try:
            value = (
                json.loads(
                    call.function.arguments,
                    parse_int=_integer,
                    parse_float=_finite,
                    parse_constant=_no_constant,
                )
                if call.function.arguments
                else {}
            )
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc})")
            continue
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        except RecursionError:
            problems.append(f"{where}: nested too deeply to read")
            continue
        if not isinstance(value, dict):
            problems.append(f"{where}: a JSON object, not {type(value).__name__}")
            continue
        parsed.append(value)
    if problems:
        raise UserError(
            f"{'; '.join(problems[:5])} (nothing was checked or recorded)",
        )
    return parsed


def _digest(value: object | None) -> str | None:
    """The SHA-256 of a value as forwarded (already redacted), or ``None``."""
    if value is None:
        return None
    return "sha256:" + hashlib.sha256(canonical_json(value).encode()).hexdigest()


def agent_spec(workspace: Workspace | Estate, agent: str) -> AgentSpec:
    """An agent's manifest spec, from the stored estate or one already read.

    Raises:
        NotFoundError: If the estate has no such agent.
    """
    estate = workspace if isinstance(workspace, Estate) else load_estate(workspace)
    agents = estate.of_kind("Agent")
    found = agents.get(agent)
    if found is None:
        raise NotFoundError(f"no agent {agent!r}{did_you_mean(agent, agents)}")
    spec = found.spec
    assert isinstance(spec, AgentSpec)
    return spec


def tool_policy(estate: Estate, agent: str, tools: Mapping[str, ToolLabels]) -> ToolCallPolicy:
    """The access policy's decisions on ``agent``'s calls of ``tools`` (with their labels).

    Raises:
        ManifestError: If a custom access policy does not validate.
    """
    extra = [tool_entity(name, labels) for name, labels in tools.items()]
    return ToolCallPolicy(access.engine_for(estate).with_entities(extra), agent, tools)


def _entry(call: Call, via: str) -> dict[str, object]:
    """A call's ``agent.tool_call`` ledger entry: what was decided, digests, never values."""
    entry: dict[str, object] = {
        "type": "agent.tool_call",
        "via": via,
        "agent": call.agent,
        "call_id": call.request_id,
        "tool": call.tool,
        "decision": call.decision,
        "reasons": call.reasons,
        "found": call.found,
        "arguments_digest": _digest(call.arguments),
    }
    if via == "result":
        entry |= {"result_found": call.result_found, "result_digest": _digest(call.result)}
    if via == "mcp":
        entry |= {
            "session": call.session,
            "caller": call.caller,
            "server": call.server,
            "result_found": call.result_found,
            "outcome": call.outcome,
            "taint": call.taint,
            "tainted_by": call.tainted_by,
            "result_digest": _digest(call.result),
        }
    return entry


def record_calls(
    workspace: Workspace, calls: Sequence[Call], *, actor: str, via: str = "mcp"
) -> int:
    """Record calls: ledger entries and ``agent_calls`` rows, in one transaction.

    Args:
        workspace: The workspace.
        calls: The calls, decided.
        actor: Who records them (the gateway's runner, or the check endpoint's caller).
        via: ``mcp`` (through the gateway), ``check`` (the check endpoint) or ``result`` (a
            result checked by the check endpoint).

    Returns:
        The first call's ledger index (the others follow in order).
    """
    now = datetime.now(UTC)
    with workspace.unit(actor, write=True) as unit:
        first, _ = ledger.record(unit, [_entry(c, via) for c in calls])
        unit.repository(AgentCallRepository).add([
            StoredCall(
                now, c.agent, c.session, c.request_id, c.tool, via, c.decision, c.reasons,
                dict(Counter(c.found) + Counter(c.result_found)), c.outcome,
                round(c.duration_ms, 3) if via == "mcp" else None, first + i,
            )
            for i, c in enumerate(calls)
        ])  # fmt: skip
    return first


def calls(
    workspace: Workspace, agent: str, *, limit: int = 50, before: int | None = None
) -> wire.AgentCalls:
    """An agent's recent tool calls, newest first, with counts over those listed.

    Raises:
        NotFoundError: If the estate has no such agent.
        UserError: If ``limit`` is out of range.
    """
    if not 1 <= limit <= MAX_LISTED_CALLS:
        raise UserError(f"limit {limit}: between 1 and {MAX_LISTED_CALLS}")
    agent_spec(workspace, agent)
    with workspace.unit(snapshot=True) as unit:
        found = unit.repository(AgentCallRepository).recent(agent, limit=limit, before=before)
    listed = [
        wire.AgentCall(
            id=row_id,
            at=row.at,
            session=row.session,
            call_id=row.call_id,
            tool=row.tool,
            via=row.via,
            decision=row.decision,
            reasons=row.reasons,
            found=row.found,
            outcome=row.outcome,
            duration_ms=row.duration_ms,
            ledger_index=row.ledger_index,
        )
        for row_id, row in found
    ]
    kinds: Counter[str] = Counter()
    for c in listed:
        kinds.update(c.found)
    return wire.AgentCalls(
        agent=agent,
        calls=listed,
        decisions=dict(Counter(c.decision for c in listed)),
        reasons=dict(Counter(r.split(":")[0] for c in listed for r in c.reasons)),
        tools=dict(Counter(c.tool for c in listed)),
        data_kinds=dict(kinds),
    )


def check(
    workspace: Workspace, agent: str, calls: Sequence[wire.ToolCall], *, actor: Actor
) -> wire.ToolCallVerdicts:
    """Screen a batch of tool calls for ``agent`` and record every verdict (one transaction).

    Raises:
        NotFoundError: If the agent is not in the estate.
        UserError: If the batch is empty or too large, repeats a call id, or has unreadable
            arguments.
    """
    if not calls:
        raise UserError("no tool calls to check")
    size = sum(len(c.function.arguments) for c in calls)
    _batch_limits([c.id for c in calls], size, "tool calls")
    arguments = parse_arguments(calls)
    estate = load_estate(workspace)
    agent_spec(estate, agent)
    names = sorted({c.function.name for c in calls})
    policy = tool_policy(estate, agent, dict.fromkeys(names, ToolLabels()))
    with workspace.unit(snapshot=True) as unit:
        since = datetime.now(UTC) - timedelta(minutes=1)
        used = Counter(unit.repository(AgentCallRepository).forwarded_since(agent, since))
    rules = screening.Rules()
    verdicts = []
    for call, args in zip(calls, arguments, strict=True):
        name = call.function.name
        screened = screening.screen(rules, args)
        usage = {"agent_calls_last_minute": used.total(), "tool_calls_last_minute": used[name]}
        refusals = [] if screened.unread else policy.decide(name, args, usage, via="check")
        verdict = screened.refused(refusals)
        if verdict.decision != "block":
            used[name] += 1
        verdicts.append(verdict)
    decided = [
        Call(agent, None, call.id, call.function.name, None, verdict.decision,
             list(verdict.reasons), verdict.kinds(), arguments=verdict.shown)
        for call, verdict in zip(calls, verdicts, strict=True)
    ]  # fmt: skip
    first = record_calls(workspace, decided, actor=actor.principal, via="check")
    return wire.ToolCallVerdicts(
        agent=agent,
        verdicts=[
            wire.ToolCallVerdict(
                id=call.id,
                tool=call.function.name,
                decision=verdict.decision,
                reasons=verdict.reasons,
                findings=[wire.ToolCallFinding(kind=f.kind, path=f.path) for f in verdict.findings],
                arguments=None if verdict.shown is None else json.dumps(verdict.shown),
                ledger_index=first + i,
            )
            for i, (call, verdict) in enumerate(zip(calls, verdicts, strict=True))
        ],
    )


def _batch_limits(ids: list[str], size: int, what: str) -> None:
    if size > wire.MAX_BATCH_ARGUMENTS_CHARS:
        raise UserError(
            f"the batch's {what} hold {size:,} characters; at most"
            f" {wire.MAX_BATCH_ARGUMENTS_CHARS:,} together: send fewer at once"
        )
    if len(set(ids)) != len(ids):
        raise UserError(f"{what} ids repeat within the batch: each must be unique")


def _payload(result: wire.ToolResult) -> tuple[object, int, list[str]]:
    """A result's content as scanned, its text's length, and its parts that cannot be."""
    if isinstance(result.content, str):
        return result.content, len(result.content), []
    parts = [p.model_dump(exclude_none=True) for p in result.content]
    size = sum(len(p.text or "") for p in result.content)
    return parts, size, sorted({p.type for p in result.content if p.type != "text"})


def check_results(
    workspace: Workspace, agent: str, results: Sequence[wire.ToolResult], *, actor: Actor
) -> wire.ToolResultVerdicts:
    """Scan a batch of tool results before the agent's model sees them; record every verdict.

    Secrets and personal data are redacted (this path knows no tool's labels, so no tool is
    cleared to return personal data); a result with parts that cannot be scanned (images,
    audio, files) is withheld. Recorded like calls (``via`` ``result``): the kinds found and a
    digest of what is handed on, never the values.

    Raises:
        NotFoundError: If the agent is not in the estate.
        UserError: If the batch is empty or too large, or repeats an id.
    """
    if not results:
        raise UserError("no tool results to check")
    payloads = [_payload(r) for r in results]
    size = sum(n for _, n, _ in payloads)
    _batch_limits([r.tool_call_id for r in results], size, "tool results")
    agent_spec(workspace, agent)
    rules = screening.Rules()
    decided: list[Call] = []
    verdicts = []
    for result, (payload, _, unscannable) in zip(results, payloads, strict=True):
        call = Call(agent, None, result.tool_call_id, result.name or "", None, outcome="ok")
        verdict = screening.screen_result(rules, payload, personal_allowed=False)  # no labels
        findings = verdict.findings
        call.result_found = verdict.kinds()
        for part in unscannable:
            call.worsen("block", f"result.unscannable:{part}")
        for reason in verdict.reasons:
            call.worsen(verdict.decision, reason)
        shown: str | list[wire.ToolResultPart] | None = None
        if call.decision != "block":
            call.result = verdict.shown
            if isinstance(call.result, list):
                shown = [wire.ToolResultPart.model_validate(p) for p in call.result]
            else:
                shown = str(call.result)
        decided.append(call)
        verdicts.append((result, call, findings, shown))
    first = record_calls(workspace, decided, actor=actor.principal, via="result")
    return wire.ToolResultVerdicts(
        agent=agent,
        verdicts=[
            wire.ToolResultVerdict(
                id=result.tool_call_id,
                tool=result.name,
                decision=call.decision,
                reasons=call.reasons,
                findings=[wire.ToolCallFinding(kind=f.kind, path=f.path) for f in findings],
                content=shown,
                ledger_index=first + i,
            )
            for i, (result, call, findings, shown) in enumerate(verdicts)
        ],
    )


def agent_names(workspace: Workspace) -> list[str]:
    """The estate's agents, sorted."""
    with workspace.unit(snapshot=True) as unit:
        return sorted(estate_in(unit).of_kind("Agent"))


def duplicate_agents(
    workspace: Workspace, *, min_score: float = 0.0, hidden: set[str] | None = None
) -> wire.AgentDuplicates:
    """Pairs of agents that may duplicate each other, highest score first.

    Args:
        workspace: The workspace.
        min_score: Pairs below this score are left out.
        hidden: Agents the caller may not read: compared with none, never named.

    Raises:
        UserError: If ``min_score`` is not between 0 and 1.
    """
    if not 0 <= min_score <= 1:
        raise UserError(f"min score {min_score}: between 0 and 1")
    with workspace.unit(snapshot=True) as unit:
        agents = estate_in(unit).of_kind("Agent")
    profiles = {}
    for name, resource in agents.items():
        if hidden and name in hidden:
            continue
        spec = resource.spec
        assert isinstance(spec, AgentSpec)
        profiles[name] = duplicates.Profile(
            spec.model, frozenset(spec.tools), frozenset(spec.datasets), spec.purpose
        )
    pairs = [p for p in duplicates.compare(profiles) if p.score >= min_score]
    return wire.AgentDuplicates(
        agents=len(profiles),
        pairs=[
            wire.AgentPair(
                first=p.first,
                second=p.second,
                score=p.score,
                likely=p.likely,
                parts=p.parts,
                shared_tools=p.shared_tools,
                shared_datasets=p.shared_datasets,
                family=p.family,
            )
            for p in pairs
        ],
        weights=dict(duplicates.WEIGHTS),
    )


def _approval(row: StoredApproval, *, arguments: bool = True) -> wire.ToolApproval:
    return wire.ToolApproval(
        id=row.id,
        created_at=row.created_at,
        agent=row.agent,
        session=row.session,
        tool=row.tool,
        arguments=row.arguments if arguments else None,
        arguments_digest=row.arguments_digest,
        requested_by=row.requested_by,
        state=row.state,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        reason=row.reason,
        ledger_index=row.ledger_index,
    )


def request_approval(workspace: Workspace, call: Call, arguments: object, *, actor: str) -> int:
    """Store a high-impact call for an approver, with a ledger entry; the request's id."""
    assert call.session is not None, "approvals wait on the MCP path only"
    digest = _digest(arguments) or ""
    entry = {
        "type": "agent.approval_requested",
        "agent": call.agent,
        "session": call.session,
        "call_id": call.request_id,
        "tool": call.tool,
        "arguments_digest": digest,
    }
    with workspace.unit(actor, write=True) as unit:
        index, _ = ledger.record(unit, [entry])
        return unit.repository(ApprovalRepository).add(
            StoredApproval(
                0, datetime.now(UTC), call.agent, call.session, call.tool, arguments,
                digest, actor, "pending", None, None, None, index,
            )
        )  # fmt: skip


def approval_state(workspace: Workspace, approval_id: int) -> str:
    """A request's state (``pending``, ``approved``, ``denied`` or ``expired``)."""
    with workspace.unit() as unit:
        found = unit.repository(ApprovalRepository).get(approval_id)
    if found is None:
        raise NotFoundError(f"no tool approval {approval_id}")
    return found.state


def _settle(
    workspace: Workspace, row: StoredApproval, state: str, reason: str | None, *, actor: str
) -> bool:
    """Decide a pending request and record it; ``False`` if it was decided meanwhile."""
    entry = {
        "type": "agent.approval_decided",
        "approval": row.id,
        "agent": row.agent,
        "tool": row.tool,
        "state": state,
        "reason": reason,
    }
    with workspace.unit(actor, write=True) as unit:
        by = None if state == "expired" else actor
        if not unit.repository(ApprovalRepository).settle(
            row.id, state, by, datetime.now(UTC), reason
        ):
            return False
        ledger.record(unit, [entry])
    return True


def expire_approval(workspace: Workspace, approval_id: int, *, actor: str) -> bool:
    """Refuse a request nobody decided in time; ``False`` if it was decided meanwhile."""
    with workspace.unit() as unit:
        row = unit.repository(ApprovalRepository).get(approval_id)
    return row is not None and _settle(workspace, row, "expired", None, actor=actor)


def approvals(
    workspace: Workspace, actor: Actor, *, state: str | None = "pending",
    hidden: set[str] | None = None, limit: int = 200,
) -> wire.ToolApprovals:  # fmt: skip
    """Tool approvals, newest first, without those of agents the caller may not read.

    The waiting arguments (redacted, but still what the agent would send) are shown only to
    those who may decide: ``approve`` on the agent. Others see the call without them.

    Raises:
        UserError: If the state is unknown.
    """
    if state is not None and state not in APPROVAL_STATES:
        hint = did_you_mean(state, APPROVAL_STATES)
        raise UserError(f"state {state!r}: one of {', '.join(APPROVAL_STATES)}{hint}")
    with workspace.unit() as unit:
        rows = unit.repository(ApprovalRepository).listed(state, limit)
    rows = [r for r in rows if not hidden or r.agent not in hidden]
    agents = sorted({r.agent for r in rows})
    decided = access.decide_all(
        load_estate(workspace), actor, [("approve", f"Agent/{a}") for a in agents]
    )
    deciders = {a for a, d in zip(agents, decided, strict=True) if d.allowed}
    return wire.ToolApprovals(approvals=[_approval(r, arguments=r.agent in deciders) for r in rows])


def decide_approval(
    workspace: Workspace, approval_id: int, *, approve: bool, reason: str, actor: Actor
) -> wire.ToolApproval:
    """Approve or deny a call that waits; the gateway forwards or refuses it at once.

    Raises:
        NotFoundError: If there is no such request.
        ForbiddenError: If the approver may not ``approve`` the agent (in the ledger).
        LifecycleError: If the approver runs the gateway that asked (separation of duties),
            or the request was already decided.
    """
    if not 1 <= approval_id < 2**31:
        raise NotFoundError(f"no tool approval {approval_id}")
    if len(reason) > 1000:
        raise UserError(f"reason: at most 1,000 characters, got {len(reason):,}")
    with workspace.unit() as unit:
        row = unit.repository(ApprovalRepository).get(approval_id)
    if row is None:
        raise NotFoundError(f"no tool approval {approval_id}")
    access.require(workspace, load_estate(workspace), actor, "approve", f"Agent/{row.agent}")
    if actor.principal == row.requested_by:
        raise LifecycleError(
            f"{actor.principal} runs the gateway that asked for approval {approval_id}: another"
            " principal must decide it (separation of duties)"
        )
    state = "approved" if approve else "denied"
    if not _settle(workspace, row, state, reason or None, actor=actor.principal):
        raise LifecycleError(f"tool approval {approval_id} is not pending: nothing to decide")
    with workspace.unit() as unit:
        done = unit.repository(ApprovalRepository).get(approval_id)
    assert done is not None
    return _approval(done)
