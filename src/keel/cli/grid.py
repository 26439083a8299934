"""``keel grid``: grid signals (carbon intensity, electricity price) per zone, from files."""

from __future__ import annotations

import os
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
        typer.Option(help="Folder of <ZONE>_*.csv series (default: $KEEL_GRID_DATA)."),
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
    folder = data or (
        Path(os.environ["KEEL_GRID_DATA"]) if "KEEL_GRID_DATA" in os.environ else None
    )
    if folder is None:
        raise UserError("say where the series are: --data FOLDER (or KEEL_GRID_DATA)")
    found = grid.summary(
        folder,
        zone,
        signal.value,
        start=_when(start),
        hours=hours,
        run_hours=run_hours,
        within_hours=within_hours,
    )
    if output is not Format.table:
        typer.echo(machine(found, output.value))
        return
    unit = found["unit"]
    typer.echo(
        f"{found['zone']} {found['signal']} ({unit}), {found['start']} to {found['end']},"
        f" {found['steps']:,} hourly steps: {found['missing']} missing,"
        f" {found['estimated']} estimated by the source"
    )
    stats = ["mean", "min", "p10", "p90", "max"]
    typer.echo(table(stats, [[f"{float(found[k]):,.1f}" for k in stats]]))  # type: ignore[arg-type]
    typer.echo(
        f"a {run_hours} h job started at the best hour that finishes within {within_hours} h,"
        f" instead of at once, saves {float(found['shift_saving']):.1%} on average"  # type: ignore[arg-type]
        " (capacity ignored)"
    )
    if found["filled"]:
        typer.echo(f"note: {found['filled']}")
    typer.echo(f"source: {found['source']}")
