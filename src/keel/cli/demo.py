"""``keel init`` writes the demo estate as manifests; ``keel demo`` runs the main job on it."""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keel.cli.agents import read_calls
from keel.cli.context import state
from keel.cli.output import table
from keel.cli.plan import print_plan
from keel.errors import DeniedError, ForbiddenError, KeelError, UserError

if TYPE_CHECKING:
    from keel import wire
    from keel.service import EstateSummary, Workspace
    from keel.service.monitoring import MonitorRun

ADMIN = "user:root-ops"
"""The demo's admin; every later step acts as a principal the estate declares."""
CI = "service_account:ci-pipeline"
"""The demo's pipeline (an operator): plans, monitors, evaluates."""


def write_demo(folder: Path, *, force: bool = False) -> list[Path]:
    """Write the demo estate's manifests into a folder, with monitor data, events and decisions.

    Args:
        folder: Target folder; created if missing.
        force: Overwrite files that exist.

    Returns:
        The files written.

    Raises:
        UserError: If a file exists and ``force`` is false.
    """
    from keel.service import (
        agent_gateway,
        demo_manifests,
        demo_tool_calls,
        demo_usage_trace,
        lineage,
        monitoring,
        scoring,
    )

    folder.mkdir(parents=True, exist_ok=True)
    files = demo_manifests()
    clashes = [name for name, _ in files if (folder / name).exists()]
    if clashes and not force:
        raise UserError(
            f"{folder} already has {', '.join(clashes)}; nothing was written",
            hint="choose an empty folder or pass --force",
        )
    written = []
    for name, text in files:
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    written += monitoring.write_demo_windows(folder / "data")
    events = folder / "events.jsonl"  # the tour's keel lineage ingest; not a manifest
    events.write_bytes(lineage.demo_events().read_bytes())
    # The tour's keel decisions record: the demo model's answers, decided over the last hour.
    made = scoring.write_demo_decisions(folder / "decisions.jsonl")
    usage = folder / "usage.csv"  # the tour's keel capacity advise: a real trace excerpt
    usage.write_bytes(demo_usage_trace())
    calls = folder / "tool-calls.json"  # the tour's keel agents check
    calls.write_bytes(demo_tool_calls())
    gateway = []  # the tour's keel agents session and keel gateway
    for name, text in agent_gateway.demo_files():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
        gateway.append(folder / name)
    return [*written, events, made, usage, calls, *gateway]


def init(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Folder to write the manifests into.")],
    force: Annotated[bool, typer.Option(help="Overwrite existing files.")] = False,
) -> None:
    """Write the demo estate (Aurelia Bank) as editable manifests."""
    state(ctx).local("init")
    for path in write_demo(directory, force=force):
        typer.echo(f"wrote {path}")
    typer.echo(f"next: keel validate -f {directory} && keel apply -f {directory}")


def _print_summary(summary: EstateSummary) -> None:
    typer.echo("\nEstate")
    typer.echo("  " + ", ".join(f"{n} {kind}" for kind, n in summary.counts.items()))
    typer.echo("\nSites")
    rows = [[n, k, c, d, m] for n, k, c, d, m in summary.sites]
    typer.echo(_indent(table(["SITE", "KIND", "COUNTRY", "DEVICES", "MAX CLASS"], rows)))
    devices = ", ".join(f"{n} {kind}" for kind, n in sorted(summary.devices_by_site_kind.items()))
    typer.echo(f"  accelerators by site kind: {devices}")
    typer.echo("\nData")
    classes = ", ".join(f"{n} {c}" for c, n in summary.datasets_by_classification.items())
    tags = ", ".join(f"{n} {t}" for t, n in sorted(summary.sensitive_tags.items()))
    typer.echo(f"  datasets by classification: {classes}")
    typer.echo(f"  datasets with sensitive tags: {tags}")
    typer.echo("  residency rules (data may not leave):")
    typer.echo(_indent(table(["DATASET", "JURISDICTIONS"], summary.residency), 4))
    typer.echo("\nWork")
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(summary.workloads_by_kind.items()))
    typer.echo(f"  workloads by kind: {kinds}")
    risky = ", ".join(f"{name} ({tier})" for name, tier in summary.high_risk_models)
    typer.echo(f"  models under EU AI Act scrutiny: {risky}")
    typer.echo(f"\nestate revision {summary.revision}, digest {summary.digest}")


