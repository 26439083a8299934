"""Estate commands: validate, apply, get, delete, schema."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer

from keel.cli.context import state
from keel.cli.output import dump_json, dump_yaml_documents, table
from keel.cli.views import ResourceView
from keel.service import (
    ApplyResult,
    StoredResource,
    apply_manifests,
    delete_resource,
    get_resources,
    manifest_schema,
    validate_manifests,
)

Files = Annotated[
    list[str],
    typer.Option("--filename", "-f", help="Manifest file or folder; repeatable; '-' reads stdin."),
]


class Output(StrEnum):
    """Output formats of ``keel get``."""

    table = "table"
    json = "json"
    yaml = "yaml"


def validate(ctx: typer.Context, filename: Files) -> None:
    """Check manifests and report every problem at once, as file:line: Kind/name: field: message."""
    estate = validate_manifests(filename, state(ctx).limits(), state(ctx).data_root())
    typer.echo(f"ok: {len(estate)} resources valid in {len(filename)} path(s)")


def print_apply(result: ApplyResult) -> None:
    """Print an apply's changes, then a one-line total.

    Args:
        result: The apply's outcome.
    """
    for change in result.changes:
        if change.action == "unchanged":
            continue
        detail = f" ({', '.join(change.fields)})" if change.fields else ""
        typer.echo(f"{change.kind}/{change.name} {change.action}{detail}")
    verb = "would be" if result.dry_run else "were"
    typer.echo(
        f"{result.count('created')} created, {result.count('configured')} configured,"
        f" {result.count('deleted')} deleted, {result.count('unchanged')} unchanged"
        f" ({verb} applied; estate revision {result.revision}, {result.estate_digest[:19]})"
    )
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)


def apply(
    ctx: typer.Context,
    filename: Files,
    prune: Annotated[
        bool, typer.Option(help="Delete stored resources that the files do not declare.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Show the changes without making them.")] = False,
) -> None:
    """Create or update the resources in manifests, all in one transaction."""
    cli = state(ctx)
    result = apply_manifests(
        cli.workspace(), filename, actor=cli.actor(), prune=prune, dry_run=dry_run
    )
    print_apply(result)


def _summary_row(view: ResourceView) -> list[Any]:
    return [view.name, view.generation, *view.summary_cells()]


def get(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="Site, Dataset, Model, Workload, Agent, ...")],
    name: Annotated[
        str | None, typer.Argument(help="One resource; all of the kind if absent.")
    ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="Output format.")] = Output.table,
) -> None:
    """Show stored resources (from the server with --server)."""
    remote = state(ctx).remote()
    if remote is not None:
        found = remote.get(kind, name)
        rows = [ResourceView(_stored(item)) for item in ([found] if name else found["items"])]
    else:
        rows = [ResourceView(row) for row in get_resources(state(ctx).workspace(), kind, name)]
    if output is Output.json:
        items = [view.to_json() for view in rows]
        typer.echo(dump_json(items[0] if name else {"kind": "List", "items": items}))
    elif output is Output.yaml:
        typer.echo(dump_yaml_documents([view.to_manifest() for view in rows]), nl=False)
    elif not rows:
        typer.echo(f"no {kind} resources")
    else:
        headers = ["NAME", "GEN", *rows[0].summary_headers()]
        typer.echo(table(headers, [_summary_row(view) for view in rows]))


def _stored(item: dict[str, Any]) -> StoredResource:
    status = item["status"]
    return StoredResource(
        item["kind"],
        item["name"],
        item["labels"],
        item["spec"],
        status["resolved"],
        status["spec_digest"],
        status["generation"],
        datetime.fromisoformat(status["created_at"]),
        datetime.fromisoformat(status["updated_at"]),
    )


def delete(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="Resource kind.")],
    name: Annotated[str, typer.Argument(help="Resource name.")],
) -> None:
    """Delete one resource; refused while other resources reference it."""
    cli = state(ctx)
    change = delete_resource(cli.workspace(), kind, name, actor=cli.actor())
    typer.echo(f"{change.kind}/{change.name} deleted")


def schema() -> None:
    """Print the JSON Schema of manifest documents (for editor completion)."""
    typer.echo(dump_json(manifest_schema()))
