"""``keel readiness``: the readiness and maturity index, computed from the estate."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keel.cli.context import state
from keel.cli.output import machine, table

if TYPE_CHECKING:
    from keel import wire


class ReportFormat(StrEnum):
    """How an assessment is shown: a summary, data for machines, or an HTML report."""

    table = "table"
    json = "json"
    yaml = "yaml"
    html = "html"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def _weakest(score: wire.ReadinessScore) -> str:
    parts = [c for c in score.components if c.value is not None]
    if not parts:
        return score.components[0].detail if score.components else "-"
    worst = min(parts, key=lambda c: c.value or 0.0)
    return f"{worst.key} {_pct(worst.value)}: {worst.detail}"


def _gaps(gaps: list[str], shown: int = 4) -> str:
    if not gaps:
        return ""
    more = f" (+{len(gaps) - shown})" if len(gaps) > shown else ""
    return ": " + ", ".join(gaps[:shown]) + more


def print_readiness(found: wire.Readiness) -> None:
    """An assessment for people: the index, each sub-score, tiers, next steps, sites, trend.

    Args:
        found: The assessment.
    """
    typer.echo(
        f"readiness {_pct(found.readiness)} · maturity {_pct(found.maturity)} (measured, 0-100)"
        f" · declared {_pct(found.declared)} · level {found.level}"
        f" · tier {found.tier or 'none yet'}"
    )
    typer.echo(
        f"assessment {found.id} at {found.at.isoformat(timespec='seconds')}, ledger entry"
        f" {found.ledger_index}, plan {found.inputs.get('plan_id') or 'none'}"
    )
    rows = [
        [s.label, s.axis, s.source, s.tier, _pct(s.value), _weakest(s)[:90]] for s in found.scores
    ]
    typer.echo(table(["SCORE", "AXIS", "SOURCE", "TIER", "VALUE", "WEAKEST PART"], rows))
    for tier in found.tiers:
        weak = ", ".join(tier.weak) or "none"
        note = f"; not declared: {', '.join(tier.unanswered)}" if tier.unanswered else ""
        typer.echo(f"tier {tier.name}: {'reached' if tier.reached else 'not reached'}"
                   f" (below 60: {weak}{note})")  # fmt: skip
    if found.steps:
        typer.echo(f"next steps ({found.steps[0].stage}):")
        for number, step in enumerate(found.steps[:10], 1):
            typer.echo(
                f"  {number}. {step.score}/{step.component} {_pct(step.value)}:"
                f" {step.action}{_gaps(step.gaps)}"
            )
        if len(found.steps) > 10:
            typer.echo(f"  ... {len(found.steps) - 10} more (-o json or -o html lists all)")
    sites = [
        [c.provider, c.site, "yes" if c.available else "DOWN", c.outages, c.downtime_h,
         c.usd_per_device_hour, c.price_changes,
         f"{c.slo_met}/{c.slo_checked}" if c.slo_checked else "-", c.wait_s_p50, c.runs,
         c.carbon_gco2e_per_kwh]
        for c in found.sites
    ]  # fmt: skip
    headers = ["PROVIDER", "SITE", "UP", "OUTAGES", "DOWN H", "USD/DEVICE-H", "PRICE CHANGES"]
    typer.echo(table([*headers, "SLO MET", "WAIT P50 S", "RUNS", "GCO2E/KWH"], sites))
    if len(found.trend) > 1:
        first, last = found.trend[0], found.trend[-1]
        typer.echo(
            f"trend over {len(found.trend)} assessments: readiness {_pct(first.readiness)} ->"
            f" {_pct(last.readiness)}, maturity {_pct(first.maturity)} -> {_pct(last.maturity)}"
        )


def readiness(
    ctx: typer.Context,
    latest: Annotated[
        bool,
        typer.Option("--latest", help="Show the latest assessment instead of assessing now."),
    ] = False,
    output: Annotated[
        ReportFormat,
        typer.Option("--output", "-o", help="table (for people), json, yaml or html."),
    ] = ReportFormat.table,
    file: Annotated[Path | None, typer.Option("--file", help="Write the output here.")] = None,
) -> None:
    """Score AI readiness and maturity from the estate, with the evidence for every score.

    Each run computes the index from the estate, the latest plan, the registry, lineage,
    monitors, runs and the verified ledger, stores it and records it in the ledger (its
    trend grows by one). Talent, partnerships and a centre of excellence come from the
    Questionnaire resource and are shown as declared, apart from what is measured.
    """
    ops = state(ctx).ops()
    found = ops.readiness() if latest else ops.assess_readiness()
    if output is ReportFormat.table:
        print_readiness(found)
        return
    if output is ReportFormat.html:
        from keel.web.readiness import report_html

        text = report_html(found)
    else:
        text = machine(found, output.value)
    if file is None:
        typer.echo(text)
    else:
        file.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {file}")
