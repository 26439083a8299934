"""``keel plan``: compute, commit and show a placement plan, with baselines and explanations."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import duration_s, machine, table
from keel.errors import UserError
from keel.operations import OBJECTIVES, Commit

if TYPE_CHECKING:
    from keel import wire


PLACEMENT_COLUMNS = [
    "WORKLOAD", "SITE", "POOL", "DEVICES", "PER", "COST USD", "KWH", "KGCO2E", "RTT MS",
    "SLO MS", "EGRESS GB",
]  # fmt: skip

PERIOD_WORDS = {"month": "per month (services)", "run": "per run (jobs, one run each)"}

BOUND_WORDS = {
    "milp": "the exact solver's search",
    "lp": "the LP relaxation",
    "lagrangian": "a Lagrangian relaxation",
}


def totals_lines(totals: dict[str, float]) -> list[str]:
    """Totals like with like: a line per period that has any placement.

    Args:
        totals: A plan's totals, keyed ``{quantity}_per_{period}``.

    Returns:
        Lines such as ``per month (services): 12,345 USD, 6,789 kWh, 1,234 kgCO2e``.
    """
    lines = []
    for period, words in PERIOD_WORDS.items():
        cost = totals.get(f"cost_usd_per_{period}")
        if cost is None:
            continue
        energy = totals.get(f"energy_kwh_per_{period}", 0.0)
        carbon = totals.get(f"carbon_kgco2e_per_{period}", 0.0)
        if cost == energy == carbon == 0:
            continue  # no placement of that kind
        lines.append(f"  {words}: {cost:,.0f} USD, {energy:,.0f} kWh, {carbon:,.0f} kgCO2e")
    if not lines and "cost_usd" in totals:  # a plan stored before totals had periods
        lines.append(
            f"  mixed periods (an older plan): {totals['cost_usd']:,.0f} USD,"
            f" {totals.get('energy_kwh', 0):,.0f} kWh, {totals.get('carbon_kgco2e', 0):,.0f} kgCO2e"
        )
    return lines


def gap_text(plan: wire.Plan) -> str:
    """What the optimality gap says, or why there is none.

    Args:
        plan: A plan.

    Returns:
        A sentence for people.
    """
    method = BOUND_WORDS.get(plan.bound_method, "a lower bound")
    if plan.gap is None:
        if plan.bound is None or plan.bound_method == "none":
            text = "optimality gap unknown: no lower bound was computed"
        else:
            text = (
                f"optimality gap unknown: the lower bound from {method} is too weak at this size"
                " to say how close this plan is to the best (docs/placement.md)"
            )
    elif plan.gap == 0:
        text = f"optimal: no plan placing as many replicas costs less ({method})"
    else:
        text = (
            f"at most {plan.gap:.2%} above the cheapest plan placing as many replicas (a lower"
            f" bound from {method})"
        )
    return text + _placeable_text(plan)


def _placeable_text(plan: wire.Plan) -> str:
    """What is known of replicas left unplaced: none can be, or some might be placed."""
    notes = []
    if plan.unplaceable:
        notes.append(f"{plan.unplaceable} replica(s) no option can take")
    placed = plan.placed_replicas
    most = plan.placeable_at_most
    if placed is not None and most is not None and most > placed:
        notes.append(f"up to {most - placed} more replica(s) might be placeable")
    return f"; {'; '.join(notes)}" if notes else ""


def print_plan(plan: wire.Plan) -> None:
    """Print a plan as tables: placements, unplaced, totals and, when present, the baselines.

    Args:
        plan: A plan.
    """
    rows = [
        [p.workload, p.site, p.pool, p.devices, p.period or "?", p.cost_usd, p.energy_kwh,
         p.carbon_kgco2e, p.latency_ms or "-", p.latency_slo_ms or "-", p.egress_gb]
        for p in plan.placements
    ]  # fmt: skip
    typer.echo(table(PLACEMENT_COLUMNS, rows))
    for u in plan.unplaced:
        tries = "; ".join(u.relaxations) or "-"
        typer.echo(f"unplaced: {u.workload} x{u.replicas}: {', '.join(u.reasons)}; try: {tries}")
    typer.echo("totals:")
    for line in totals_lines(plan.totals):
        typer.echo(line)
    typer.echo(
        f"objective: {plan.objective_usd:,.0f} USD ({plan.objective}: a month of each service"
        " plus one run of each job, carbon and latency priced in; a score to compare plans,"
        " not a bill)"
    )
    budget = "" if plan.budget_s is None else f" (budget {plan.budget_s:g} s)"
    typer.echo(f"solver: {plan.solver}, {plan.solve_s * 1000:,.1f} ms{budget}; {gap_text(plan)}")
    if plan.measured_hours:
        measured = ", ".join(f"{w} {h * 3600:,.4g} s" for w, h in plan.measured_hours.items())
        typer.echo(f"run lengths measured by dispatched runs (not the manifest's): {measured}")
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
    if why.rejections:
        rows = [[r.site, r.pool or "(site)", r.reason, r.detail] for r in why.rejections]
        lines += ["rejected sites:", table(["SITE", "POOL", "REASON", "DETAIL"], rows)]
    elif why.rejected:
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
    budget: Annotated[
        str | None,
        typer.Option(
            help="Return the fast solver's best plan after this long (30s, 2m): the plan then"
            " depends on the machine's speed, and its bound is what was proven in time.",
            show_default=False,
        ),
    ] = None,
    diff: Annotated[
        bool, typer.Option("--diff", help="Re-plan against the last committed plan; show moves.")
    ] = False,
    horizon: Annotated[
        str | None,
        typer.Option(
            help="Also schedule the jobs over this many hours of grid signals (48h, 2d): each"
            " gets a start time (series from KEEL_GRID_DATA; docs/carbon.md).",
            show_default=False,
        ),
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option(
            help="The horizon's first hour, UTC (default: the current hour).",
            formats=["%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S%z"],
            show_default=False,
        ),
    ] = None,
    signal: Annotated[
        str, typer.Option(help="carbon_location (average) or carbon_marginal.")
    ] = "carbon_location",
    energy_price: Annotated[
        bool,
        typer.Option(
            "--energy-price",
            help="With --horizon: price owned sites' electricity by the hour too (their zone's"
            " day-ahead price; docs/carbon.md).",
        ),
    ] = False,
) -> None:
    """Decide where every workload runs: four dimensions, shared capacity, cost and carbon."""
    ops = state(ctx).ops()
    if explain is not None:
        why = ops.explain(explain, objective=objective, solver=solver, seed=seed)
        typer.echo(machine(why, output) if output is not Format.table else explanation_text(why))
        return
    mode: Commit = "changed" if commit is None else "always" if commit else "never"
    hours = horizon_hours(horizon) if horizon is not None else None
    budget_s = None if budget is None else duration_s(budget, "--budget")
    if budget_s == 0:
        raise UserError("--budget 0: give at least 1s")
    if hours is None and start is not None:
        raise UserError("--start needs --horizon (the hours to schedule from it)")
    if hours is None and energy_price:
        raise UserError("--energy-price needs --horizon (electricity is priced by the hour)")
    found = ops.plan(
        objective=objective, solver=solver, seed=seed, commit=mode, diff=diff,
        horizon_h=hours, start=start, signal=signal, energy_price=energy_price,
        budget_s=budget_s,
    )  # fmt: skip
    if output is not Format.table:
        typer.echo(machine(found, output, exclude_none=True))
        return
    if diff:
        print_moves(found)
        if found.plan_id is not None:
            print_commit(found)
        return
    print_plan(found)
    if found.schedule is not None:
        print_schedule(found.schedule)
    print_commit(found)


def horizon_hours(text: str) -> int:
    """``48h``, ``2d`` or ``48`` (hours) as whole hours.

    Raises:
        UserError: If it is not a whole number of hours.
    """
    written = text.strip()
    seconds = duration_s(written + ("h" if written.isdigit() else ""), "--horizon")
    if seconds % 3600:
        raise UserError(f"--horizon {text!r}: write whole hours (48h) or days (2d)")
    return seconds // 3600


def _hhmm(when: str | None) -> str:
    """``2024-03-04T02:00:00Z`` as ``03-04 02:00``."""
    return "-" if when is None else f"{when[5:10]} {when[11:16]}"


def print_schedule(schedule: wire.Schedule) -> None:
    """Print when each job runs, the baselines on the same horizon, and every fallback.

    Args:
        schedule: A plan's schedule.
    """
    priced = ", electricity priced by the hour at owned sites" if schedule.energy_price else ""
    typer.echo(
        f"\nschedule: {schedule.hours} h from {_hhmm(schedule.start)} UTC on {schedule.signal}"
        + priced
    )
    rows = [
        [r.workload + (f"#{r.replica}" if r.replica else ""),
         f"{r.site}/{r.pool}" if r.site else "-", _hhmm(r.start), _hhmm(r.deadline),
         r.carbon_kgco2e if r.start else "-", r.at_once_kgco2e if r.start else "-", r.why]
        for r in schedule.runs
    ]  # fmt: skip
    columns = ["JOB", "AT", "START", "DEADLINE", "KGCO2E", "AT ONCE KGCO2E", "WHY"]
    typer.echo(table(columns, rows))
    if schedule.totals_withheld:
        typer.echo("totals and baselines withheld: they cover jobs you may not read")
    else:
        _schedule_totals(schedule)
    for line in schedule.signal_notes():
        typer.echo(f"signal: {line}")


def _schedule_totals(schedule: wire.Schedule) -> None:
    saved = schedule.at_once_kgco2e - schedule.carbon_kgco2e
    share = f" ({saved / schedule.at_once_kgco2e:.1%})" if schedule.at_once_kgco2e else ""
    typer.echo(
        f"carbon per run of the scheduled jobs: {schedule.carbon_kgco2e:,.1f} kgCO2e,"
        f" {saved:,.1f} kgCO2e{share} less than each starting at once"
    )
    priced = [r for r in schedule.runs if r.start and r.electricity_usd is not None]
    if priced:
        paid = sum(r.electricity_usd or 0.0 for r in priced)
        at_once = sum(r.at_once_electricity_usd or 0.0 for r in priced)
        typer.echo(
            f"electricity of the {len(priced)} run(s) at owned sites: USD {paid:,.2f},"
            f" USD {at_once - paid:,.2f} less than each starting at once"
        )
    ran = sum(1 for r in schedule.runs if r.start)
    base = [["keel", schedule.objective_usd, schedule.carbon_kgco2e, ran, 0, 0]]
    base += [
        [b.name, "-" if b.objective_usd is None else b.objective_usd, b.carbon_kgco2e, b.ran,
         b.late, b.overfilled_pool_hours]
        for b in schedule.baselines
    ]  # fmt: skip
    columns = ["TIMING", "OBJECTIVE USD", "KGCO2E", "RAN", "LATE", "OVERFILLED POOL-H"]
    typer.echo(table(columns, base))
    if schedule.bound_usd is not None and schedule.objective_usd > 0:
        above = max(schedule.objective_usd - schedule.bound_usd, 0) / schedule.objective_usd
        typer.echo(
            f"jobs' objective {schedule.objective_usd:,.2f} USD: at most {above:.2%} above the"
            " best schedule (a lower bound from the time-indexed LP relaxation)"
        )


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
