"""``keel access``: ask the Cedar access policy whether a principal may do something."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from keel.cli.context import state
from keel.service import access

app = typer.Typer(help="Access policies (Cedar): who may do what.")


@app.command("check")
def check_command(
    ctx: typer.Context,
    principal: Annotated[
        str, typer.Option("--as", help="user:NAME, service_account:NAME or agent:NAME.")
    ],
    action: Annotated[
        str, typer.Option(help="read, apply, delete, plan, deploy, approve or admin.")
    ],
    resource: Annotated[
        str, typer.Option(help="Kind/name, ModelVersion/model@version, or Ledger.")
    ],
    output: Annotated[str, typer.Option("-o", "--output", help="text or json.")] = "text",
) -> None:
    """Decide one request; exit 0 when allowed, 1 when denied."""
    decision = access.check(state(ctx).workspace(), principal, action, resource)
    if output == "json":
        typer.echo(json.dumps(access.decision_json(decision), indent=2))
    else:
        verdict = "allowed" if decision.allowed else "denied"
        why = ", ".join(decision.policies) or "no policy permits it (default deny)"
        typer.echo(f"{verdict}: {principal} {action} {resource} (by {why})")
        for error in decision.errors:
            typer.echo(f"  policy error: {error}", err=True)
    if not decision.allowed:
        raise typer.Exit(1)
