"""Estate commands: validate, apply, get, delete, schema."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from keel.cli.context import state
from keel.cli.output import dump_json, dump_yaml_documents, machine, table
from keel.cli.views import ResourceView

if TYPE_CHECKING:
    from keel import wire

Files = Annotated[
    list[str],
    typer.Option("--filename", "-f", help="Manifest file or folder; repeatable; '-' reads stdin."),
]


class Format(StrEnum):
    """Output formats of commands that print a result: for people, or for machines."""

    table = "table"
    json = "json"
    yaml = "yaml"


Out = Annotated[Format, typer.Option("--output", "-o", help="table (for people), json or yaml.")]


def validate(ctx: typer.Context, filename: Files) -> None:
    """Check manifests and report every problem at once, as file:line: Kind/name: field: message."""
    from keel.service import validate_manifests

    state(ctx).local("validate")
    estate = validate_manifests(filename, state(ctx).limits(), state(ctx).data_root())
    typer.echo(f"ok: {len(estate)} resources valid in {len(filename)} path(s)")


SUMMARY_OVER = 20
"""More changed resources than this are summarised by kind and action (``-v`` lists each)."""

WARNINGS_SHOWN = 10
"""Warnings printed before the rest are counted (``-o json`` holds them all)."""


def print_apply(result: wire.ApplyResult, *, verbose: bool = False) -> None:
    """Print an apply's changes (or, when many, a summary by kind), then a one-line total.

    Args:
        result: The apply's outcome.
        verbose: List every changed resource however many there are.
    """
    changed = [c for c in result.changes if c.action != "unchanged"]
    if verbose or len(changed) <= SUMMARY_OVER:
        for change in changed:
            detail = f" ({', '.join(change.fields)})" if change.fields else ""
            typer.echo(f"{change.kind}/{change.name} {change.action}{detail}")
    else:
        actions = ("created", "configured", "deleted")
        kinds = sorted({c.kind for c in changed})
        rows = [
            [kind, *(sum(1 for c in changed if c.kind == kind and c.action == a) for a in actions)]
            for kind in kinds
        ]
        typer.echo(table(["KIND", *(a.upper() for a in actions)], rows))
        typer.echo(f"({len(changed)} resources changed; -v lists each, -o json for machines)")
    verb = "would be" if result.dry_run else "were"
    typer.echo(
        f"{result.count('created')} created, {result.count('configured')} configured,"
        f" {result.count('deleted')} deleted, {result.count('unchanged')} unchanged"
        f" ({verb} applied; estate revision {result.revision}, {result.estate_digest[:19]})"
    )
    shown = result.warnings if verbose else result.warnings[:WARNINGS_SHOWN]
    for warning in shown:
        typer.echo(f"warning: {warning}", err=True)
    if len(result.warnings) > len(shown):
        rest = len(result.warnings) - len(shown)
        typer.echo(f"warning: and {rest} more (-v or -o json lists them)", err=True)


def apply(  # noqa: PLR0917 (Typer passes options by position)
    ctx: typer.Context,
    filename: Files,
    prune: Annotated[
        bool, typer.Option(help="Delete stored resources that the files do not declare.")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Show the changes without making them.")] = False,
    output: Out = Format.table,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every changed resource and warning.")
    ] = False,
) -> None:
    """Create or update the resources in manifests, all in one transaction."""
    result = state(ctx).ops(create=True).apply(filename, prune=prune, dry_run=dry_run)
    if output is not Format.table:
        typer.echo(machine(result, output))
    else:
        print_apply(result, verbose=verbose)


def get(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="Site, Dataset, Model, Workload, Agent, ...")],
    name: Annotated[
        str | None, typer.Argument(help="One resource; all of the kind if absent.")
    ] = None,
    output: Annotated[
        Format,
        typer.Option("--output", "-o", help="table, json, or yaml (manifests you can apply)."),
    ] = Format.table,
) -> None:
    """Show stored resources (from the server with --server)."""
    found = state(ctx).ops().get(kind, name)
    if output is Format.json:
        typer.echo(
            found.items[0].model_dump_json(indent=2) if name else found.model_dump_json(indent=2)
        )
    elif output is Format.yaml:
        typer.echo(dump_yaml_documents([item.manifest() for item in found.items]), nl=False)
    elif not found.items:
        typer.echo(f"no {kind} resources")
    else:
        views = [ResourceView(item) for item in found.items]
        headers = ["NAME", "GEN", *views[0].summary_headers()]
        typer.echo(table(headers, [[v.name, v.generation, *v.summary_cells()] for v in views]))


def delete(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="Resource kind.")],
    name: Annotated[str, typer.Argument(help="Resource name.")],
    output: Out = Format.table,
) -> None:
    """Delete one resource; refused while other resources reference it."""
    change = state(ctx).ops().delete(kind, name)
    if output is not Format.table:
        typer.echo(machine(change, output))
    else:
        typer.echo(f"{change.kind}/{change.name} deleted")


def schema(ctx: typer.Context) -> None:
    """Print the JSON Schema of manifest documents (for editor completion)."""
    from keel.service import manifest_schema

    state(ctx).local("schema")
    typer.echo(dump_json(manifest_schema()))
