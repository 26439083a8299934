"""``keel agents``: the agent gateway's checks from the command line (works with --server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError

from keel import wire
from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table
from keel.errors import UserError

app = typer.Typer(help="Agents under governance: their tool calls checked (docs/agents.md).")

MAX_FILE_BYTES = 4 * 1024 * 1024
_W = TypeVar("_W", bound=wire.Wire)

AgentName = Annotated[str, typer.Argument(help="The agent (keel get agents).", show_default=False)]
ServersFile = Annotated[
    Path,
    typer.Option(
        "--servers",
        help="YAML or JSON: the MCP servers to front and their tools' labels (docs/agents.md).",
        show_default=False,
    ),
]


def _json(path: Path) -> object:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UserError(f"{path}: over {MAX_FILE_BYTES // 1024 // 1024} MiB")
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot be read as JSON: {exc}") from None


def _items(path: Path, data: object, model: type[_W], what: str) -> list[_W]:
    if not isinstance(data, list) or not data:
        raise UserError(f"{path}: no {what} list")
    if len(data) > wire.MAX_TOOL_CALLS:
        raise UserError(f"{path}: {len(data)} {what}; at most {wire.MAX_TOOL_CALLS} at once")
    found = []
    for i, item in enumerate(data):
        try:
            found.append(model.model_validate(item))
        except ValidationError as exc:
            where = ", ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]
            )
            raise UserError(f"{path}: {what}[{i}]: {where}") from None
    return found


def read_calls(path: Path) -> list[wire.ToolCall]:
    """The ``tool_calls`` of a file: an assistant message, ``{"tool_calls": [...]}`` or a list."""
    data = _json(path)
    if isinstance(data, dict):
        data = data.get("tool_calls", data.get("message", {}).get("tool_calls"))
    return _items(path, data, wire.ToolCall, "tool_calls")


def read_results(path: Path) -> list[wire.ToolResult]:
    """Tool results: a list of ``tool`` messages, or ``{"messages": [...]}`` (its ``tool`` ones)."""
    data = _json(path)
    if isinstance(data, dict):
        messages = data.get("messages")
        if isinstance(messages, list):
            data = [m for m in messages if isinstance(m, dict) and m.get("role") == "tool"]
    return _items(path, data, wire.ToolResult, "tool messages")


@app.command("check")
def check_command(
    ctx: typer.Context,
    agent: AgentName,
    calls: Annotated[
        Path | None,
        typer.Option(
            "--calls", help="JSON: the model's tool_calls (OpenAI format).", show_default=False
        ),
    ] = None,
    results: Annotated[
        Path | None,
        typer.Option(
            "--results",
            help="JSON: the tools' answers (OpenAI tool messages), scanned before the model"
            " sees them.",
            show_default=False,
        ),
    ] = None,
    output: Out = Format.table,
) -> None:
    """Allow, redact or block an agent's tool calls, or scan their results; each is recorded.

    Tool calls are checked before they run (--calls); tools' answers are redacted before the
    model sees them (--results).
    """
    if (calls is None) == (results is None):
        raise UserError("give --calls (tool calls to check) or --results (tool results to scan)")
    ops = state(ctx).ops()
    if results is not None:
        found: wire.ToolCallVerdicts | wire.ToolResultVerdicts = ops.check_tool_results(
            agent, read_results(results)
        )
        words = ("RESULT", "passed", "withheld", "hand the model the content in -o json")
    else:
        assert calls is not None
        found = ops.check_tool_calls(agent, read_calls(calls))
        words = ("CALL", "allowed", "blocked", "run only what is allowed or redacted, with the"
                 " arguments in -o json")  # fmt: skip
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [v.id, v.tool or "-", v.decision.upper(), ", ".join(v.reasons) or "-",
         ", ".join(sorted({f.kind for f in v.findings})) or "-", v.ledger_index]
        for v in found.verdicts
    ]  # fmt: skip
    typer.echo(table([words[0], "TOOL", "DECISION", "REASONS", "FOUND", "LEDGER"], rows))
    counts = {d: sum(v.decision == d for v in found.verdicts) for d in ("allow", "redact", "block")}
    typer.echo(
        f"{found.agent}: {counts['allow']} {words[1]}, {counts['redact']} redacted,"
        f" {counts['block']} {words[2]}; {words[3]}"
    )


@app.command("calls")
def calls_command(
    ctx: typer.Context,
    agent: AgentName,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Calls to list.")] = 20,
    before: Annotated[
        int | None, typer.Option(min=1, help="Only calls older than this id (paging).")
    ] = None,
    output: Out = Format.table,
) -> None:
    """An agent's recent tool calls, checked or through the gateway, newest first."""
    found = state(ctx).ops().agent_calls(agent, limit=limit, before=before)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [c.id, c.at.strftime("%Y-%m-%d %H:%M:%S"), c.via, c.tool, c.decision.upper(),
         ", ".join(c.reasons) or "-", ", ".join(sorted(c.found)) or "-", c.outcome,
         "-" if c.duration_ms is None else f"{c.duration_ms:.1f}", c.ledger_index]
        for c in found.calls
    ]  # fmt: skip
    heads = ["ID", "AT (UTC)", "VIA", "TOOL", "DECISION", "REASONS", "FOUND", "OUTCOME", "MS"]
    typer.echo(table([*heads, "LEDGER"], rows))
    decisions = ", ".join(f"{n} {d}" for d, n in sorted(found.decisions.items())) or "none"
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(found.data_kinds.items())) or "none"
    typer.echo(f"{found.agent}: {len(found.calls)} calls listed ({decisions}); data found: {kinds}")


