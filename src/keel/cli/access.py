"""``keel access``: ask the Cedar access policy whether a principal may do something."""

from __future__ import annotations

from typing import Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine

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
    output: Out = Format.table,
) -> None:
    """Decide one request; exit 0 when allowed, 1 when denied."""
    decision = state(ctx).ops().check_access(principal, action, resource)
    if output is not Format.table:
        typer.echo(machine(decision, output))
    else:
        verdict = "allowed" if decision.allowed else "denied"
        why = ", ".join(decision.policies) or "no policy permits it (default deny)"
        typer.echo(f"{verdict}: {principal} {action} {resource} (by {why})")
        for error in decision.errors:
            typer.echo(f"  policy error: {error}", err=True)
    if not decision.allowed:
        raise typer.Exit(1)
