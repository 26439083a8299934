"""``keel policy``: run Rego unit tests, show one workload's decision, list the packs."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table
from keel.cli.plan import policy_lines

app = typer.Typer(help="Compliance policies (Rego) and their tests.")


@app.command("test")
def run_tests_command(
    ctx: typer.Context,
    directory: Annotated[
        str | None,
        typer.Argument(help="Folder (or file) of .rego modules; the shipped packs when absent."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every test.")] = False,
) -> None:
    """Run Rego unit tests (``test_`` rules) like ``opa test``; exit 1 if any fails."""
    from keel.service import policy

    state(ctx).local("policy test")
    results = policy.run_policy_tests(directory)
    failed = [r for r in results if not r.passed]
    for result in results:
        if result.passed and not verbose:
            continue
        status = "PASS" if result.passed else ("ERROR" if result.error else "FAIL")
        detail = f": {result.error}" if result.error else ""
        typer.echo(f"{status}: {result.rule} ({result.elapsed_ns / 1e6:.2f} ms){detail}")
    typer.echo(f"{'FAIL' if failed else 'PASS'}: {len(results) - len(failed)}/{len(results)}")
    if failed:
        raise typer.Exit(1)


@app.command("eval")
def eval_command(
    ctx: typer.Context,
    workload: Annotated[str, typer.Option("--workload", help="The stored workload to decide.")],
    output: Out = Format.table,
) -> None:
    """Show the compliance decision for one workload, with every rule that fired."""
    decision = state(ctx).ops().decision(workload)
    if output is not Format.table:
        typer.echo(machine(decision, output))
        return
    verdict = "allowed" if decision.allowed else "denied everywhere"
    took = "an earlier evaluation" if decision.cached else f"{decision.elapsed_ms} ms"
    typer.echo(f"Workload/{workload}: {verdict} ({took})")
    typer.echo("\n".join(policy_lines(decision.policy_digest, decision.deny, decision.warn)))


@app.command("packs")
def packs_command(ctx: typer.Context, output: Out = Format.table) -> None:
    """List the regulation packs Keel ships, with their default parameters."""
    from keel.service import policy

    state(ctx).local("policy packs")
    if output is not Format.table:
        packs = [{"name": n, "enforces": t, "defaults": d} for n, t, d in policy.shipped_packs()]
        typer.echo(machine(packs, output))
        return
    rows = [
        [name, title, json.dumps(defaults, separators=(",", ":"))[:60]]
        for name, title, defaults in policy.shipped_packs()
    ]
    typer.echo(table(["PACK", "ENFORCES", "DEFAULT PARAMETERS"], rows))