def _indent(text: str, spaces: int = 2) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def _serve(workspace: Workspace, data: Path) -> None:
    """Serve the credit model for real, record its decisions, monitor it, roll it back."""
    from keel.service import Actor, corrections, decisions, scoring

    with scoring.ModelServer(workspace, principal=CI) as server:
        typer.echo(
            "\n6. served credit-decision-api: scikit-learn logistic regressions trained now (3.1;"
            f" 3.0 on an older window), behind uvicorn at {server.url}"
        )
        scored = server.score()
        outcomes = ", ".join(f"{k[1]} {v}" for k, v in scored.decisions.most_common())
        typer.echo(
            f"   {sum(scored.decisions.values())} applications from {len(scored.customers)}"
            f" customers, decided by {_versions(scored.decisions)}: {outcomes}"
        )
        typer.echo("   monitored it (drift, model quality, latency SLO):")
        _check(workspace, data, "normal traffic", drifted=False)
        run = _check(workspace, data, "a drifted window", drifted=True)
        rollback = next(a for a in run.actions if a.action == "rollback")
        for action in run.actions:
            waits = " (high-risk: waits for an approver)" if action.state == "pending" else ""
            typer.echo(f"       action {action.id}: {action.action} {action.state}{waits}")
        done = corrections.decide(
            workspace,
            rollback.id,
            approve=True,
            reason="drift and AUC below its floor confirmed",
            actor=Actor("user:erin"),
        )
        typer.echo(
            f"       erin approved action {done.id} (the pipeline that ran the monitor may not):"
            f" {done.workload} now serves {done.detail['to_model']}; its manifest still says"
            f" {done.detail['from_model']}"
        )
        after = server.score(60, seed=12)
        typer.echo(
            f"       the running server swapped without a restart: the next"
            f" {sum(after.decisions.values())} applications were decided by"
            f" {_versions(after.decisions)}"
        )
        _check(workspace, data, "recovery", drifted=False)
        recorded = server.close()
    typer.echo(
        f"   {recorded} decisions recorded through the SDK (ledger leaves; outputs, reasons and"
        " customers behind erasable commitments); the rollback is in the ledger"
        " (monitor.action); keel monitor release hands the workload back to its manifest"
    )
    customer = scored.customers[7]
    found, _ = decisions.of_subject(workspace, customer)
    latest = found[0].stored
    typer.echo(
        f"   {customer}: {len(found)} decisions, the latest {latest.id[:12]}... at ledger entry"
        f" {latest.ledger_index} ({latest.model}, {latest.outcome}); see keel decisions subject"
        f" {customer}"
    )


def _versions(decided: Counter[tuple[str, str]]) -> str:
    by_model: Counter[str] = Counter()
    for (model, _), count in decided.items():
        by_model[model] += count
    return ", ".join(f"{model} ({count})" for model, count in sorted(by_model.items()))


def _check(workspace: Workspace, data: Path, step: str, *, drifted: bool) -> MonitorRun:
    """Run the demo monitor on a normal or drifted window and say what it found."""
    from keel.service import Actor, monitoring

    monitoring.write_demo_windows(data, drifted=drifted)
    (run,) = monitoring.run_monitors(workspace, ["credit-decision-health"], actor=Actor(CI))
    firing = [c.key for c in run.result.firing]
    line = f"     {step}: {run.result.status}"
    if firing:
        line += f" ({', '.join(firing)})"
    if run.raised:
        line += f"; alerts raised: {len(run.raised)}"
    if run.resolved:
        line += f"; alerts resolved: {len(run.resolved)}"
    typer.echo(line)
    return run