def gateway(
    ctx: typer.Context,
    agent: AgentName,
    servers: ServersFile,
    http: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve streamable HTTP on this port (at /mcp, with an API key) instead of stdio.",
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind with --http.")] = "127.0.0.1",
) -> None:
    """Front MCP servers for an agent: every tool call checked and recorded (docs/agents.md)."""
    import anyio

    from keel.service import agent_gateway

    cli = state(ctx)
    cli.local("gateway")
    workspace = cli.workspace()
    found = agent_gateway.open_gateway(workspace, agent, servers, actor=cli.actor())
    if http is None:  # stdout is the protocol: say nothing there
        anyio.run(agent_gateway.serve_stdio, found)
        return

    def ready() -> None:
        typer.echo(f"keel gateway for {agent} on http://{host}:{http}/mcp", err=True)

    anyio.run(lambda: agent_gateway.serve_http(workspace, found, host=host, port=http, ready=ready))


@app.command("session")
def session_command(
    ctx: typer.Context,
    agent: AgentName,
    servers: ServersFile,
    calls: Annotated[
        Path,
        typer.Option(
            "--calls", help="JSON: tool_calls (OpenAI format), run in order.", show_default=False
        ),
    ],
    output: Out = Format.table,
) -> None:
    """Run tool calls in order through the MCP gateway as one session of the agent."""
    from keel.service import agent_gateway

    cli = state(ctx)
    cli.local("agents session")
    script = read_calls(calls)
    found = agent_gateway.run_session(cli.workspace(), agent, servers, script, actor=cli.actor())
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [i + 1, c.tool, c.decision.upper(), ", ".join(c.reasons) or "-",
         ", ".join(sorted({*c.found, *c.result_found})) or "-", c.outcome, c.taint,
         c.ledger_index]
        for i, c in enumerate(found.calls)
    ]  # fmt: skip
    heads = ["#", "TOOL", "DECISION", "REASONS", "FOUND", "OUTCOME", "TAINT", "LEDGER"]
    typer.echo(table(heads, rows))
    typer.echo(f"{agent}: session {found.session}, {len(found.calls)} calls through the gateway")


@app.command("duplicates")
def duplicates_command(
    ctx: typer.Context,
    min_score: Annotated[
        float, typer.Option(min=0, max=1, help="Leave out pairs below this score.")
    ] = 0.3,
    output: Out = Format.table,
) -> None:
    """Agents that may do the same job: model family, tools, datasets and purpose compared."""
    found = state(ctx).ops().agent_duplicates(min_score=min_score)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [p.first, p.second, f"{p.score:.2f}", "LIKELY" if p.likely else "-",
         p.family or "-", ", ".join(p.shared_tools) or "-", ", ".join(p.shared_datasets) or "-",
         f"{p.parts['purpose']:.2f}"]
        for p in found.pairs
    ]  # fmt: skip
    heads = ["AGENT", "AGENT", "SCORE", "DUPLICATE", "FAMILY", "SHARED TOOLS", "SHARED DATA"]
    typer.echo(table([*heads, "PURPOSE SIM"], rows))
    likely = sum(p.likely for p in found.pairs)
    typer.echo(
        f"{found.agents} agents, {len(found.pairs)} pair{'s' if len(found.pairs) != 1 else ''}"
        f" at {min_score:.2f} or more;"
        f" {likely} likely duplicate{'s' if likely != 1 else ''} (score 0.6 or more)"
    )


@app.command("approvals")
def approvals_command(
    ctx: typer.Context,
    which: Annotated[
        str, typer.Option("--state", help="pending, approved, denied, expired, or all.")
    ] = "pending",
    output: Out = Format.table,
) -> None:
    """High-impact tool calls waiting for an approver (keel agents approve ID)."""
    found = state(ctx).ops().tool_approvals(state=None if which == "all" else which)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [a.id, a.created_at.strftime("%Y-%m-%d %H:%M:%S"), a.agent, a.tool, a.state.upper(),
         a.requested_by, a.decided_by or "-",
         "-" if a.arguments is None else json.dumps(a.arguments)[:60]]
        for a in found.approvals
    ]  # fmt: skip
    heads = ["ID", "ASKED (UTC)", "AGENT", "TOOL", "STATE", "ASKED BY", "DECIDED BY"]
    typer.echo(table([*heads, "ARGUMENTS (REDACTED)"], rows))
    count = len(found.approvals)
    kind = "" if which == "all" else f"{which} "
    typer.echo(f"{count} {kind}approval{'s' if count != 1 else ''}")


@app.command("approve")
def approve_command(
    ctx: typer.Context,
    approval: Annotated[int, typer.Argument(help="The approval's id (keel agents approvals).")],
    deny: Annotated[bool, typer.Option("--deny", help="Deny the call instead.")] = False,
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger).")] = "",
    output: Out = Format.table,
) -> None:
    """Approve (or --deny) a waiting tool call; the gateway forwards or refuses it at once."""
    found = state(ctx).ops().decide_tool_approval(approval, approve=not deny, reason=reason)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    typer.echo(
        f"approval {found.id}: {found.agent} {found.tool} {found.state} by {found.decided_by}"
    )
