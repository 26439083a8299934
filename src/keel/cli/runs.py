"""``keel dispatch`` and ``keel runs``: hand the plan to the engines, watch and stop runs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table

if TYPE_CHECKING:
    from keel import wire

app = typer.Typer(help="Runs: placed work on its engines (Ray, Slurm, Kubernetes, local).")


def _when(run: wire.Run) -> str:
    if run.duration_s is not None:
        return f"{run.duration_s:,.1f} s"
    if run.retry_at is not None:
        return f"retry at {run.retry_at.isoformat(timespec='seconds')}"
    return "-"


def _energy(run: wire.Run) -> str:
    if run.energy_kwh is None:
        return "-"
    label = "est." if run.energy_source == "estimated" else run.energy_source
    return f"{run.energy_kwh * 1000:,.3g} Wh ({label})"


def print_runs(found: wire.Runs) -> None:
    """The runs as a table, then their count by state.

    Args:
        found: The runs.
    """
    rows = [
        [r.workload, r.replica, f"{r.site}/{r.pool}", r.cluster, r.state, r.attempt, _when(r),
         _energy(r), r.message[:60]]
        for r in found.runs
    ]  # fmt: skip
    headers = ["WORKLOAD", "REPLICA", "PLACED AT", "CLUSTER", "STATE", "TRY", "RAN", "ENERGY"]
    typer.echo(table([*headers, "MESSAGE"], rows))
    states = ", ".join(f"{n} {s}" for s, n in sorted(found.states.items()))
    typer.echo(f"{len(found.runs)} runs: {states or 'none'}")


def print_dispatch(done: wire.Dispatch) -> None:
    """A dispatch cycle's summary: what it did, what cannot run, unreachable engines.

    Args:
        done: The cycle's report.
    """
    verb = "would" if done.dry_run else "did"
    counts: dict[str, int] = {}
    for action in done.actions:
        counts[action.action] = counts.get(action.action, 0) + 1
    summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing"
    typer.echo(f"plan {done.plan_id}: {verb} {summary} in {done.cycle_s:.2f} s")
    for action in done.actions:
        if action.action != "update" or len(done.actions) <= 20:
            typer.echo(
                f"  {action.action:7} {action.workload}#{action.replica} at"
                f" {action.site}/{action.pool} ({action.cluster}): {action.detail}"
            )
    for item in done.undispatchable:
        typer.echo(
            f"  not dispatchable: {item.workload} at {item.site} ({item.replicas} replicas):"
            f" {item.reason}"
        )
    for trouble in done.unreachable:
        line = f"  engine unreachable: Cluster/{trouble.cluster}: {trouble.message}"
        line += " (its runs are unknown, not failed)"
        if trouble.down_since is not None:
            since = trouble.down_since.isoformat(timespec="seconds")
            line += f"; its sites count as down since {since}: {', '.join(trouble.sites_down)}"
            line += " (re-planned)"
        typer.echo(line, err=True)
    states = ", ".join(f"{n} {s}" for s, n in sorted(done.states.items()))
    typer.echo(f"  runs the plan wants: {states or 'none'}")


def dispatch(  # noqa: PLR0917 (Typer passes options by position)
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be done; submit nothing.")
    ] = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep reconciling every --interval seconds.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.2, max=3600, help="Seconds between cycles with --watch.")
    ] = 5.0,
    until_done: Annotated[
        bool,
        typer.Option(
            "--until-done",
            help="With --watch: stop once no job is waiting (for its start too) or running.",
        ),
    ] = False,
    output: Out = Format.table,
) -> None:
    """Make the engines run what the latest committed plan says, and record what they do.

    Submits what is missing, cancels what the plan no longer wants, moves what a re-plan moved
    and retries failed jobs with backoff. With --dry-run -o yaml, the Kubernetes objects that
    would be applied.
    """
    ops = state(ctx).ops()
    while True:
        done = ops.dispatch(dry_run=dry_run)
        if output is Format.yaml and done.objects:  # what kubectl apply -f takes
            import yaml

            typer.echo(yaml.safe_dump_all(done.objects, sort_keys=False), nl=False)
        elif output is not Format.table:
            typer.echo(machine(done.objects if done.objects else done, output))
        else:
            print_dispatch(done)
        if not watch or dry_run or (until_done and done.jobs_active == done.jobs_waiting == 0):
            return
        time.sleep(interval)


@app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    workload: Annotated[
        str | None, typer.Option("--workload", help="Only this workload's runs.")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Runs the plan no longer wants too.")
    ] = False,
    output: Out = Format.table,
) -> None:
    """List runs (those the plan wanted at the last dispatch): where, state, duration, energy."""
    if ctx.invoked_subcommand is not None:
        return
    found = state(ctx).ops().runs(workload, every=every)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    print_runs(found)


@app.command("logs")
def logs_command(
    ctx: typer.Context,
    workload: Annotated[str, typer.Argument(help="The workload.")],
    replica: Annotated[int, typer.Option(min=0, help="Which replica.")] = 0,
) -> None:
    """Print the end of a workload's latest run's output (64 KiB at most)."""
    typer.echo(state(ctx).ops().run_logs(workload, replica=replica).text, nl=False)


@app.command("cancel")
def cancel_command(
    ctx: typer.Context,
    workload: Annotated[
        str | None, typer.Argument(help="The workload; all runs if absent.")
    ] = None,
    output: Out = Format.table,
) -> None:
    """Stop runs; they stay stopped until the plan asks for something new."""
    found = state(ctx).ops().cancel_runs(workload)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    typer.echo(f"cancelled {len(found.runs)} runs")