def _settle(workspace: Workspace) -> wire.Dispatch:
    """Dispatch until no job waits or runs (services keep running), for at most a minute."""
    from keel.service import Actor
    from keel.service import dispatch as dispatching

    deadline = time.monotonic() + 60
    done = dispatching.dispatch(workspace, actor=Actor(CI))
    while done.jobs_active and time.monotonic() < deadline:
        time.sleep(0.3)
        done = dispatching.dispatch(workspace, actor=Actor(CI))
    return done


def _dispatch(workspace: Workspace, manifests: Path) -> None:
    """Run the plan on the local engine, take a site down, re-plan, move what was there."""
    from keel.service import Actor, apply_manifests, planning
    from keel.service import dispatch as dispatching

    typer.echo("\n5. ran the plan on Cluster/workstation (this machine's processes):")
    first = dispatching.dispatch(workspace, actor=Actor(CI))
    submitted = [a for a in first.actions if a.action == "submit"]
    undispatchable = sum(u.replicas for u in first.undispatchable)
    typer.echo(
        f"   submitted {len(submitted)} runs; {undispatchable} placed replicas have no engine"
        " or no run section here (listed by keel dispatch, never dropped)"
    )
    _settle(workspace)
    jobs = [r for r in dispatching.list_runs(workspace).runs if not r.service]
    rows = [
        [r.workload, r.site, r.state,
         f"{r.duration_s:.1f} s" if r.duration_s is not None else "-",
         f"{(r.energy_kwh or 0) * 1000:.3g} Wh ({r.energy_source})"]
        for r in jobs
    ]  # fmt: skip
    typer.echo(_indent(table(["JOB", "SITE", "STATE", "RAN", "ENERGY"], rows), 3))
    services = [r for r in dispatching.list_runs(workspace).runs if r.service]
    typer.echo(f"   {len(services)} service replicas running (online inference and agents)")
    sites = manifests / "sites.yaml"
    original = sites.read_text(encoding="utf-8")
    marker = "  kind: on_prem\n  country: DE\n"
    if marker not in original:
        raise KeelError("the demo's sites.yaml changed: fra-dc1 cannot be taken down")
    sites.write_text(original.replace(marker, marker + "  available: false\n", 1), "utf-8")
    try:
        apply_manifests(workspace, [str(manifests)], actor=Actor(ADMIN))
        replanned = planning.compute_plan(workspace, replan=True)
        planning.commit_plan(workspace, replanned, actor=Actor(CI))
        moved = [m for m in planning.report(replanned, diff=True).moves or [] if m.change != "kept"]
        typer.echo(f"   fra-dc1 went down: re-planned, {len(moved)} workloads moved")
        done = dispatching.dispatch(workspace, actor=Actor(CI))
        for action in done.actions:
            if action.action in ("cancel", "submit"):
                typer.echo(
                    f"   {action.action:6} {action.workload}#{action.replica} at {action.site}:"
                    f" {action.detail}"
                )
        kept = sum(1 for r in services if r.site != "fra-dc1")
        typer.echo(
            f"   the {kept} service replicas elsewhere and the finished jobs were not touched"
        )
        deadline = time.monotonic() + 15  # the moved services start at their new sites
        while {"submitting", "pending"} & set(done.states) and time.monotonic() < deadline:
            time.sleep(0.3)
            done = dispatching.dispatch(workspace, actor=Actor(CI))
        wanted = ", ".join(f"{n} {s}" for s, n in sorted(done.states.items()))
        typer.echo(f"   runs the re-plan wants: {wanted}")
    finally:
        sites.write_text(original, "utf-8")
        apply_manifests(workspace, [str(manifests)], actor=Actor(ADMIN))
        planning.commit_plan(workspace, planning.compute_plan(workspace), actor=Actor(CI))
        stopped = dispatching.cancel(workspace, None, actor=Actor(CI))
    typer.echo(
        f"   fra-dc1 is back and the plan with it; stopped the {len(stopped.runs)} services"
        " (keel runs cancel); every run is in the ledger (run.submitted, run.finished...)"
    )


