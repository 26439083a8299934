"""``keel sketch``, ``keel drift`` and ``keel monitor``: drift reports, monitors and alerts."""

from __future__ import annotations

import time
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

app = typer.Typer(help="Monitors: scheduled drift, quality and SLO checks with alerts.")


class DriftFormat(StrEnum):
    """Output formats of ``keel drift``: the common ones, and the HTML report."""

    table = "table"
    json = "json"
    yaml = "yaml"
    html = "html"


def sketch(
    ctx: typer.Context,
    data: Annotated[str, typer.Argument(help="Reference data: Parquet, CSV or Arrow.")],
    out: Annotated[str, typer.Option("--out", help="Where to write the sketch.")],
) -> None:
    """Save a reference window as a compact sketch (what monitors keep instead of raw data)."""
    from keel.service import monitoring

    state(ctx).local("sketch")
    saved = monitoring.save_sketch(data, out)
    size_kb = Path(out).stat().st_size / 1024
    typer.echo(
        f"wrote {out}: {saved.rows:,} rows, {len(saved.columns)} columns, {size_kb:,.0f} KiB,"
        f" {saved.digest}"
    )


def _overrides(values: list[str]) -> dict[str, tuple[str | None, float | None]]:
    found: dict[str, tuple[str | None, float | None]] = {}
    for value in values:
        column, sep, rest = value.partition("=")
        method, _, threshold = rest.partition(":")
        try:
            found[column] = (method or None, float(threshold) if threshold else None)
        except ValueError:
            raise UserError(f"--column {value!r}: write COLUMN=METHOD[:THRESHOLD]") from None
        if not sep or not column:
            raise UserError(f"--column {value!r}: write COLUMN=METHOD[:THRESHOLD]")
    return found


def drift(
    ctx: typer.Context,
    *,
    reference: Annotated[str, typer.Option(help="Reference data, or a .sketch.json.")],
    current: Annotated[str, typer.Option(help="Current data: Parquet, CSV or Arrow.")],
    column: Annotated[
        list[str] | None,
        typer.Option(help="Override a column's test: COLUMN=METHOD[:THRESHOLD] (repeatable)."),
    ] = None,
    share: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Drifted share that makes dataset drift.")
    ] = 0.5,
    output: Annotated[
        DriftFormat, typer.Option("-o", "--output", help="table, json, yaml, or html (a report).")
    ] = DriftFormat.table,
    html_file: Annotated[
        str | None, typer.Option("--html", help="Also write the HTML report here.")
    ] = None,
) -> None:
    """Compare a window with a reference, column by column (Evidently's default tests)."""
    from keel.service import monitoring

    state(ctx).local("drift")
    report, ref, window = monitoring.drift(
        reference, current, overrides=_overrides(column or []), drift_share=share
    )
    if html_file:
        Path(html_file).write_text(monitoring.render(report, ref, window), encoding="utf-8")
    if output in (DriftFormat.json, DriftFormat.yaml):
        typer.echo(machine(report.to_json(), output))
    elif output is DriftFormat.html:
        typer.echo(monitoring.render(report, ref, window))
    else:
        rows = [
            [
                c.column,
                c.type,
                c.method,
                f"{c.statistic:.4g}",
                f"{c.threshold:g}",
                "DRIFT" if c.drifted else "-",
                "exact" if c.exact else "sketch",
            ]
            for c in report.columns
        ]
        typer.echo(
            table(["COLUMN", "TYPE", "METHOD", "STATISTIC", "THRESHOLD", "DRIFT", "FROM"], rows)
        )
        for name, problem in sorted(report.problems.items()):
            typer.echo(f"not tested: {name}: {problem}")
        verdict = "DATASET DRIFT" if report.dataset_drift else "no dataset drift"
        typer.echo(
            f"{verdict}: {sum(c.drifted for c in report.columns)} of {len(report.columns)} columns"
            f" (share {report.drifted_share:.2f}, threshold {report.drift_share:.2f})"
        )


@app.command("run")
def run_command(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One monitor; all when absent.")] = None,
    due: Annotated[bool, typer.Option(help="Only monitors whose interval has passed.")] = False,
    output: Out = Format.table,
) -> None:
    """Run monitors now: check, store, alert (deduplicated), record in the ledger."""
    runs = state(ctx).ops().run_monitors(name, due=due).runs
    if output is not Format.table:
        typer.echo(machine([r.model_dump(mode="json") for r in runs], output))
        return
    for run in runs:
        typer.echo(f"Monitor/{run.monitor} ({run.workload}): {run.status}, {run.rows:,} rows")
        for condition in run.conditions:
            mark = "FIRING" if condition.firing else "ok"
            typer.echo(f"  {mark:6} {condition.key}: {condition.message}")
        for key in run.raised:
            typer.echo(f"  alert raised: {key}")
        for key in run.resolved:
            typer.echo(f"  alert resolved: {key}")
        for error in run.delivery_errors:
            typer.echo(f"  delivery failed: {error}", err=True)
        for action in run.actions:
            typer.echo(f"  action {action.id}: {_describe(action)}")
    if not runs:
        typer.echo("no monitor is due")


