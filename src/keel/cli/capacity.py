"""``keel capacity``: demand history from traces and forecasts with prediction intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import duration_s, machine, table
from keel.errors import UserError

app = typer.Typer(help="Capacity planning: demand history, forecasts (docs/capacity.md).")

FORMATS = "alibaba-gpu-2025, alibaba-gpu-2023, alibaba-genai-2026 or keel"

Trace = Annotated[Path, typer.Argument(help="The trace file (CSV).", show_default=False)]
OptionalTrace = Annotated[
    Path | None,
    typer.Argument(
        help="The trace file (CSV); without one, Keel's own runs (works with --server).",
        show_default=False,
    ),
]
TraceFormat = Annotated[str, typer.Option("--format", help=f"One of {FORMATS}.")]
Step = Annotated[str, typer.Option(help="Step of the series: 1h, 15m, 1d.")]
Top = Annotated[
    int | None,
    typer.Option(min=1, help="Keep the N largest classes, fold the rest into 'other'."),
]


@app.command("history")
def history_command(
    ctx: typer.Context,
    trace: OptionalTrace = None,
    *,
    trace_format: TraceFormat = "keel",
    by: Annotated[str, typer.Option(help="Runs: class by pool or workload.")] = "pool",
    step: Step = "1h",
    top: Top = 8,
    output: Out = Format.table,
) -> None:
    """Demand per class: device-hours, mean and peak devices in use, arrivals."""
    step_s = duration_s(step, "--step")
    if trace is None:
        found = state(ctx).ops().capacity_history(step_s=step_s, by=by, top=top)
    else:
        from keel.service import capacity

        state(ctx).local("capacity history")
        found = capacity.history(trace, trace_format, step_s=step_s, top=top)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    start = f" from {found.start}" if found.start else ""
    typer.echo(
        f"{found.source} ({found.format}): {found.usages:,} usages{start},"
        f" {found.steps:,} steps of {found.step_s:,} s"
    )
    rows = [
        [c.name, f"{c.device_hours:,.1f}", f"{c.mean_devices:,.2f}", f"{c.peak_devices:,.2f}",
         "-" if c.peak_to_mean is None else f"{c.peak_to_mean:.1f}x", c.arrivals,
         c.busiest_arrivals]
        for c in found.classes
    ]  # fmt: skip
    columns = ["CLASS", "DEVICE-H", "MEAN IN USE", "PEAK IN USE", "PEAK/MEAN", "ARRIVALS",
               "BUSIEST STEP ARRIVALS"]  # fmt: skip
    typer.echo(table(columns, rows))
    if found.grouped:
        typer.echo(f"other: {found.grouped:,} smaller classes together (--top)")
    for why, count in found.skipped.items():
        typer.echo(f"skipped: {count:,} {why}")
    for why, count in found.clipped.items():
        typer.echo(f"clipped: {count:,} usages {why}")


@app.command("forecast")
def forecast_command(
    ctx: typer.Context,
    trace: Trace,
    *,
    trace_format: TraceFormat = "keel",
    step: Step = "1h",
    top: Top = 8,
    horizon: Annotated[str, typer.Option(help="How far ahead: 24h, 7d.")] = "24h",
    level: Annotated[int, typer.Option(min=50, max=99, help="Interval level, %.")] = 90,
    windows: Annotated[int, typer.Option(min=1, max=52, help="Backtest origins.")] = 4,
    output: Out = Format.table,
) -> None:
    """Forecast devices in use per class (AutoETS), backtested against seasonal naive."""
    from keel.service import capacity

    state(ctx).local("capacity forecast")
    step_s = duration_s(step, "--step")
    ahead = duration_s(horizon, "--horizon")
    if ahead < step_s or ahead % step_s:
        raise UserError(f"--horizon {horizon}: a whole number of steps of {step}")
    found = capacity.outlook(
        trace, trace_format, step_s=step_s, top=top, horizon_steps=ahead // step_s,
        level=level, windows=windows,
    )  # fmt: skip
    if output is not Format.table:
        typer.echo(machine(found.to_json(), output.value))
        return
    first = f" from {found.first}" if found.first else ""
    typer.echo(
        f"devices in use, {found.horizon_steps} steps of {found.step_s:,} s{first};"
        f" {found.level}% intervals; backtest at {found.windows} origins"
    )
    rows = [
        [c.name, f"{max(c.mean_devices):,.2f}", f"{max(c.high_devices):,.2f}",
         f"{c.autoets_mase:.2f}", f"{c.naive_mase:.2f}", f"{c.autoets_coverage:.0%}",
         c.backtest_points]
        for c in found.classes
    ]  # fmt: skip
    columns = ["CLASS", "PEAK MEAN", f"PEAK {found.level}% HIGH", "MASE", "NAIVE MASE",
               "COVERAGE", "POINTS"]  # fmt: skip
    typer.echo(table(columns, rows))
    beats = sum(c.autoets_mase < c.naive_mase for c in found.classes)
    typer.echo(
        f"AutoETS beats seasonal naive (lower MASE) in {beats} of {len(found.classes)}"
        f" class(es); a {found.level}% interval should cover about {found.level}% of points"
    )