def _readiness(found: wire.Readiness, before: wire.Readiness) -> None:
    typer.echo(
        f"\n9. readiness and maturity, computed from all of the above (assessment {found.id}):"
    )
    typer.echo(
        f"   readiness {before.readiness} -> {found.readiness}, maturity {before.maturity} ->"
        f" {found.maturity} (measured, 0-100); declared {found.declared} (the Questionnaire)"
    )
    typer.echo(f"   level {found.level}; capability tier reached: {found.tier or 'none yet'}")
    for step in found.steps[:3]:
        typer.echo(f"   next: {step.score}/{step.component} ({step.value}): {step.action}")


def _print_next(root: Path, data: Path) -> None:
    """What to try next, with the ``keel`` this shell would find (or its path)."""
    keel = _keel()
    ws = f"{keel} --workspace {root}"
    typer.echo(f"  {ws} get sites")
    typer.echo(f"  {ws} get dataset cn-customer-profiles -o json")
    typer.echo(f"  {ws} plan --explain trading-desk-copilot")
    typer.echo(f"  {ws} ledger show --from 0 --limit 5")
    typer.echo(f"  {ws} runs --all && {ws} runs logs nightly-aml-scoring")
    typer.echo(f"  {ws} monitor alerts --all")
    typer.echo(f"  {ws} --as {ADMIN} decisions subject customer-0007")
    typer.echo(f"  {ws} decisions summary --model credit-scoring")
    typer.echo(f"  {ws} lineage show dataset:credit-features --upstream")
    typer.echo(f"  {ws} agents calls cn-service-agent")
    typer.echo(f"  {ws} model factsheet credit-scoring@3.2 -o html --file fs.html")
    typer.echo(f"  {keel} drift --reference {data}/credit-decision-reference.parquet \\")
    typer.echo(f"      --current {data}/credit-decision-current.parquet --html drift.html")
    typer.echo(f"  {ws} ledger prove 3 --out entry3.tlog-proof")
    typer.echo(f"  {ws} readiness --latest -o html --file readiness.html")
    typer.echo("Open the dashboard on this workspace:")
    typer.echo(f"  {ws} --as user:root-ops token create --name me --role viewer")
    typer.echo(f"  {ws} serve    # then http://127.0.0.1:8470/ui/, sign in")


def _keel() -> str:
    """How to call this ``keel``: its bare name if that is what the shell finds, else its path."""
    here = Path(sys.argv[0]).resolve()
    found = shutil.which("keel")
    if found is not None and Path(found).resolve() == here:
        return "keel"
    try:
        return str(here.relative_to(Path.cwd()))
    except ValueError:
        return str(here)


