"""The root of the ``keel`` command and its error handling."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from keel import __version__, progress
from keel.cli import (
    access,
    agents,
    capacity,
    decisions,
    demo,
    estate,
    grid,
    ledger,
    lineage,
    model,
    monitor,
    plan,
    policy,
    readiness,
    runs,
    serve,
)
from keel.cli.context import CliState
from keel.cli.output import report_error
from keel.cli.progress import TerminalProgress, quiet_s
from keel.cli.progress import wanted as progress_shown

app = typer.Typer(
    name="keel",
    help="Keel: the control plane for hybrid AI infrastructure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"keel {__version__}")
        raise typer.Exit


@app.callback()
def main(  # noqa: PLR0917 (Typer passes the global options by position)
    ctx: typer.Context,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Folder holding .keel/ (default: KEEL_HOME, keel.yaml, or the current folder).",
        ),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(
            "--server",
            envvar="KEEL_SERVER",
            help="Talk to this keel serve instead of the local workspace (some commands).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="KEEL_TOKEN", help="API key for --server."),
    ] = None,
    principal: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Who acts on the local workspace (user:NAME); default KEEL_PRINCIPAL. "
            "With --server the API key decides.",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Keel: the control plane for hybrid AI infrastructure."""
    ctx.obj = CliState(workspace_dir=workspace, server=server, token=token, principal=principal)
    ctx.call_on_close(ctx.obj.close)
    if progress_shown():
        ctx.with_resource(progress.reporting(TerminalProgress(quiet_s=quiet_s())))


app.command()(estate.validate)
app.command()(estate.apply)
app.command()(estate.get)
app.command()(estate.delete)
app.command()(estate.schema)
app.command()(demo.init)
app.command()(demo.demo)
app.command()(plan.plan)
app.command()(runs.dispatch)
app.add_typer(runs.app, name="runs")
app.add_typer(ledger.app, name="ledger")
app.add_typer(decisions.app, name="decisions")
app.add_typer(policy.app, name="policy")
app.add_typer(access.app, name="access")
app.command()(monitor.sketch)
app.command()(monitor.drift)
app.add_typer(monitor.app, name="monitor")
app.add_typer(lineage.app, name="lineage")
app.add_typer(grid.app, name="grid")
app.add_typer(capacity.app, name="capacity")
app.add_typer(agents.app, name="agents")
app.command()(agents.gateway)
app.add_typer(model.app, name="model")
app.command()(readiness.readiness)
app.command()(serve.serve)
app.add_typer(serve.app, name="token")


def run() -> None:
    """Entry point of the console script: run the app, print errors, set the exit code.

    Usage errors are Click's (exit 2); Keel's own errors are printed by
    :func:`~keel.cli.output.report_error`.
    """
    try:
        app()
    except SystemExit:
        raise
    except Exception as error:
        sys.exit(report_error(error))
