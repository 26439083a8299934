"""``keel lineage``: ingest OpenLineage events, walk the graph, impact analysis, erasure."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table
from keel.errors import UserError
from keel.operations import MAX_PAGE, Direction

if TYPE_CHECKING:
    from keel import wire

app = typer.Typer(help="Lineage: OpenLineage events, the graph, impact analysis, erasure.")

Namespace = Annotated[
    str | None, typer.Option(help="The node's namespace, when its name is in several.")
]


def label(node: wire.Node) -> str:
    """``kind:name``, with the namespace when it is not ``keel``."""
    if node.namespace == "keel":
        return f"{node.kind}:{node.name}"
    return f"{node.kind}:{node.namespace}/{node.name}"


@app.command("ingest")
def ingest_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Events, one JSON object per line (.jsonl).")],
    output: Out = Format.table,
) -> None:
    """Store OpenLineage 2-0-2 events from a file (all or none; duplicates are skipped)."""
    result = state(ctx).ops().ingest(str(file))
    if output is not Format.table:
        typer.echo(machine(result, output))
        return
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
    output: Out = Format.table,
) -> None:
    """Walk the graph from a node, upstream or downstream, to a depth (cycles are safe)."""
    if upstream and downstream:
        raise UserError("choose --upstream or --downstream, not both")
    direction: Direction = "upstream" if upstream else "downstream"
    view = state(ctx).ops().lineage(node, direction=direction, depth=depth, namespace=namespace)
    if output is not Format.table:
        typer.echo(machine(view, output, by_alias=True))
        return
    rows = [[n.depth, label(n), n.origin, "erased" if n.erased else ""] for n in view.nodes]
    typer.echo(table(["DEPTH", "NODE", "ORIGIN", ""], rows))
    arrow = "<-" if direction == "upstream" else "->"
    for edge in view.edges:
        a, b = (edge.to, edge.source) if direction == "upstream" else (edge.source, edge.to)
        typer.echo(f"  {a} {arrow} {b}  ({edge.kind})")
    if view.truncated:
        typer.echo("the answer was cut at the node limit; lower --depth", err=True)


def _print_impact(found: wire.Impact) -> None:
    typer.echo(f"impact of {label(found.dataset)}:")
    typer.echo(
        f"  derived datasets ({len(found.derived_datasets)}): "
        + (", ".join(found.derived_datasets) or "-")
    )
    typer.echo(
        f"  model versions ({len(found.model_versions)}): "
        + (", ".join(found.model_versions) or "-")
    )
    typer.echo(f"  workloads ({len(found.workloads)}): " + (", ".join(found.workloads) or "-"))
    if found.placements:
        rows = [[p.workload, p.site, p.pool, p.plan_id] for p in found.placements]
        typer.echo(table(["WORKLOAD", "SITE", "POOL", "PLAN"], rows))
    else:
        typer.echo("  placements: none in the latest committed plan")
    if found.next_page is not None:
        typer.echo(f"  more: the next page is --page {found.next_page}")


@app.command("impact")
def impact_command(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="dataset:NAME.")],
    *,
    depth: Annotated[
        int | None, typer.Option(min=0, max=1000, help="Most edges (no limit when absent).")
    ] = None,
    namespace: Namespace = None,
    limit: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_PAGE,
            help="One page of this many nodes (next_page says where the next one starts).",
        ),
    ] = None,
    page: Annotated[
        str | None, typer.Option(help="The page after this cursor (an answer's next_page).")
    ] = None,
    output: Out = Format.table,
) -> None:
    """Everything a dataset feeds: derived data, model versions, workloads, placements."""
    found = state(ctx).ops().impact(node, depth=depth, namespace=namespace, limit=limit, page=page)
    if output is not Format.table:
        typer.echo(machine(found, output))
    else:
        _print_impact(found)


@app.command("erase")
def erase_command(
    ctx: typer.Context,
    node: Annotated[str, typer.Argument(help="dataset:NAME.")],
    *,
    reason: Annotated[str, typer.Option(help="Why (kept erasable, committed in the ledger).")],
    namespace: Namespace = None,
    output: Out = Format.table,
) -> None:
    """Erase a dataset: blank its payloads, keep the graph, record it, list what to redo."""
    done = state(ctx).ops().erase(node, reason, namespace=namespace)
    if output is not Format.table:
        typer.echo(machine(done, output))
        return
    typer.echo(f"erased {label(done.dataset)} (ledger entry {done.ledger_index})")
    typer.echo("  retrain: " + (", ".join(done.retrain) or "-"))
    typer.echo("  stop: " + (", ".join(done.stop) or "-"))
