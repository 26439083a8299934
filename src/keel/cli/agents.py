"""``keel agents``: the agent gateway's checks from the command line (works with --server)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from keel import wire
from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table
from keel.errors import UserError

app = typer.Typer(help="Agents under governance: their tool calls checked (docs/agents.md).")

MAX_FILE_BYTES = 4 * 1024 * 1024


def _calls(path: Path) -> list[wire.ToolCall]:
    """The ``tool_calls`` of a file: an assistant message, ``{"tool_calls": [...]}`` or a list."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UserError(f"{path}: over {MAX_FILE_BYTES // 1024 // 1024} MiB")
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot be read as JSON: {exc}") from None
    if isinstance(data, dict):
        data = data.get("tool_calls", data.get("message", {}).get("tool_calls"))
    if not isinstance(data, list) or not data:
        raise UserError(f"{path}: no tool_calls list (an assistant message or a list of calls)")
    if len(data) > wire.MAX_TOOL_CALLS:
        raise UserError(f"{path}: {len(data)} tool calls; at most {wire.MAX_TOOL_CALLS} at once")
    calls = []
    for i, item in enumerate(data):
        try:
            calls.append(wire.ToolCall.model_validate(item))
        except ValidationError as exc:
            where = ", ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]
            )
            raise UserError(f"{path}: tool_calls[{i}]: {where}") from None
    return calls


@app.command("check")
def check_command(
    ctx: typer.Context,
    agent: Annotated[str, typer.Argument(help="The agent (keel get agents).", show_default=False)],
    calls: Annotated[
        Path,
        typer.Option(
            "--calls", help="JSON: the model's tool_calls (OpenAI format).", show_default=False
        ),
    ],
    output: Out = Format.table,
) -> None:
    """Allow, redact or block an agent's tool calls before they run; each verdict is recorded."""
    found = state(ctx).ops().check_tool_calls(agent, _calls(calls))
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [v.id, v.tool, v.decision.upper(), ", ".join(v.reasons) or "-",
         ", ".join(sorted({f.kind for f in v.findings})) or "-", v.ledger_index]
        for v in found.verdicts
    ]  # fmt: skip
    typer.echo(table(["CALL", "TOOL", "DECISION", "REASONS", "FOUND", "LEDGER"], rows))
    counts = {d: sum(v.decision == d for v in found.verdicts) for d in ("allow", "redact", "block")}
    typer.echo(
        f"{found.agent}: {counts['allow']} allowed, {counts['redact']} redacted,"
        f" {counts['block']} blocked; run only what is allowed or redacted, with the arguments"
        " in -o json"
    )