def _lineage(workspace: Workspace, root: Path) -> None:
    """Ingest the demo's OpenLineage events, analyse impact, govern a model, erase a dataset."""
    from keel.service import Actor, factsheet, lineage, registry

    typer.echo("\n7. lineage and the model registry:")
    events = lineage.read_jsonl(lineage.demo_events())
    stored = lineage.ingest(workspace, events)
    typer.echo(
        f"   ingested {len(events)} OpenLineage events (Spark, Airflow, dbt):"
        f" {stored.accepted} stored, {stored.duplicates} duplicate skipped"
    )
    found = lineage.impact(workspace, "dataset:eu-customer-profiles")
    typer.echo(
        "   impact of dataset:eu-customer-profiles: derived "
        f"{', '.join(lineage.keys_of(found.datasets))}; model versions "
        f"{', '.join(m.name for m in found.models)}; {len(found.workloads)} workloads,"
        f" {len(found.placements)} placements in the committed plan"
    )
    ref = "credit-scoring@3.2"
    registry.evaluate(
        workspace,
        ref,
        [
            registry.Evaluation("benchmark", "holdout-auc", True, 0.83),
            registry.Evaluation("probe", "membership-inference", True),
            registry.Evaluation("probe", "adversarial-robustness", True),
        ],
        actor=Actor(CI),
    )
    registry.transition(workspace, ref, "validated", actor=Actor(CI))
    typer.echo(f"   {ref} (high risk): evaluated (benchmark and 2 probes) and validated")
    try:
        registry.approve(workspace, ref, actor=Actor("user:alice"))
    except ForbiddenError as error:
        typer.echo(f"   alice registered it and may not approve it: {error.code} (in the ledger)")
    else:
        raise KeelError("the demo's access policy let the registrant approve")
    registry.approve(workspace, ref, actor=Actor("user:erin"))
    version = registry.approve(workspace, ref, actor=Actor("user:farid"))
    typer.echo(f"   erin and farid approved it: {version.state}")
    erased = lineage.erase(
        workspace,
        "dataset:call-centre-transcripts",
        "GDPR Art. 17 request 2026-0412",
        actor=Actor(ADMIN),
    )
    typer.echo(
        "   erased dataset:call-centre-transcripts (personal data): retrain "
        f"{', '.join(erased.retrain)}; stop {', '.join(erased.stop)}"
    )
    sheet = root / "factsheet-credit-scoring-3.2.md"
    sheet.write_text(factsheet.RENDERERS["md"](factsheet.facts(workspace, ref)), "utf-8")
    typer.echo(f"   fact sheet (EU AI Act Annex IV style): {sheet}")


def _agents(workspace: Workspace, manifests: Path) -> None:
    """The three agents' scripted sessions through the MCP gateway, to a real MCP server."""
    from keel.service import Actor, agent_gateway

    typer.echo(
        "\n8. agents through the MCP gateway (a real MCP client, the gateway, the bank tools'"
        " MCP server over stdio):"
    )
    approver = threading.Thread(target=_approve_one, args=(workspace,), daemon=True)
    approver.start()
    for agent in agent_gateway.DEMO_SESSIONS:
        script = read_calls(manifests / "sessions" / f"{agent}.json")
        done = agent_gateway.run_session(
            workspace, agent, manifests / "gateway.json", script, actor=Actor(CI)
        )
        steps = []
        for call in done.calls:
            why = [r for r in call.reasons if not r.startswith("personal.redacted")]
            if call.decision == "block":
                detail = ", ".join(why)
            elif call.decision == "redact":
                detail = ", ".join(sorted(call.found)) + " redacted"
                granted = [r for r in call.reasons if r.startswith("approval.granted")]
                if granted:
                    detail += f"; waited for erin's approval {granted[0].split(':')[1]}"
            else:
                found = ", ".join(sorted(call.result_found))
                detail = f"returned {found}" if found else ""
            said = f" ({detail})" if detail else ""
            steps.append(f"{call.tool} {call.decision.upper()}{said}")
        typer.echo(f"   {agent}: " + "; ".join(steps))
    typer.echo(
        "   every call is in the ledger (agent.tool_call, digests only) and in keel agents calls"
    )


def _approve_one(workspace: Workspace) -> None:
    """Erin (an approver) approves the first tool call that waits, as she would on the page."""
    from keel.service import Actor, gateway

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        waiting = gateway.approvals(workspace, Actor("user:erin"), state="pending").approvals
        if waiting:
            gateway.decide_approval(
                workspace,
                waiting[0].id,
                approve=True,
                reason="case on a flagged card: expected",
                actor=Actor("user:erin"),
            )
            return
        time.sleep(0.2)


