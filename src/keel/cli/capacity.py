"""``keel capacity``: demand history from traces and forecasts with prediction intervals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import duration_s, machine, table
from keel.errors import UserError

if TYPE_CHECKING:
    from keel.service.simulation import Scenario
    from keel.wire import CapacityAdvice

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


def _steps(step: str, horizon: str) -> tuple[int, int]:
    """Seconds per step, and the horizon as a whole number of steps."""
    step_s = duration_s(step, "--step")
    ahead = duration_s(horizon, "--horizon")
    if ahead < step_s or ahead % step_s:
        raise UserError(f"--horizon {horizon}: a whole number of steps of {step}")
    return step_s, ahead // step_s


def _report(path: Path | None, found: CapacityAdvice) -> None:
    """Write the advice as a standalone HTML report, when asked."""
    if path is not None:
        from keel.web.capacity import advice_html

        path.write_text(advice_html(found), encoding="utf-8")


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
    step_s, steps = _steps(step, horizon)
    found = capacity.outlook(
        trace, trace_format, step_s=step_s, top=top, horizon_steps=steps,
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


As = Annotated[
    list[str] | None,
    typer.Option(
        "--like",
        help="CLASS=WORKLOAD: the estate's workload a class behaves as (its rules, accelerators,"
        " SLO); '*=WORKLOAD' for every class not named.",
    ),
]
Reserve = Annotated[
    list[str] | None,
    typer.Option(help="SITE/POOL=N: devices of a public-cloud pool reserved for the period."),
]
ServiceWait = Annotated[str, typer.Option(help="A service meets its SLO if it starts within.")]
JobWait = Annotated[str, typer.Option(help="A job meets its SLO if it starts within.")]
ReservedFactor = Annotated[
    float,
    typer.Option(min=0.01, max=1.0, help="Reserved price as a share of on demand (assumed)."),
]
SpotFactor = Annotated[
    float, typer.Option(min=0.01, max=1.0, help="Spot price as a share of on demand.")
]
Sample = Annotated[
    float,
    typer.Option(min=0.0001, max=1.0, help="Share of the usages replayed (thins a large trace)."),
]
Whole = Annotated[
    bool,
    typer.Option(
        "--whole-pools",
        help="Give the trace whole pools (by default the committed plan's services keep theirs).",
    ),
]
Preemptions = Annotated[
    float, typer.Option(min=0.0, max=10.0, help="Spot preemptions per hour of use.")
]


def _scenario(  # noqa: PLR0917 (the options of one scenario)
    mapping: list[str] | None,
    reserve: list[str] | None,
    service_wait: str,
    job_wait: str,
    tick: str,
    reserved_factor: float,
    spot_factor: float,
    spot_preemptions: float,
    seed: int,
    sample: float,
    whole: bool,
) -> Scenario:
    from keel.service import simulation

    reserved = {}
    for pool, count in simulation.parse_pairs(reserve or [], "--reserve").items():
        if not count.isdigit():
            raise UserError(f"--reserve {pool}={count}: a whole number of devices")
        reserved[pool] = int(count)
    return simulation.Scenario(
        mapping=simulation.parse_pairs(mapping or [], "--like"),
        reserve=reserved,
        service_wait_s=duration_s(service_wait, "--service-wait"),
        job_wait_s=duration_s(job_wait, "--job-wait"),
        tick_s=duration_s(tick, "--tick"),
        market=simulation.Market(reserved_factor, spot_factor, spot_preemptions),
        seed=seed,
        sample=sample,
        net_of_plan=not whole,
    )


@app.command("simulate")
def simulate_command(
    ctx: typer.Context,
    trace: Trace,
    *,
    trace_format: TraceFormat = "keel",
    mapping: As = None,
    reserve: Reserve = None,
    service_wait: ServiceWait = "1m",
    job_wait: JobWait = "1h",
    tick: Annotated[str, typer.Option(help="Time between placement decisions.")] = "1m",
    reserved_factor: ReservedFactor = 0.65,
    spot_factor: SpotFactor = 0.5911,
    spot_preemptions: Preemptions = 0.01,
    seed: Annotated[int, typer.Option(help="Seed of the spot preemptions and the sample.")] = 0,
    sample: Sample = 1.0,
    whole: Whole = False,
    top: Annotated[int, typer.Option(min=1, help="Show the N largest classes.")] = 8,
    output: Out = Format.table,
) -> None:
    """Replay a trace against the estate: SLO attainment, waits, utilisation, cost, carbon."""
    from keel.service import simulation

    state(ctx).local("capacity simulate")
    scenario = _scenario(
        mapping, reserve, service_wait, job_wait, tick, reserved_factor, spot_factor,
        spot_preemptions, seed, sample, whole,
    )  # fmt: skip
    found = simulation.simulate(state(ctx).workspace(), trace, trace_format, scenario)
    if output is not Format.table:
        typer.echo(machine(found.to_json(), output.value))
        return
    typer.echo(
        f"{found.source} ({found.format}): {found.usages:,} usages over {found.span_h:,.1f} h;"
        f" {found.events:,} events in {found.elapsed_s:.2f} s"
        f" ({found.events / max(found.elapsed_s, 1e-9):,.0f} events/s)"
    )
    rows = [
        [c["name"], c["workload"], c["usages"], _share(c["slo_attainment"]),
         _seconds(c["wait_p50_s"]), _seconds(c["wait_p95_s"]), _seconds(c["wait_p99_s"]),
         f"{c['device_h']:,.0f}", f"{c['usage_usd']:,.0f}", f"{c['kgco2e']:,.0f}",
         c["preemptions"]]
        for c in sorted(found.classes, key=lambda c: -c["device_h"])[:top]
    ]  # fmt: skip
    typer.echo(table(["CLASS", "AS", "USAGES", "SLO MET", "WAIT P50", "P95", "P99",
                      "DEVICE-H", "RENT USD", "KGCO2E", "PREEMPTED"], rows))  # fmt: skip
    if len(found.classes) > top:
        typer.echo(f"{len(found.classes) - top:,} smaller classes not shown (--top, -o json)")
    overall = found.overall
    typer.echo(
        f"all classes: SLO met by {_share(overall['slo_attainment'])} of usages, wait p95"
        f" {_seconds(overall['wait_p95_s'])}, p99 {_seconds(overall['wait_p99_s'])}"
    )
    used = [p for p in found.pools if p["device_h"] or p["reserved"]]
    rows = [
        [p["name"], p["accelerator"], "owned" if p["owned"] else "cloud", p["devices"],
         p["reserved"] or "-", _share(p["utilisation"]), f"{p['peak_devices']:,.1f}",
         f"{p['committed_usd']:,.0f}", f"{p['usage_usd']:,.0f}", f"{p['kgco2e']:,.0f}"]
        for p in used
    ]  # fmt: skip
    typer.echo(table(["POOL", "ACCELERATOR", "BOUGHT", "DEVICES", "RESERVED", "UTILISATION",
                      "PEAK", "COMMITTED USD", "RENT USD", "KGCO2E"], rows))  # fmt: skip
    typer.echo(
        f"cost over {found.span_h:,.1f} h: {found.committed_usd:,.0f} USD committed (owned and"
        f" reserved devices) + {found.usage_usd:,.0f} USD rented (on demand, spot);"
        f" pools not shown were not used"
    )
    delayed = overall["fragmentation_delayed"]
    if delayed:
        typer.echo(f"fragmentation: {delayed:,} usages waited although a pool had room in total")
    for why, count in found.skipped.items():
        typer.echo(f"skipped: {count:,} {why}")
    _print_held(found.scenario["held_by_plan_services"])


def _print_held(held: dict[str, int]) -> None:
    if held:
        pools = ", ".join(f"{name} {n}" for name, n in sorted(held.items()))
        typer.echo(f"held by the committed plan's services, not given to the trace: {pools}")


def _mix(mix: dict[str, float] | None, *, alone: bool = True) -> str:
    if mix is None or (alone and mix["unserved_devices_mean"] > 0):
        return "cannot serve"
    return f"{mix['owned']:,.0f}+{mix['reserved']:,.0f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f} s" if value < 3600 else f"{value / 3600:,.1f} h"


@app.command("advise")
def advise_command(
    ctx: typer.Context,
    trace: Trace,
    *,
    trace_format: TraceFormat = "keel",
    mapping: As = None,
    step: Step = "1h",
    horizon: Annotated[str, typer.Option(help="Forecast this far ahead: 7d, 24h.")] = "7d",
    level: Annotated[
        int, typer.Option(min=50, max=99, help="Plan for the top of this % interval (risk).")
    ] = 90,
    basis: Annotated[
        str, typer.Option(help="Plan on the forecast's upper bound, or on the history.")
    ] = "forecast",
    objective: Annotated[
        str, typer.Option(help="Carbon price of the objective: cost, balanced, carbon.")
    ] = "balanced",
    service_wait: ServiceWait = "1m",
    job_wait: JobWait = "1h",
    reserved_factor: ReservedFactor = 0.65,
    spot_factor: SpotFactor = 0.5911,
    spot_preemptions: Preemptions = 0.01,
    sample: Sample = 1.0,
    whole: Whole = False,
    seed: Annotated[int, typer.Option(help="Seed of the spot preemptions and the sample.")] = 0,
    check: Annotated[
        bool,
        typer.Option(help="Replay the trace to refine the advice and check it against baselines."),
    ] = True,
    slo: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Share of usages that must meet their SLO.")
    ] = 0.99,
    report: Annotated[
        Path | None, typer.Option(help="Also write the advice as a standalone HTML report.")
    ] = None,
    output: Out = Format.table,
) -> None:
    """Own, reserve or rent: the cheapest mix per pool type at your risk level, recorded."""
    from keel.service import advice

    state(ctx).local("capacity advise")
    step_s, steps = _steps(step, horizon)
    scenario = _scenario(
        mapping, None, service_wait, job_wait, "1m", reserved_factor, spot_factor,
        spot_preemptions, seed, sample, whole,
    )  # fmt: skip
    found = advice.advise(
        state(ctx).workspace(), trace, trace_format, scenario, actor=state(ctx).actor(),
        step_s=step_s, horizon_steps=steps, level=level, basis=basis,
        objective=objective, check=check, slo=slo,
    )  # fmt: skip
    _report(report, found)
    if output is not Format.table:
        typer.echo(machine(found, output.value))
        return
    _print_advice(found.model_dump(mode="json"))
    if report is not None:
        typer.echo(f"report: {report}")


def _print_advice(found: dict[str, object]) -> None:
    basis = (
        f"the top of the {found['level']}% forecast interval, {found['horizon_steps']} steps"
        if found["basis"] == "forecast"
        else "the history"
    )
    typer.echo(
        f"advice {found['id']} (ledger entry {found['ledger_index']}): {found['usages']:,}"
        f" usages of {found['source']}, planned on {basis} of {found['step_s']:,} s;"
        f" carbon at {found['carbon_usd_per_t']:,.0f} USD/t ({found['objective']})"
    )
    types = found["pool_types"]
    assert isinstance(types, list)
    rows = [
        [t["accelerator"], t["owned_today"], f"{t['demand_mean']:,.1f}",
         f"{t['demand_peak']:,.1f}", f"{t['planned_peak']:,.1f}", _mix(t["analytic"]),
         _mix(t["recommended"], alone=False)]
        for t in types
    ]  # fmt: skip
    typer.echo(table(["POOL TYPE", "OWNED TODAY", "IN USE (MEAN)", "PEAK", "PLANNED PEAK",
                      "ALONE: OWN+RESERVE", "ADVISED: OWN+RESERVE"], rows))  # fmt: skip
    checks = found["checks"]
    assert isinstance(checks, dict)
    if len(checks) == 1:
        typer.echo("today's replay (--no-check: no mix was replayed):")
    elif checks:
        typer.echo(
            f"judged by replaying the trace ({found['replays']} replays) with each mix in place"
            f" of today's owned and reserved devices; the SLO is met by at least"
            f" {found['slo']:.0%} of usages:"
        )
        rows = [
            [name.replace("_", " "), _share(c["slo_attainment"]), _seconds(c["wait_p95_s"]),
             f"{c['types_usd_per_month']:,.0f}", f"{c['usd_per_month']:,.0f}",
             f"{c['kgco2e_per_month']:,.0f}"]
            for name, c in checks.items()
        ]  # fmt: skip
        typer.echo(table(["MIX", "SLO MET", "WAIT P95", "THESE TYPES USD/MONTH",
                          "ESTATE USD/MONTH", "KGCO2E/MONTH"], rows))  # fmt: skip
    skipped = found["skipped"]
    assert isinstance(skipped, dict)
    for why, count in skipped.items():
        typer.echo(f"skipped: {count:,} {why}")
    scenario = found["scenario"]
    assert isinstance(scenario, dict)
    _print_held(scenario.get("held_by_plan_services", {}))


@app.command("advice")
def advice_command(
    ctx: typer.Context,
    advice_id: Annotated[
        int | None, typer.Argument(help="Its id; the newest without one.", show_default=False)
    ] = None,
    *,
    every: Annotated[bool, typer.Option("--list", help="List the recorded runs.")] = False,
    report: Annotated[
        Path | None, typer.Option(help="Write it as a standalone HTML report.")
    ] = None,
    output: Out = Format.table,
) -> None:
    """Recorded advice: the newest run, one by id, or the list (works with --server)."""
    ops = state(ctx).ops()
    if every:
        found = ops.capacity_advice_list()
        if output is not Format.table:
            typer.echo(machine(found, output))
            return
        rows = [
            [a.id, a.created_at, a.created_by, a.source, a.basis, a.ledger_index,
             ", ".join(f"{k} {_mix(m, alone=False)}" for k, m in
                       ((k, None if m is None else m.model_dump()) for k, m in
                        a.recommended.items()))]
            for a in found.advice
        ]  # fmt: skip
        typer.echo(table(["ID", "CREATED", "BY", "TRACE", "BASIS", "LEDGER", "ADVISED"], rows))
        return
    one = ops.capacity_advice(advice_id)
    _report(report, one)
    if output is not Format.table:
        typer.echo(machine(one, output))
        return
    _print_advice(one.model_dump(mode="json"))
