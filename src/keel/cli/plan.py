"""``keel plan``: compute, commit and show a placement plan, with baselines and explanations."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from keel.cli.context import state
from keel.cli.output import dump_json, table
from keel.errors import UserError
from keel.service import planning


class Format(StrEnum):
    """Output formats of ``keel plan``."""

    table = "table"
    json = "json"


def print_plan(result: planning.PlanResult, *, with_baselines: bool = True) -> None:
    """Print a plan as tables: placements, unplaced, totals and the two baselines.

    Args:
        result: A computed plan.
        with_baselines: Also compute and print the naive baselines.
    """
    plan = result.plan
    rows = [
        [
            p.workload,
            p.site,
            p.pool,
            p.devices,
            p.cost_usd,
            p.energy_kwh,
            p.carbon_kgco2e,
            p.latency_ms or "-",
            p.egress_gb,
        ]
        for p in plan.placements
    ]
    typer.echo(
        table(
            [
                "WORKLOAD",
                "SITE",
                "POOL",
                "DEVICES",
                "COST USD",
                "KWH",
                "KGCO2E",
                "RTT MS",
                "EGRESS GB",
            ],
            rows,
        )
    )
    for u in plan.unplaced:
        tries = "; ".join(u.relaxations) or "-"
        typer.echo(f"unplaced: {u.workload} x{u.replicas}: {', '.join(u.reasons)}; try: {tries}")
    totals = plan.totals
    typer.echo(
        f"totals: {totals['cost_usd']:,.0f} USD, {totals['energy_kwh']:,.0f} kWh,"
        f" {totals['carbon_kgco2e']:,.0f} kgCO2e; objective {plan.objective_usd:,.0f} USD"
        f" ({plan.objective_preset}); solver {plan.solver}, gap to LP bound {plan.gap:.2%},"
        f" {plan.solve_s * 1000:.1f} ms"
    )
    if with_baselines:
        placed = planning.placed_items(result)
        base_rows = [["keel", placed, plan.objective_usd, 0]]
        base_rows += [
            [b.name, b.placed, b.objective_usd, b.capacity_violations]
            for b in planning.baselines(result)
        ]
        typer.echo("\nbaselines (same objective):")
        typer.echo(
            table(["PLAN", "REPLICAS PLACED", "OBJECTIVE USD", "CAPACITY VIOLATIONS"], base_rows)
        )


def explanation_text(why: dict[str, Any]) -> str:
    """An explanation for people: chosen options, alternatives, rejected sites, relaxations.

    Args:
        why: What :func:`keel.service.planning.explain_workload` returns.

    Returns:
        The text.
    """
    lines = [f"{why['workload']}:"]
    columns = ["SITE", "POOL", "OBJECTIVE USD", "COMPUTE USD", "EGRESS USD", "KGCO2E", "RTT MS"]

    def row(option: dict[str, Any]) -> list[Any]:
        return [
            option["site"],
            option["pool"],
            option["objective_usd"],
            option["compute_usd"],
            option["egress_usd"],
            option["carbon_kgco2e"],
            option["latency_ms"] or "-",
        ]

    if why["chosen"]:
        lines += ["chosen:", table(columns, [row(o) for o in why["chosen"]])]
    else:
        lines.append("not placed")
    if why["alternatives"]:
        alternatives = [[*row(o), f"+{o['delta_usd']:,.2f}"] for o in why["alternatives"]]
        lines += ["next best:", table([*columns, "DELTA USD"], alternatives)]
    if why["rejected"]:
        rejected = [[site, ", ".join(codes)] for site, codes in why["rejected"].items()]
        lines += ["rejected sites:", table(["SITE", "REASONS"], rejected)]
    decision = why.get("policy")
    if decision is not None:
        lines += policy_lines(decision)
    for relaxation in why["relaxations"]:
        lines.append(f"to place it: {relaxation}")
    return "\n".join(lines)


def policy_lines(decision: dict[str, Any]) -> list[str]:
    """A compliance decision for people: each rule once, with its message, then warnings.

    Args:
        decision: A decision's JSON (``deny`` and ``warn`` entries, ``policy_digest``).

    Returns:
        Lines of text.
    """
    lines = [f"policy {decision['policy_digest'][:19]}:"]
    seen: dict[str, list[str]] = {}
    for entry in decision["deny"]:
        message = entry["message"].split(" (here ")[0]
        sites = seen.setdefault(f"  deny {entry['rule']}: {message}", [])
        if "site" in entry:
            sites.append(entry["site"])
    for line, sites in seen.items():
        lines.append(line + (f" [{', '.join(sites)}]" if sites else " [everywhere]"))
    lines += [f"  warn {entry['rule']}: {entry['message']}" for entry in decision["warn"]]
    if len(lines) == 1:
        lines.append("  no rule fired")
    return lines


def print_moves(result: planning.PlanResult) -> None:
    """Print what changed against the previous plan, and why.

    Args:
        result: A plan computed with ``replan``.
    """
    if result.previous_id is None:
        typer.echo("no committed plan to compare with: this plan becomes the baseline")
        return
    if not result.moves:
        typer.echo(f"no moves against plan {result.previous_id}")
        return
    rows = [
        [m.workload, m.change, ", ".join(m.before) or "-", ", ".join(m.after) or "-", m.why]
        for m in result.moves
    ]
    typer.echo(f"against plan {result.previous_id}:")
    typer.echo(table(["WORKLOAD", "CHANGE", "BEFORE", "AFTER", "WHY"], rows))


def plan(
    ctx: typer.Context,
    *,
    objective: Annotated[
        str, typer.Option(help=f"One of {', '.join(planning.OBJECTIVES)}.")
    ] = "balanced",
    solver: Annotated[
        str, typer.Option(help="fast (greedy + local search) or exact (MILP).")
    ] = "fast",
    explain: Annotated[str | None, typer.Option(help="Explain one workload's placement.")] = None,
    output: Annotated[Format, typer.Option("--output", "-o")] = Format.table,
    commit: Annotated[
        bool, typer.Option(help="Store the plan and record it in the ledger.")
    ] = True,
    seed: Annotated[int, typer.Option(help="Seed of the fast solver's local search.")] = 0,
    diff: Annotated[
        bool, typer.Option("--diff", help="Re-plan against the last committed plan; show moves.")
    ] = False,
) -> None:
    """Decide where every workload runs: four dimensions, shared capacity, cost and carbon."""
    remote = state(ctx).remote()
    if remote is not None:
        if explain is not None or diff:
            raise UserError("--explain and --diff run on a local workspace only")
        data = remote.plan(objective=objective, solver=solver, commit=commit)
        if output is Format.json:
            typer.echo(dump_json(data))
            return
        rows = [
            [p["workload"], p["site"], p["pool"], p["devices"], f"{p['cost_usd']:,.2f}"]
            for p in data["placements"]
        ]
        typer.echo(table(["WORKLOAD", "SITE", "POOL", "DEVICES", "COST USD"], rows))
        if commit:
            typer.echo(f"committed plan {data['plan_id']} (ledger entry {data['ledger_index']})")
        return
    workspace = state(ctx).workspace()
    result = planning.compute_plan(
        workspace, objective=objective, solver=solver, seed=seed, replan=diff
    )
    if explain is not None:
        why = planning.explain_workload(result, explain)
        typer.echo(dump_json(why) if output is Format.json else explanation_text(why))
        return
    data = result.plan.to_json()
    if commit:
        plan_id, index = planning.commit_plan(workspace, result, actor=state(ctx).actor())
        data["plan_id"], data["ledger_index"] = plan_id, index
    if diff:
        data["previous_plan_id"] = result.previous_id
        data["moves"] = [move.to_json() for move in result.moves]
    if output is Format.json:
        typer.echo(dump_json(data))
        return
    if diff:
        print_moves(result)
        return
    print_plan(result)
    if commit:
        typer.echo(f"committed plan {data['plan_id']} (ledger entry {data['ledger_index']})")
