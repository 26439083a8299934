"""``keel grid``: grid signals (carbon intensity, electricity price) per zone, from files."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table
from keel.errors import UserError

app = typer.Typer(help="Grid signals: hourly carbon intensity and electricity price per zone.")


class SignalName(StrEnum):
    """The signals a series can hold (never mixed in one number)."""

    carbon_location = "carbon_location"
    carbon_marginal = "carbon_marginal"
    price = "price"


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--from {text!r}: write an ISO 8601 time (2024-03-04T00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@app.command("show")
def show(
    ctx: typer.Context,
    zone: Annotated[str, typer.Argument(help="Grid zone (DE-LU, US-CAL-CISO...).")],
    *,
    data: Annotated[
        Path | None,
        typer.Option(help="Folder of <ZONE>_*.csv series (default: the grid_data setting)."),
    ] = None,
    signal: Annotated[SignalName, typer.Option(help="Which signal.")] = SignalName.carbon_location,
    start: Annotated[
        str | None, typer.Option("--from", help="First hour (ISO 8601; UTC if no offset).")
    ] = None,
    hours: Annotated[int | None, typer.Option(min=1, help="Hours from --from.")] = None,
    run_hours: Annotated[int, typer.Option(min=1, help="Run length of the example job.")] = 4,
    within_hours: Annotated[
        int, typer.Option(min=1, help="How far ahead the example job may finish.")
    ] = 24,
    output: Out = Format.table,
) -> None:
    """Summarise a zone's series: period, gaps, estimates, spread, and what waiting saves."""
    from keel.service import grid

    state(ctx).local("grid show")
    data = data or state(ctx).grid_data()
    if data is None:
        raise UserError(
            "say where the series are: --data FOLDER, or the grid_data setting"
            " (KEEL_GRID_DATA, or grid_data: in keel.yaml)"
        )
    found = grid.summary(
        data,
        zone,
        signal.value,
        start=_when(start),
        hours=hours,
        run_hours=run_hours,
        within_hours=within_hours,
    )
    if output is not Format.table:
        typer.echo(machine(found.to_json(), output.value))
        return
    series = found.series
    typer.echo(
        f"{series.zone} {series.signal} ({series.unit}), {series.start} to {series.end},"
        f" {series.steps:,} hourly steps: {series.missing} missing,"
        f" {series.estimated} estimated by the source"
    )
    stats = [series.mean, series.min, series.p10, series.p90, series.max]
    typer.echo(
        table(
            ["mean", "min", "p10", "p90", "max"],
            [["-" if v is None else f"{v:,.1f}" for v in stats]],
        )
    )
    job = f"a {run_hours} h job started at the best hour that finishes within {within_hours} h"
    if found.shift_saving is None:
        typer.echo(f"{job}: no saving as a share, since the signal reaches 0 or below")
    else:
        typer.echo(
            f"{job}, instead of at once, saves {found.shift_saving:.1%} on average"
            " (capacity ignored)"
        )
    if found.filled:
        typer.echo(f"note: {found.filled}")
    typer.echo(f"source: {series.source}")