@app.command("alerts")
def alerts_command(
    ctx: typer.Context,
    every: Annotated[bool, typer.Option("--all", help="Resolved alerts too.")] = False,
    output: Out = Format.table,
) -> None:
    """List alerts (firing ones unless --all)."""
    found = state(ctx).ops().alerts(every=every)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [a.monitor, a.condition, a.state, a.raised_at.isoformat(timespec="seconds"), a.checks,
         a.message]
        for a in found.alerts
    ]  # fmt: skip
    typer.echo(table(["MONITOR", "CONDITION", "STATE", "RAISED", "CHECKS", "MESSAGE"], rows))


def _describe(action: wire.MonitorAction) -> str:
    """One line: what the action did or waits for."""
    what = action.action
    if action.to_model:
        what += f" {action.from_model} -> {action.to_model}"
    if action.plan_id is not None:
        what += f" (plan {action.plan_id})"
    line = f"{what} of {action.workload}: {action.state}"
    if action.state == "pending":
        line += f"; an approver decides: keel monitor approve {action.id}"
    elif action.state in ("provisional", "overdue") and action.due_at is not None:
        line += f"; confirmation due {action.due_at.isoformat(timespec='minutes')}"
    if action.message:
        line += f" ({action.message})"
    return line


@app.command("actions")
def actions_command(
    ctx: typer.Context,
    workload: Annotated[str | None, typer.Option(help="Only this workload's.")] = None,
    state_: Annotated[
        str | None, typer.Option("--state", help="Only this state (pending, applied, ...).")
    ] = None,
    output: Out = Format.table,
) -> None:
    """List monitor actions (rollback, replan, pause, notify), newest first."""
    found = state(ctx).ops().monitor_actions(workload=workload, state=state_)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [a.id, a.monitor, a.workload, a.action, a.state, a.approval, ", ".join(a.conditions),
         a.requested_at.isoformat(timespec="seconds"), a.decided_by or "-",
         a.message or (f"{a.from_model} -> {a.to_model}" if a.to_model else "")]
        for a in found.actions
    ]  # fmt: skip
    headers = ["ID", "MONITOR", "WORKLOAD", "ACTION", "STATE", "APPROVAL", "ON", "AT", "BY", "WHAT"]
    typer.echo(table(headers, rows))


def _decide(ctx: typer.Context, action_id: int, approve: bool, reason: str, output: Format) -> None:
    decided = state(ctx).ops().decide_action(action_id, approve=approve, reason=reason)
    if output is not Format.table:
        typer.echo(machine(decided, output))
        return
    typer.echo(f"action {decided.id}: {_describe(decided)}")


@app.command("approve")
def approve_command(
    ctx: typer.Context,
    action_id: Annotated[int, typer.Argument(help="The action's id (keel monitor actions).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger).")] = "",
    output: Out = Format.table,
) -> None:
    """Approve a monitor action: carry out a pending one, confirm a provisional one."""
    _decide(ctx, action_id, True, reason, output)


@app.command("reject")
def reject_command(
    ctx: typer.Context,
    action_id: Annotated[int, typer.Argument(help="The action's id (keel monitor actions).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger).")],
    output: Out = Format.table,
) -> None:
    """Reject a monitor action: drop a pending one, revert a provisional one."""
    _decide(ctx, action_id, False, reason, output)


@app.command("serving")
def serving_command(
    ctx: typer.Context,
    workload: Annotated[str, typer.Argument(help="The workload.")],
    output: Out = Format.table,
) -> None:
    """Show what a workload serves and whether a monitor action paused it."""
    found = state(ctx).ops().serving(workload)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    _print_serving(found)


def _print_serving(found: wire.Serving) -> None:
    line = f"Workload/{found.workload} serves {found.model}"
    if found.rollback_action is not None:
        line += f" (rolled back by action {found.rollback_action}; its manifest says"
        line += f" {found.manifest_model})"
    typer.echo(line)
    if found.paused_by_action is not None:
        typer.echo(f"paused by action {found.paused_by_action}: dispatch starts no new runs")


@app.command("release")
def release_command(
    ctx: typer.Context,
    workload: Annotated[str, typer.Argument(help="The workload.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the ledger).")],
    output: Out = Format.table,
) -> None:
    """Hand a workload back to its manifest: lift a monitor's rollback and pause."""
    found = state(ctx).ops().release(workload, reason=reason)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    _print_serving(found)


@app.command("metrics")
def metrics_command(
    ctx: typer.Context,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Serve /metrics on this port instead.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to serve on.")] = "127.0.0.1",
) -> None:
    """Print the latest results in the Prometheus text format, or serve them at /metrics."""
    from keel.service import monitoring

    if port is None:
        typer.echo(state(ctx).ops().metrics(), nl=False)
        return
    state(ctx).local("serve")
    monitoring.serve_metrics(state(ctx).workspace(), host, port)
    typer.echo(f"serving http://{host}:{port}/metrics (Ctrl-C stops)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return
