"""``keel plan``: compute, commit and show a placement plan, with baselines and explanations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table
from keel.operations import OBJECTIVES, Commit

if TYPE_CHECKING:
    from keel import wire


PLACEMENT_COLUMNS = [
    "WORKLOAD", "SITE", "POOL", "DEVICES", "COST USD", "KWH", "KGCO2E", "RTT MS", "SLO MS",
    "EGRESS GB",
]  # fmt: skip


def print_plan(plan: wire.Plan) -> None:
    """Print a plan as tables: placements, unplaced, totals and, when present, the baselines.

    Args:
        plan: A plan.
    """
    rows = [
        [p.workload, p.site, p.pool, p.devices, p.cost_usd, p.energy_kwh, p.carbon_kgco2e,
         p.latency_ms or "-", p.latency_slo_ms or "-", p.egress_gb]
        for p in plan.placements
    ]  # fmt: skip
    typer.echo(table(PLACEMENT_COLUMNS, rows))
    for u in plan.unplaced:
        tries = "; ".join(u.relaxations) or "-"
        typer.echo(f"unplaced: {u.workload} x{u.replicas}: {', '.join(u.reasons)}; try: {tries}")
    totals = plan.totals
    typer.echo(
        f"totals: {totals['cost_usd']:,.0f} USD, {totals['energy_kwh']:,.0f} kWh,"
        f" {totals['carbon_kgco2e']:,.0f} kgCO2e; objective {plan.objective_usd:,.0f} USD"
        f" ({plan.objective}); solver {plan.solver}, gap to LP bound {plan.gap:.2%},"
        f" {plan.solve_s * 1000:.1f} ms"
    )
    if plan.baselines:
        base_rows = [["keel", plan.placed_replicas, plan.objective_usd, 0]]
        base_rows += [
            [b.name, b.placed, b.objective_usd, b.capacity_violations] for b in plan.baselines
        ]
        typer.echo("\nbaselines (same objective):")
        typer.echo(
            table(["PLAN", "REPLICAS PLACED", "OBJECTIVE USD", "CAPACITY VIOLATIONS"], base_rows)
        )


def explanation_text(why: wire.Explanation) -> str:
    """An explanation for people: chosen options, alternatives, rejected sites, relaxations.

    Args:
        why: The explanation.

    Returns:
        The text.
    """
    lines = [f"{why.workload}:"]
    columns = ["SITE", "POOL", "OBJECTIVE USD", "COMPUTE USD", "EGRESS USD", "KGCO2E", "RTT MS"]

    def row(o: wire.Option) -> list[object]:
        return [o.site, o.pool, o.objective_usd, o.compute_usd, o.egress_usd, o.carbon_kgco2e,
                o.latency_ms or "-"]  # fmt: skip

    if why.chosen:
        lines += ["chosen:", table(columns, [row(o) for o in why.chosen])]
    else:
        lines.append("not placed")
    if why.alternatives:
        alternatives = [[*row(o), f"+{o.delta_usd:,.2f}"] for o in why.alternatives]
        lines += ["next best:", table([*columns, "DELTA USD"], alternatives)]
    if why.rejected:
        rejected = [[site, ", ".join(codes)] for site, codes in why.rejected.items()]
        lines += ["rejected sites:", table(["SITE", "REASONS"], rejected)]
    if why.policy is not None:
        lines += policy_lines(why.policy.policy_digest, why.policy.deny, why.policy.warn)
    lines += [f"to place it: {relaxation}" for relaxation in why.relaxations]
    return "\n".join(lines)


def policy_lines(digest: str, deny: list[wire.Finding], warn: list[wire.Finding]) -> list[str]:
    """A compliance decision for people: each rule once, with its message, then warnings.

    Args:
        digest: The policy's digest.
        deny: The denials.
        warn: The warnings.

    Returns:
        Lines of text.
    """
    lines = [f"policy {digest[:19]}:"]
    seen: dict[str, list[str]] = {}
    for finding in deny:
        message = finding.message.split(" (here ")[0]
        sites = seen.setdefault(f"  deny {finding.rule}: {message}", [])
        if finding.site is not None:
            sites.append(finding.site)
    for line, sites in seen.items():
        lines.append(line + (f" [{', '.join(sites)}]" if sites else " [everywhere]"))
    lines += [f"  warn {f.rule}: {f.message}" for f in warn]
    if len(lines) == 1:
        lines.append("  no rule fired")
    return lines


def print_moves(plan: wire.Plan) -> None:
    """Print what changed against the previous plan, and why.

    Args:
        plan: A plan computed with ``diff``.
    """
    if plan.previous_plan_id is None:
        typer.echo("no committed plan to compare with: this plan becomes the baseline")
        return
    if not plan.moves:
        typer.echo(f"no moves against plan {plan.previous_plan_id}")
        return
    rows = [
        [m.workload, m.change, ", ".join(m.before) or "-", ", ".join(m.after) or "-", m.why]
        for m in plan.moves
    ]
    typer.echo(f"against plan {plan.previous_plan_id}:")
    typer.echo(table(["WORKLOAD", "CHANGE", "BEFORE", "AFTER", "WHY"], rows))


def plan(
    ctx: typer.Context,
    *,
    objective: Annotated[str, typer.Option(help=f"One of {', '.join(OBJECTIVES)}.")] = "balanced",
    solver: Annotated[str, typer.Option(help="fast or exact.")] = "fast",
    explain: Annotated[
        str | None, typer.Option(help="Explain one workload instead of printing the plan.")
    ] = None,
    output: Out = Format.table,
    commit: Annotated[
        bool | None,
        typer.Option(
            help="Store the plan and record it in the ledger (default: only when it decides"
            " something new, and never with --diff).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the fast solver's local search.")] = 0,
    diff: Annotated[
        bool, typer.Option("--diff", help="Re-plan against the last committed plan; show moves.")
    ] = False,
) -> None:
    """Decide where every workload runs: four dimensions, shared capacity, cost and carbon."""
    ops = state(ctx).ops()
    if explain is not None:
        why = ops.explain(explain, objective=objective, solver=solver, seed=seed)
        typer.echo(machine(why, output) if output is not Format.table else explanation_text(why))
        return
    mode: Commit = "changed" if commit is None else "always" if commit else "never"
    found = ops.plan(objective=objective, solver=solver, seed=seed, commit=mode, diff=diff)
    if output is not Format.table:
        typer.echo(machine(found, output, exclude_none=True))
        return
    if diff:
        print_moves(found)
        if found.plan_id is not None:
            print_commit(found)
        return
    print_plan(found)
    print_commit(found)


def print_commit(plan: wire.Plan) -> None:
    """Say whether a plan was committed, and if not, why.

    Args:
        plan: A plan as :meth:`~keel.operations.Operations.plan` returned it.
    """
    if plan.plan_id is not None:
        typer.echo(f"committed plan {plan.plan_id} (ledger entry {plan.ledger_index})")
    elif plan.same_as_plan_id is not None:
        typer.echo(f"unchanged: committed plan {plan.same_as_plan_id} decides the same")
    elif not (plan.placements or plan.unplaced):
        typer.echo("nothing to plan: the estate has no workloads (keel apply -f DIR first)")
    else:
        typer.echo("not committed (--commit stores it)")
