"""``keel lineage``: ingest OpenLineage events, walk the graph, impact analysis, erasure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from keel.cli.context import state
from keel.cli.output import table
from keel.errors import UserError
from keel.service import lineage

app = typer.Typer(help="Lineage: OpenLineage events, the graph, impact analysis, erasure.")

Namespace = Annotated[
    str | None, typer.Option(help="The node's namespace, when its name is in several.")
]
Output = Annotated[str, typer.Option("-o", "--output", help="table or json.")]


def _output(value: str) -> str:
    if value not in ("table", "json"):
        raise UserError(f"--output {value!r}: choose table or json")
    return value


@app.command("ingest")
def ingest_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Events, one JSON object per line (.jsonl).")],
) -> None:
    """Store OpenLineage 2-0-2 events from a file (all or none; duplicates are skipped)."""
    events = lineage.read_jsonl(file)
    result = lineage.ingest(state(ctx).workspace(), events)
    typer.echo(
        f"{result.accepted} events stored, {result.duplicates} already known"
        + (f", {len(result.external)} external datasets created" if result.external else "")
    )
    for name in result.external:
        typer.echo(f"  external: {name}")


@app.command("show")
def show_command(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="KIND:NAME, e.g. dataset:eu-customer-profiles.")],
    *,
    upstream: Annotated[bool, typer.Option("--upstream", help="Where it came from.")] = False,
    downstream: Annotated[bool, typer.Option("--downstream", help="Where it went (default).")] = (
        False
    ),
    depth: Annotated[int, typer.Option(min=0, max=1000, help="Most edges from the node.")] = 3,
    namespace: Namespace = None,
    output: Output = "table",
) -> None:
    """Walk the graph from a node, upstream or downstream, to a depth (cycles are safe)."""
    if upstream and downstream:
        raise UserError("choose --upstream or --downstream, not both")
    view = lineage.show(
        state(ctx).workspace(),
        node,
        namespace=namespace,
        direction="upstream" if upstream else "downstream",
        depth=depth,
    )
    if _output(output) == "json":
        payload = {
            "root": lineage.node_json(view.root),
            "direction": view.direction,
            "nodes": [{**lineage.node_json(n), "depth": d} for n, d in view.nodes],
            "edges": [
                {"from": lineage.label(s), "to": lineage.label(t), "kind": k}
                for s, t, k in view.edges
            ],
            "truncated": view.truncated,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    rows = [[d, lineage.label(n), n.origin, "erased" if n.erased_at else ""] for n, d in view.nodes]
    typer.echo(table(["DEPTH", "NODE", "ORIGIN", ""], rows))
    arrow = "<-" if view.direction == "upstream" else "->"
    for source, target, kind in view.edges:
        a, b = (target, source) if view.direction == "upstream" else (source, target)
        typer.echo(f"  {lineage.label(a)} {arrow} {lineage.label(b)}  ({kind})")
    if view.truncated:
        typer.echo("the answer was cut at the node limit; lower --depth", err=True)


def _print_impact(found: lineage.Impact) -> None:
    typer.echo(f"impact of {lineage.label(found.root)}:")
    typer.echo(
        f"  derived datasets ({len(found.datasets)}): "
        + (", ".join(lineage.keys_of(found.datasets)) or "-")
    )
    typer.echo(
        f"  model versions ({len(found.models)}): "
        + (", ".join(m.name for m in found.models) or "-")
    )
    typer.echo(
        f"  workloads ({len(found.workloads)}): "
        + (", ".join(w.name for w in found.workloads) or "-")
    )
    if found.placements:
        rows = [[p["workload"], p["site"], p["pool"], p["plan_id"]] for p in found.placements]
        typer.echo(table(["WORKLOAD", "SITE", "POOL", "PLAN"], rows))
    else:
        typer.echo("  placements: none in the latest committed plan")


@app.command("impact")
def impact_command(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="dataset:NAME.")],
    *,
    depth: Annotated[
        int | None, typer.Option(min=0, max=1000, help="Most edges (no limit when absent).")
    ] = None,
    namespace: Namespace = None,
    output: Output = "table",
) -> None:
    """Everything a dataset feeds: derived data, model versions, workloads, placements."""
    remote = state(ctx).remote()
    if remote is not None:
        typer.echo(json.dumps(remote.impact(node, depth), indent=2))
        return
    found = lineage.impact(state(ctx).workspace(), node, namespace=namespace, depth=depth)
    if _output(output) == "json":
        typer.echo(json.dumps(lineage.impact_json(found), indent=2))
    else:
        _print_impact(found)


@app.command("erase")
def erase_command(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="dataset:NAME.")],
    *,
    reason: Annotated[str, typer.Option(help="Why (kept erasable, committed in the ledger).")],
    namespace: Namespace = None,
    output: Output = "table",
) -> None:
    """Erase a dataset: blank its payloads, keep the graph, record it, list what to redo."""
    cli = state(ctx)
    done = lineage.erase(cli.workspace(), node, reason, actor=cli.actor(), namespace=namespace)
    if _output(output) == "json":
        payload = {
            **lineage.impact_json(done.impact),
            "retrain": done.retrain,
            "stop": done.stop,
            "ledger_index": done.ledger_index,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    typer.echo(f"erased {lineage.label(done.impact.root)} (ledger entry {done.ledger_index})")
    typer.echo("  retrain: " + (", ".join(done.retrain) or "-"))
    typer.echo("  stop: " + (", ".join(done.stop) or "-"))