def _refuse(workspace: Workspace, folder: Path) -> None:
    """Apply what the demo's policy refuses, and show the refusal (nothing is stored)."""
    from keel.service import Actor, apply_manifests, demo_manifests

    folder.mkdir(parents=True, exist_ok=True)
    for name, text in demo_manifests(refused=True):
        (folder / name).write_text(text, encoding="utf-8")
    typer.echo(f"\npolicy admission: user:bob (operator) applies {folder}")
    try:
        apply_manifests(workspace, [str(folder)], actor=Actor("user:bob"))
    except DeniedError as error:
        for problem in error.problems:
            typer.echo(f"   refused {problem.resource}: {problem.message}")
        typer.echo(f"   {error.code}: nothing was stored")
    else:
        raise KeelError("the demo policy let a prohibited model through")


def demo(
    ctx: typer.Context,
    keep: Annotated[
        Path | None,
        typer.Option(help="Use this folder as the demo workspace instead of a temporary one."),
    ] = None,
) -> None:
    """Run the main job end to end on the demo estate, in a fresh SQLite workspace."""
    from keel.service import (
        Actor,
        Workspace,
        access,
        apply_manifests,
        ledger,
        planning,
        readiness,
        summarise,
        validate_manifests,
    )

    state(ctx).local("demo")
    started = time.perf_counter()
    root = keep or Path(tempfile.mkdtemp(prefix="keel-demo-"))
    manifests = root / "manifests"
    data = manifests / "data"
    typer.echo(
        f"Keel demo: Aurelia Bank, a European bank with a Chinese subsidiary\nworkspace {root}"
    )
    write_demo(manifests, force=True)
    typer.echo(f"\n1. wrote the estate as manifests in {manifests}")
    estate = validate_manifests([str(manifests)])
    typer.echo(f"2. validated {len(estate)} resources: no problems")
    workspace = Workspace.open(root, database_url=f"sqlite:///{root / '.keel' / 'keel.db'}")
    try:
        typer.echo("3. applied them to the store (SQLite):")
        first = access.local_actor(workspace)  # the estate names no principal yet: bootstrap
        result = apply_manifests(workspace, [str(manifests)], actor=first)
        created = result.count("created")
        typer.echo(
            f"   {created} created in one transaction by {first.principal} (the first apply,"
            f" before any principal exists); estate revision {result.revision}"
        )
        again = apply_manifests(workspace, [str(manifests)], actor=Actor(ADMIN))
        typer.echo(
            f"   re-applied: {again.count('unchanged')} unchanged, nothing written (idempotent)"
        )
        _print_summary(summarise(workspace))
        _refuse(workspace, root / "refused")
        typer.echo("\n4. planned where every workload runs (objective: balanced, solver: fast):")
        planned = planning.compute_plan(workspace)
        plan_id, index = planning.commit_plan(workspace, planned, actor=Actor(CI))
        print_plan(planning.report(planned))
        typer.echo(f"   committed as plan {plan_id}, recorded at ledger index {index}")
        before = readiness.assess(workspace, actor=Actor(CI))
        typer.echo(
            f"   readiness index now: readiness {before.readiness}, maturity {before.maturity}"
            " (measured, 0-100); step 9 measures again"
        )
        _dispatch(workspace, manifests)
        _serve(workspace, manifests / "data")
        _lineage(workspace, root)
        _agents(workspace, manifests)
        _readiness(readiness.assess(workspace, actor=Actor(CI)), before)
        report = ledger.verify(workspace)
        typer.echo(
            f"\n10. verified the ledger: {report.size} entries recomputed,"
            f" {report.checkpoints} signed checkpoints checked. Latest checkpoint:"
        )
        typer.echo(_indent(report.latest_note or "", 3))
        typer.echo(f"   public key: {ledger.signer(workspace).verifier.encode()}")
    finally:
        workspace.close()
    typer.echo(f"\ndone in {time.perf_counter() - started:.1f} s. Explore it:")
    _print_next(root, data)


__all__ = ["demo", "init", "write_demo"]
