"""``keel model``: the registry, the lifecycle of model versions, fact sheets."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table
from keel.errors import UserError

if TYPE_CHECKING:
    from keel import wire

app = typer.Typer(help="Model registry: versions, evaluations, approvals, fact sheets.")

Principal = Annotated[
    str | None,
    typer.Option("--as", help="Who acts: user:NAME or service_account:NAME (default: keel --as)."),
]
Ref = Annotated[str, typer.Argument(help="MODEL@VERSION or MODEL@ALIAS.")]


@app.command("list")
def list_command(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Argument(help="One model; all when absent.")] = None,
    output: Out = Format.table,
) -> None:
    """List registered versions with their lifecycle state."""
    found = state(ctx).ops().models(model)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [
            v.ref,
            v.state,
            v.risk_tier or "",
            v.registered_by or "",
            v.registered_at.isoformat(timespec="seconds"),
        ]
        for v in found.versions
    ]
    typer.echo(table(["VERSION", "STATE", "RISK", "REGISTERED BY", "REGISTERED"], rows))


def print_version(detail: wire.ModelVersionDetail) -> None:
    """A version for people: state, registrant, approvals, evaluations, history.

    Args:
        detail: The version.
    """
    needed = "never" if detail.approvals_needed is None else str(detail.approvals_needed)
    typer.echo(f"{detail.ref}: {detail.state} ({detail.risk_tier} risk)")
    typer.echo(f"  registered by {detail.registered_by or 'unknown'} as {detail.declared_state}")
    typer.echo(f"  approvals: {len(detail.approvers)} of {needed}: {', '.join(detail.approvers)}")
    if detail.aliases:
        typer.echo(f"  aliases: {', '.join(detail.aliases)}")
    for e in detail.evaluations:
        score = "" if e.score is None else f" {e.score:g}"
        typer.echo(f"  {e.kind} {e.name}:{score} {'passed' if e.passed else 'FAILED'}")
    rows = [
        [e.ledger_index, e.type, e.by or "keel", json.dumps(e.detail, default=str)[:80]]
        for e in detail.history
    ]
    typer.echo(table(["LEDGER", "EVENT", "BY", "DETAIL"], rows))


@app.command("show")
def show_command(ctx: typer.Context, ref: Ref, output: Out = Format.table) -> None:
    """Show a version: state, evaluations, approvals, history with ledger indices."""
    detail = state(ctx).ops().model(ref)
    if output is not Format.table:
        typer.echo(machine(detail, output))
    else:
        print_version(detail)


def _result(kind: str, text: str) -> wire.Evaluation:
    """``NAME=SCORE[:pass|fail]`` for a benchmark, ``NAME=pass|fail[:SCORE]`` for a probe."""
    name, sep, rest = text.partition("=")
    first, _, second = rest.partition(":")
    verdicts = {"pass": True, "fail": False}
    try:
        if kind == "benchmark":
            passed = verdicts[second or "pass"]
            score: float | None = float(first)
        else:
            passed = verdicts[first]
            score = float(second) if second else None
    except (KeyError, ValueError):
        form = "NAME=SCORE[:pass|fail]" if kind == "benchmark" else "NAME=pass|fail[:SCORE]"
        raise UserError(f"--{kind} {text!r}: write {form}") from None
    if not sep or not name or len(name) > 128:
        raise UserError(f"--{kind} {text!r}: the name is missing or over 128 characters")
    from keel import wire

    return wire.Evaluation(kind=kind, name=name, passed=passed, score=score)


@app.command("evaluate")
def evaluate_command(
    ctx: typer.Context,
    ref: Ref,
    principal: Principal = None,
    benchmark: Annotated[
        list[str] | None, typer.Option(help="A benchmark result: NAME=SCORE[:pass|fail].")
    ] = None,
    probe: Annotated[
        list[str] | None,
        typer.Option(help="A vulnerability probe: NAME=pass|fail[:SCORE] (repeatable)."),
    ] = None,
) -> None:
    """Record benchmark results and vulnerability probes of a version (in the ledger)."""
    results = [_result("benchmark", b) for b in benchmark or []]
    results += [_result("probe", p) for p in probe or []]
    if not results:
        raise UserError("give at least one --benchmark or --probe result")
    version = state(ctx).ops(principal).evaluate(ref, results)
    typer.echo(f"{version.ref}: {len(results)} evaluation records added ({version.state})")


@app.command("promote")
def promote_command(
    ctx: typer.Context,
    ref: Ref,
    to: Annotated[str, typer.Option("--to", help="validated, draft or retired.")],
    principal: Principal = None,
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger).")] = "",
) -> None:
    """Move a version to validated (needs evaluations), back to draft, or to retired."""
    version = state(ctx).ops(principal).promote(ref, to, reason)
    typer.echo(f"{version.ref} is now {version.state}")


@app.command("approve")
def approve_command(ctx: typer.Context, ref: Ref, principal: Principal = None) -> None:
    """Approve a validated version (two approvers for high risk; never the registrant)."""
    version = state(ctx).ops(principal).approve(ref)
    who = version.approvers[-1] if version.approvers else "?"
    needed = "never" if version.approvals_needed is None else version.approvals_needed
    typer.echo(
        f"{version.ref}: approved by {who} ({len(version.approvers)} of {needed});"
        f" now {version.state}"
    )


@app.command("alias")
def alias_command(
    ctx: typer.Context,
    ref: Ref,
    alias: Annotated[str, typer.Argument(help="The alias, e.g. champion.")],
    principal: Principal = None,
) -> None:
    """Point MODEL@ALIAS at a version."""
    version = state(ctx).ops(principal).alias(ref, alias)
    typer.echo(f"{version.model}@{alias} -> {version.version}")


class SheetFormat(StrEnum):
    """Formats of a fact sheet: a document, not a table."""

    md = "md"
    json = "json"
    html = "html"


@app.command("factsheet")
def factsheet_command(
    ctx: typer.Context,
    ref: Ref,
    output: Annotated[
        SheetFormat, typer.Option("-o", "--output", help="md, json or html.")
    ] = SheetFormat.md,
    file: Annotated[Path | None, typer.Option("--file", help="Write here instead.")] = None,
) -> None:
    """An EU AI Act Annex IV-style fact sheet: purpose, data lineage, evaluations, history."""
    text = state(ctx).ops().factsheet(ref, output.value).text
    if file is None:
        typer.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {file}")
