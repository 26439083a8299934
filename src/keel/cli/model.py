"""``keel model``: the registry, the lifecycle of model versions, fact sheets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from keel.cli.context import state
from keel.cli.output import table
from keel.errors import UserError
from keel.service import registry
from keel.service.registry import Evaluation

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
) -> None:
    """List registered versions with their lifecycle state (from the server with --server)."""
    remote = state(ctx).remote()
    if remote is not None:
        found = [v for v in remote.models() if model is None or v["model"] == model]
    else:
        found = [
            registry.summary_json(v) for v in registry.list_versions(state(ctx).workspace(), model)
        ]
    rows = [
        [
            f"{v['model']}@{v['version']}",
            v["state"],
            v["risk_tier"] or "",
            v["registered_by"] or "",
            v["registered_at"],
        ]
        for v in found
    ]
    typer.echo(table(["VERSION", "STATE", "RISK", "REGISTERED BY", "REGISTERED"], rows))


@app.command("show")
def show_command(
    ctx: typer.Context,
    ref: Ref,
    output: Annotated[str, typer.Option("-o", "--output", help="table or json.")] = "table",
) -> None:
    """Show a version: state, evaluations, approvals, history with ledger indices."""
    detail = registry.describe(state(ctx).workspace(), ref)
    version = detail.version
    if output == "json":
        payload = registry.detail_json(detail)
        typer.echo(json.dumps(payload, indent=2, default=str))
        return
    needed = "never" if detail.approvals_needed is None else str(detail.approvals_needed)
    typer.echo(f"{version.ref}: {version.state} ({detail.risk_tier} risk)")
    typer.echo(f"  registered by {version.registered_by or 'unknown'} as {version.declared_state}")
    typer.echo(f"  approvals: {len(detail.approvers)} of {needed}: {', '.join(detail.approvers)}")
    if detail.aliases:
        typer.echo(f"  aliases: {', '.join(detail.aliases)}")
    for e in detail.evaluations:
        score = "" if e.score is None else f" {e.score:g}"
        typer.echo(f"  {e.kind} {e.name}:{score} {'passed' if e.passed else 'FAILED'}")
    rows = [
        [e.ledger_index, e.type, e.principal or "keel", json.dumps(e.detail, default=str)[:80]]
        for e in detail.events
    ]
    typer.echo(table(["LEDGER", "EVENT", "BY", "DETAIL"], rows))


def _result(kind: str, text: str) -> Evaluation:
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
    return Evaluation(kind, name, passed, score)  # type: ignore[arg-type]


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
    actor = state(ctx).actor(principal)
    version = registry.evaluate(state(ctx).workspace(), ref, results, actor=actor)
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
    actor = state(ctx).actor(principal)
    version = registry.transition(state(ctx).workspace(), ref, to, reason, actor=actor)
    typer.echo(f"{version.ref} is now {version.state}")


@app.command("approve")
def approve_command(
    ctx: typer.Context,
    ref: Ref,
    principal: Principal = None,
) -> None:
    """Approve a validated version (two approvers for high risk; never the registrant)."""
    remote = state(ctx).remote()
    if remote is not None:
        answer = remote.approve(ref)
        typer.echo(f"{answer['model']}@{answer['version']}: approved; now {answer['state']}")
        return
    actor = state(ctx).actor(principal)
    version = registry.approve(state(ctx).workspace(), ref, actor=actor)
    detail = registry.describe(state(ctx).workspace(), version.ref)
    typer.echo(
        f"{version.ref}: approved by {actor.principal} "
        f"({len(detail.approvers)} of {detail.approvals_needed}); now {version.state}"
    )


@app.command("alias")
def alias_command(
    ctx: typer.Context,
    ref: Ref,
    alias: Annotated[str, typer.Argument(help="The alias, e.g. champion.")],
    principal: Principal = None,
) -> None:
    """Point MODEL@ALIAS at a version."""
    actor = state(ctx).actor(principal)
    version = registry.set_alias(state(ctx).workspace(), ref, alias, actor=actor)
    typer.echo(f"{version.model}@{alias} -> {version.version}")


@app.command("factsheet")
def factsheet_command(
    ctx: typer.Context,
    ref: Ref,
    output: Annotated[str, typer.Option("-o", "--output", help="md, json or html.")] = "md",
    file: Annotated[Path | None, typer.Option("--file", help="Write here instead.")] = None,
) -> None:
    """An EU AI Act Annex IV-style fact sheet: purpose, data lineage, evaluations, history."""
    renderers = {
        "md": registry.factsheet_markdown,
        "json": registry.factsheet_json,
        "html": registry.factsheet_html,
    }
    if output not in renderers:
        raise UserError(f"--output {output!r}: choose md, json or html")
    text = renderers[output](registry.factsheet(state(ctx).workspace(), ref))
    if file is None:
        typer.echo(text, nl=False)
    else:
        file.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {file}")
