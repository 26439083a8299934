"""The operations protocol over a workspace: what the CLI runs locally and the API serves.

:class:`LocalOperations` composes the service modules into the operations of
:class:`keel.operations.Operations` and answers with wire models. The CLI builds one for the
local workspace, acting as ``--as`` / ``KEEL_PRINCIPAL``; the API builds one per request,
acting as the authenticated principal and filtering what it lists with the caller's read
decisions. So "plan and commit", "explain", "approve and show" are composed once, here.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from keel import wire
from keel.decisions.record import MAX_SKEW_S
from keel.energy import providers
from keel.errors import NotFoundError, UserError
from keel.operations import DEFAULT_KEY_DAYS, DEFAULT_PAGE, MAX_PAGE, Commit, Direction
from keel.service import (
    access,
    advice,
    capacity,
    changes,
    conversion,
    corrections,
    decisions,
    dispatch,
    estate,
    factsheet,
    gateway,
    ledger,
    lineage,
    monitoring,
    planning,
    policy,
    readiness,
    registry,
    timing,
    tokens,
)
from keel.service.actor import Actor
from keel.service.workspace import Workspace

Visible = Callable[[list[str]], list[bool]]
"""The caller's read decisions on ``Kind/name`` resources (one batch)."""


def _moment(text: str, field: str) -> datetime:
    """An RFC 3339 time with a timezone, or a user error naming the field."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{field}: {text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise UserError(f"{field}: {text!r} has no timezone; add Z or an offset")
    return moment.astimezone(UTC)


class LocalOperations:
    """Keel's operations over one workspace.

    Args:
        workspace: The workspace.
        actor: Who acts; resolved from ``principal`` on the first change when ``None``.
        principal: The local principal's name (``user:alice``) when ``actor`` is ``None``.
        visible: The caller's read decisions, applied to every list; everything is visible
            when ``None`` (the local workspace, whose user can open the database anyway).
        plan_trusted_s: How long the latest plan, once read, is served without asking the
            store for a newer one (see :func:`keel.service.planning.latest`).
    """

    where = "local"

    def __init__(
        self,
        workspace: Workspace,
        *,
        actor: Actor | None = None,
        principal: str = "",
        visible: Visible | None = None,
        plan_trusted_s: float = 0.0,
    ) -> None:
        self.workspace = workspace
        self._actor = actor
        self._principal = principal
        self._visible = visible
        self._plan_trusted_s = plan_trusted_s

    @property
    def actor(self) -> Actor:
        """Who acts (a local principal is checked against the estate on first use)."""
        if self._actor is None:
            self._actor = access.local_actor(self.workspace, self._principal)
        return self._actor

    def _shown(self, resources: list[str]) -> list[bool]:
        return self._visible(resources) if self._visible else [True] * len(resources)

    # -- estate --------------------------------------------------------------------------------
    def get(self, kind: str, name: str | None = None) -> wire.ResourceList:
        """Stored resources of a kind, or one; a list hides what the caller may not read."""
        found = estate.get_resources(self.workspace, kind, name)
        if name is None:
            allowed = self._shown([f"{r.kind}/{r.name}" for r in found])
            found = [r for r, ok in zip(found, allowed, strict=True) if ok]
        return conversion.resources(found)

    def apply(
        self,
        paths: Sequence[str],
        *,
        prune: bool = False,
        dry_run: bool = False,
        shown_as: dict[str, str] | None = None,
    ) -> wire.ApplyResult:
        """Apply manifests (``shown_as``: files that arrived as text, and their names)."""
        result = changes.apply_manifests(
            self.workspace,
            paths,
            actor=self.actor,
            prune=prune,
            dry_run=dry_run,
            shown_as=shown_as,
        )
        return conversion.applied(result)

    def delete(self, kind: str, name: str) -> wire.Change:
        """Delete one resource."""
        return conversion.change(
            estate.delete_resource(self.workspace, kind, name, actor=self.actor)
        )

    # -- plans and policy ----------------------------------------------------------------------
    def plan(
        self,
        *,
        objective: str = "balanced",
        solver: str = "fast",
        seed: int = 0,
        commit: Commit = "changed",
        diff: bool = False,
        horizon_h: int | None = None,
        start: datetime | None = None,
        signal: str = "carbon_location",
        energy_price: bool = False,
        budget_s: float | None = None,
    ) -> wire.Plan:
        """Compute a plan (committed as ``Commit`` says), with baselines; ``diff``: moves.

        ``horizon_h``: schedule the jobs over that many hours of the grid series in the
        ``grid_data`` setting's folder, from ``start`` (the current hour by default);
        ``energy_price``: price owned sites' electricity by the hour too. ``budget_s``: the
        fast solver's time budget (:mod:`keel.placement.deadline`).

        Raises:
            UserError: ``energy_price`` without ``horizon_h``, or a bad horizon.
        """
        horizon = None
        if horizon_h is None and energy_price:
            raise UserError("energy_price needs horizon_h (electricity is priced by the hour)")
        if horizon_h is not None:
            settings = self.workspace.settings
            source = providers.source_from(settings.grid_source, settings.grid_data, os.environ)
            horizon = timing.HorizonRequest.of(
                horizon_h, start, signal, source, energy_price=energy_price
            )
        result = planning.compute_plan(
            self.workspace,
            objective=objective,
            solver=solver,
            seed=seed,
            budget_s=budget_s,
            replan=diff,
            horizon=horizon,
        )
        report = planning.report(result, diff=diff)
        same = planning.same_as_latest(self.workspace, result) if commit == "changed" else None
        if same is not None:
            report = report.model_copy(update={"same_as_plan_id": same})
        elif commit == "always" or (commit == "changed" and not diff and result.decides()):
            access.authorize(self.workspace, self.actor, [("plan", "Workload/*")])
            plan_id, index = planning.commit_plan(
                self.workspace, result, actor=self.actor, unless_same=commit == "changed"
            )
            if index is None:  # another server committed the same plan meanwhile
                report = report.model_copy(update={"same_as_plan_id": plan_id})
            else:
                report = report.model_copy(update={"plan_id": plan_id, "ledger_index": index})
        return planning.redact_plan(report, self._shown)

    def latest_plan(self) -> wire.Plan:
        """The latest committed plan."""
        found = planning.latest(self.workspace, trusted_s=self._plan_trusted_s)
        if found is None:
            raise NotFoundError("no plan was committed yet", hint="keel plan")
        return planning.redact_plan(found, self._shown)

    def explain(
        self, workload: str, *, objective: str = "balanced", solver: str = "fast", seed: int = 0
    ) -> wire.Explanation:
        """Why a workload would be placed where it is."""
        result = planning.compute_plan(
            self.workspace, objective=objective, solver=solver, seed=seed
        )
        why = conversion.explanation(planning.explain_workload(result, workload, detail=True))
        return self._redact_inputs(why, planning.inputs_of(result, workload))

    def _hidden(self, inputs: list[str]) -> list[str]:
        """The inputs the caller may not read (none on the local workspace)."""
        allowed = self._shown([f"Dataset/{d}" for d in inputs])
        return [d for d, ok in zip(inputs, allowed, strict=True) if not ok]

    def _redact_inputs(self, why: wire.Explanation, inputs: list[str]) -> wire.Explanation:
        """Withhold the inputs the caller may not read from the reasons an explanation gives.

        A caller who may read a workload learns which sites are forbidden and by which rule,
        but not the name, classification or residency of an input it may not read: such a
        rejection loses its dataset, and the name is withheld from every message.
        """
        hidden = self._hidden(inputs)
        if not hidden:
            return why
        rejections = [
            r.model_copy(
                update={"dataset": None, "detail": "an input you may not read forbids this site"}
            )
            if r.dataset in hidden
            else r.model_copy(update={"detail": withheld(r.detail, hidden)})
            for r in why.rejections
        ]
        update: dict[str, object] = {"rejections": rejections}
        if why.policy is not None:
            update["policy"] = why.policy.model_copy(update=_findings(why.policy, hidden))
        return why.model_copy(update=update)

    def decision(self, workload: str) -> wire.PolicyDecision:
        """The compliance decision for one workload (inputs the caller may not read withheld)."""
        found = conversion.decision(policy.evaluate(self.workspace, workload))
        hidden = self._hidden(policy.inputs_of(self.workspace, workload))
        return found.model_copy(update=_findings(found, hidden)) if hidden else found

    def check_access(self, principal: str, action: str, resource: str) -> wire.AccessDecision:
        """Whether a principal may do an action to a resource."""
        found = access.check(self.workspace, principal, action, resource)
        return conversion.access(found, principal, action, resource)

    # -- ledger --------------------------------------------------------------------------------
    def entries(self, start: int = 0, limit: int = 50) -> wire.LedgerEntries:
        """Entries, personal values opened (the local workspace holds their openings)."""
        shown = ledger.show(self.workspace, start=start, limit=limit)
        size = ledger.size(self.workspace)  # after: every entry shown lies below it
        return conversion.entries(shown, opened=self._visible is None, size=size)

    def verify(self, keys: Sequence[str] = (), *, pin: bool = False) -> wire.Verification:
        """Verify the whole log."""
        return conversion.verification(ledger.verify(self.workspace, list(keys) or None, pin=pin))

    def latest_checkpoint(self) -> str:
        """The latest signed checkpoint."""
        return ledger.latest_checkpoint(self.workspace)

    def checkpoint(self) -> str:
        """Sign a checkpoint now."""
        return ledger.checkpoint(self.workspace)

    def pubkey(self) -> str:
        """The log's public key."""
        return ledger.signer(self.workspace).verifier.encode()

    def prove(self, index: int) -> str:
        """A tlog-proof of one entry."""
        return ledger.prove(self.workspace, index).encode()

    def rotate_key(self) -> str:
        """Replace the signing key (an admin's act)."""
        access.authorize(self.workspace, self.actor, [("admin", "Ledger")])
        return ledger.rotate_key(self.workspace, actor=self.actor.principal).encode()

    def erase_personal(self, commitment: str, reason: str) -> None:
        """Erase a personal value (an admin's act)."""
        access.authorize(self.workspace, self.actor, [("admin", "Ledger")])
        ledger.erase(self.workspace, commitment, reason, actor=self.actor.principal)

    def record(self, records: Sequence[wire.JsonObject]) -> wire.Appended:
        """Append records from another system, marked with the actor."""
        principal = self.actor.principal
        marked = [
            {**r, "type": f"external.{r.get('type', 'record')}", "by": principal} for r in records
        ]
        first, size = ledger.append(self.workspace, marked, actor=principal)
        return wire.Appended(first_index=first, size=size)

    # -- decision records ----------------------------------------------------------------------
    def record_decisions(self, records: Sequence[wire.JsonObject]) -> wire.DecisionsRecorded:
        """Store a batch of decision records, credited to the actor."""
        done = decisions.record(self.workspace, list(records), actor=self.actor.principal)
        return wire.DecisionsRecorded(
            stored=done.stored,
            duplicates=done.duplicates,
            first_index=done.first_index,
            size=done.size,
        )

    def _admin(self) -> None:
        """Decision contents are personal data: opening, finding and erasing them is an admin's."""
        access.authorize(self.workspace, self.actor, [("admin", "Ledger")])

    def decision_record(self, record_id: str) -> wire.Decision:
        """One record, opened (an admin's read)."""
        self._admin()
        return conversion.decision_record(decisions.show(self.workspace, record_id))

    def decisions_of_subject(self, subject: str) -> wire.Decisions:
        """A subject's records (an admin's read)."""
        self._admin()
        found, more = decisions.of_subject(self.workspace, subject)
        return wire.Decisions(decisions=[conversion.decision_record(d) for d in found], more=more)

    def decision_proof(self, record_id: str) -> wire.DecisionProof:
        """A record's proof and opening (an admin's read)."""
        self._admin()
        proof, shown = decisions.prove(self.workspace, record_id)
        salt, content = shown.stored.salt, shown.stored.opening
        if salt is None or content is None:
            return wire.DecisionProof(proof=proof)
        return wire.DecisionProof(
            proof=proof, salt=base64.b64encode(salt).decode(), content=content
        )

    def decision_sheet(self, record_id: str) -> wire.DecisionSheet:
        """A decision in context (an admin's read)."""
        self._admin()
        return conversion.decision_sheet(decisions.sheet(self.workspace, record_id))

    def decision_summary(
        self, model: str | None = None, since: str | None = None, until: str | None = None
    ) -> wire.DecisionSummary:
        """Counts per model version and outcome, in whole hours; 30 days up to now by default.

        The read is checked here too, so the dashboard's page answers as the API's route does
        under a custom policy that forbids reading the ledger.
        """
        self._require_visible("Ledger")
        now = datetime.now(UTC)
        end = _moment(until, "until") if until else now + timedelta(seconds=MAX_SKEW_S)
        start = _moment(since, "since") if since else end - timedelta(days=30)
        if start >= end:
            raise UserError(f"since ({start.isoformat()}) must be before until ({end.isoformat()})")
        start, end, found = decisions.summary(self.workspace, model, start, end)
        models = [
            wire.ModelOutcomes(model=name, count=sum(c.values()), outcomes=dict(c.most_common()))
            for name, c in sorted(found.items())
        ]
        return wire.DecisionSummary(
            since=start, until=end, model=model, total=sum(m.count for m in models), models=models
        )

    def prune_decisions(self) -> wire.DecisionsForgotten:
        """Prune expired contents (an admin's act)."""
        self._admin()
        return wire.DecisionsForgotten(
            records=decisions.prune(self.workspace, actor=self.actor.principal)
        )

    def erase_subject(self, subject: str, reason: str) -> wire.DecisionsForgotten:
        """Erase a subject's contents (an admin's act)."""
        self._admin()
        count = decisions.erase_subject(self.workspace, subject, reason, actor=self.actor.principal)
        return wire.DecisionsForgotten(records=count)

    # -- lineage -------------------------------------------------------------------------------
    def ingest(self, path: str) -> wire.Ingested:
        """Store the events of a JSON-lines file, all or none."""
        found = lineage.ingest(self.workspace, lineage.read_jsonl(Path(path)))
        return wire.Ingested(
            accepted=found.accepted, duplicates=found.duplicates, external=found.external
        )

    def lineage(
        self,
        node: str,
        *,
        direction: Direction = "downstream",
        depth: int | None = 3,
        namespace: str | None = None,
    ) -> wire.LineageView:
        """The neighbourhood of a node (refused when its start may not be read)."""
        found = lineage.show(
            self.workspace, node, namespace=namespace, direction=direction, depth=depth
        )
        self._require_visible(lineage.resource_of(found.root))
        return conversion.view(lineage.redact_view(found, self._shown))

    def impact(
        self,
        node: str,
        *,
        depth: int | None = None,
        namespace: str | None = None,
        limit: int | None = None,
        page: str | None = None,
    ) -> wire.Impact:
        """Everything downstream of a dataset, or one page of it."""
        paged = limit is not None or page is not None
        found = lineage.impact(
            self.workspace,
            node,
            namespace=namespace,
            depth=depth,
            page=(_page_cursor(page), _page_size(limit)) if paged else None,
            visible=self._shown,
        )
        self._require_visible(lineage.resource_of(found.root))
        return conversion.impact(found)

    def _require_visible(self, resource: str | None) -> None:
        if resource is not None and not self._shown([resource])[0]:
            access.refuse(self.workspace, self.actor.principal, "read", resource, [])

    def erase(self, node: str, reason: str, *, namespace: str | None = None) -> wire.Erasure:
        """Erase a dataset's payloads (an admin's act)."""
        done = lineage.erase(self.workspace, node, reason, actor=self.actor, namespace=namespace)
        return conversion.erasure(done)

    # -- models --------------------------------------------------------------------------------
    def models(self, model: str | None = None) -> wire.ModelVersions:
        """Registered versions the caller may read."""
        found = registry.list_versions(self.workspace, model)
        allowed = self._shown([f"ModelVersion/{v.ref}" for v in found])
        return conversion.versions(v for v, ok in zip(found, allowed, strict=True) if ok)

    def model(self, ref: str) -> wire.ModelVersionDetail:
        """Everything about one version."""
        return conversion.version_detail(registry.describe(self.workspace, ref))

    def evaluate(self, ref: str, results: Sequence[wire.Evaluation]) -> wire.ModelVersionDetail:
        """Record evaluation results."""
        found = [registry.Evaluation(r.kind, r.name, r.passed, r.score) for r in results]  # type: ignore[arg-type]
        version = registry.evaluate(self.workspace, ref, found, actor=self.actor)
        return self.model(version.ref)

    def promote(self, ref: str, to: str, reason: str = "") -> wire.ModelVersionDetail:
        """Move a version to validated, draft or retired."""
        version = registry.transition(self.workspace, ref, to, reason, actor=self.actor)
        return self.model(version.ref)

    def approve(self, ref: str) -> wire.ModelVersionDetail:
        """Approve a version."""
        version = registry.approve(self.workspace, ref, actor=self.actor)
        return self.model(version.ref)

    def alias(self, ref: str, alias: str) -> wire.ModelVersionDetail:
        """Point an alias at a version."""
        version = registry.set_alias(self.workspace, ref, alias, actor=self.actor)
        return self.model(version.ref)

    def factsheet(self, ref: str, fmt: Literal["md", "json", "html"]) -> wire.Text:
        """A version's fact sheet, with verified ledger proofs."""
        return wire.Text(
            format=fmt, text=factsheet.RENDERERS[fmt](factsheet.facts(self.workspace, ref))
        )

    # -- monitors ------------------------------------------------------------------------------
    def run_monitors(self, name: str | None = None, *, due: bool = False) -> wire.MonitorRuns:
        """Run monitors now."""
        runs = monitoring.run_monitors(
            self.workspace, None if name is None else [name], due_only=due, actor=self.actor
        )
        return conversion.monitor_runs(runs)

    def alerts(self, *, every: bool = False) -> wire.Alerts:
        """Alerts."""
        return conversion.alerts(monitoring.alerts(self.workspace, firing_only=not every))

    def metrics(self) -> str:
        """Monitor results in the Prometheus text format."""
        return monitoring.metrics_text(self.workspace)

    def monitor_checks(self) -> wire.MonitorChecks:
        """The latest check of every monitor."""
        found = monitoring.latest_results(self.workspace)
        return wire.MonitorChecks(
            checks=[
                wire.MonitorCheck(monitor=name, checked_at=at, result=result)
                for name, (at, result) in sorted(found.items())
            ]
        )

    def monitor_actions(
        self, *, workload: str | None = None, state: str | None = None
    ) -> wire.MonitorActions:
        """Monitor actions, newest first."""
        found = corrections.actions(
            self.workspace, workload=workload, states=(state,) if state else ()
        )
        seen = self._shown([f"Workload/{a.workload}" for a in found])
        return wire.MonitorActions(
            actions=[conversion.monitor_action(a) for a, ok in zip(found, seen, strict=True) if ok]
        )

    def decide_action(
        self, action_id: int, *, approve: bool, reason: str = ""
    ) -> wire.MonitorAction:
        """Approve or reject a monitor action that waits for an approver."""
        decided = corrections.decide(
            self.workspace, action_id, approve=approve, reason=reason, actor=self.actor
        )
        return conversion.monitor_action(decided)

    def serving(self, workload: str) -> wire.Serving:
        """What a workload serves, and whether a monitor action paused it."""
        return conversion.serving(corrections.serving(self.workspace, workload))

    def release(self, workload: str, *, reason: str) -> wire.Serving:
        """Hand a workload back to its manifest (lift a monitor's rollback and pause)."""
        released = corrections.release(self.workspace, workload, reason=reason, actor=self.actor)
        return conversion.serving(released)

    # -- runs ----------------------------------------------------------------------------------
    @property
    def _remote(self) -> bool:
        """Whether the caller came through the API (its reads are filtered)."""
        return self._visible is not None

    def dispatch(self, *, dry_run: bool = False) -> wire.Dispatch:
        """One reconcile cycle (deploying every workload is an operator's act)."""
        if not dry_run:
            access.authorize(self.workspace, self.actor, [("deploy", "Workload/*")])
        done = dispatch.dispatch(
            self.workspace, actor=self.actor, dry_run=dry_run, remote=self._remote
        )
        named = {a.workload for a in done.actions} | {u.workload for u in done.undispatchable}
        hidden = self._hidden_workloads(named)
        if not hidden:
            return done
        return done.model_copy(
            update={
                "actions": [a for a in done.actions if a.workload not in hidden],
                "undispatchable": [u for u in done.undispatchable if u.workload not in hidden],
            }
        )

    def _hidden_workloads(self, names: set[str]) -> set[str]:
        ordered = sorted(names)
        allowed = self._shown([f"Workload/{n}" for n in ordered])
        return {n for n, ok in zip(ordered, allowed, strict=True) if not ok}

    def capacity_history(
        self, *, step_s: int = 3600, by: str = "pool", top: int | None = 8
    ) -> wire.CapacityHistory:
        """Demand from Keel's own runs, per pool or workload (of workloads the caller reads)."""
        return capacity.runs_history(
            self.workspace, step_s=step_s, by=by, top=top, hidden=self._hidden_workloads
        )

    def check_tool_calls(
        self, agent: str, tool_calls: Sequence[wire.ToolCall]
    ) -> wire.ToolCallVerdicts:
        """Verdicts on an agent's tool calls, asked by an operator or by the agent itself."""
        self._runs_agent(agent)
        return gateway.check(self.workspace, agent, tool_calls, actor=self.actor)

    def check_tool_results(
        self, agent: str, results: Sequence[wire.ToolResult]
    ) -> wire.ToolResultVerdicts:
        """Verdicts on an agent's tool results, asked by an operator or by the agent itself."""
        self._runs_agent(agent)
        return gateway.check_results(self.workspace, agent, results, actor=self.actor)

    def _runs_agent(self, agent: str) -> None:
        """Running an agent is an operator's act; an agent checking its own calls needs no more."""
        if self.actor.principal != f"agent:{agent}":
            access.authorize(self.workspace, self.actor, [("deploy", "Workload/*")])

    def agent_calls(
        self, agent: str, *, limit: int = 50, before: int | None = None
    ) -> wire.AgentCalls:
        """An agent's recent tool calls, for those who may read the agent."""
        self._require_visible(f"Agent/{agent}")
        return gateway.calls(self.workspace, agent, limit=limit, before=before)

    def agent_duplicates(self, *, min_score: float = 0.0) -> wire.AgentDuplicates:
        """Pairs of agents that may do the same job, among the agents the caller may read."""
        names = gateway.agent_names(self.workspace)
        shown = self._shown([f"Agent/{n}" for n in names])
        hidden = {n for n, ok in zip(names, shown, strict=True) if not ok}
        return gateway.duplicate_agents(self.workspace, min_score=min_score, hidden=hidden)

    def tool_approvals(self, *, state: str | None = "pending") -> wire.ToolApprovals:
        """Tool approvals of the agents the caller may read, newest first."""
        names = gateway.agent_names(self.workspace)
        shown = self._shown([f"Agent/{n}" for n in names])
        hidden = {n for n, ok in zip(names, shown, strict=True) if not ok}
        return gateway.approvals(self.workspace, self.actor, state=state, hidden=hidden)

    def decide_tool_approval(
        self, approval_id: int, *, approve: bool, reason: str = ""
    ) -> wire.ToolApproval:
        """Approve or deny a waiting tool call (``approve`` on the agent; not its requester)."""
        return gateway.decide_approval(
            self.workspace, approval_id, approve=approve, reason=reason, actor=self.actor
        )

    def capacity_advice(self, advice_id: int | None = None) -> wire.CapacityAdvice:
        """A recorded advice run, without the names of workloads the caller may not read."""
        self._require_visible("Resource/Capacity/all")
        found = advice.stored(self.workspace, advice_id)
        mapping = found.scenario.get("mapping", {})
        return advice.redact(found, self._hidden_workloads(set(mapping.values())))

    def capacity_advice_list(self, *, limit: int = 20) -> wire.AdviceList:
        """The newest recorded advice runs, summarised (they name no workload)."""
        self._require_visible("Resource/Capacity/all")
        return advice.recent(self.workspace, limit)

    def runs(self, workload: str | None = None, *, every: bool = False) -> wire.Runs:
        """Runs, without those of workloads the caller may not read."""
        found = dispatch.list_runs(self.workspace, workload=workload, every=every)
        hidden = self._hidden_workloads({r.workload for r in found.runs})
        if not hidden:
            return found
        shown = [r for r in found.runs if r.workload not in hidden]
        states: dict[str, int] = {}
        for run in shown:
            states[run.state] = states.get(run.state, 0) + 1
        return wire.Runs(runs=shown, states=states)

    def run_logs(self, workload: str, *, replica: int = 0) -> wire.Text:
        """A run's output (what a job prints may hold its data: an operator's read)."""
        access.authorize(self.workspace, self.actor, [("deploy", f"Workload/{workload}")])
        return wire.Text(
            format="text", text=dispatch.logs(self.workspace, workload, replica=replica)
        )

    def cancel_runs(self, workload: str | None = None) -> wire.Runs:
        """Stop runs (an operator's act on each workload)."""
        access.authorize(self.workspace, self.actor, [("deploy", f"Workload/{workload or '*'}")])
        return dispatch.cancel(self.workspace, workload, actor=self.actor, remote=self._remote)

    # -- readiness -----------------------------------------------------------------------------
    def assess_readiness(self) -> wire.Readiness:
        """Assess now (an operator's act: it writes the ledger), store and record it."""
        access.authorize(self.workspace, self.actor, [("apply", "Resource/Readiness/all")])
        return self._redacted(readiness.assess(self.workspace, actor=self.actor))

    def readiness(self) -> wire.Readiness:
        """The latest assessment, without names the caller may not read.

        The read is checked here too, so the dashboard's page (guarded as a page) answers as
        the API's route does under a custom policy that forbids it.
        """
        target = "Resource/Readiness/all"
        if self._visible is not None and not self._visible([target])[0]:
            access.raise_refused(self.workspace, [(self.actor.principal, "read", target, [])])
        found = readiness.latest(self.workspace)
        if found is None:
            raise NotFoundError("no readiness assessment yet", hint="run keel readiness --assess")
        return self._redacted(found)

    def _redacted(self, found: wire.Readiness) -> wire.Readiness:
        return found if self._visible is None else readiness.redact(found, self._visible)

    # -- API keys ------------------------------------------------------------------------------
    def tokens(self) -> wire.Tokens:
        """Every API key, without secrets."""
        now = datetime.now(UTC)
        return wire.Tokens(
            tokens=[conversion.token(t, now) for t in tokens.list_tokens(self.workspace)]
        )

    def create_token(
        self,
        name: str,
        role: str,
        expires_days: float | None = DEFAULT_KEY_DAYS,
        *,
        agent: str | None = None,
    ) -> wire.CreatedToken:
        """Create an API key (an admin's act); its secret is in the answer, once."""
        access.authorize(self.workspace, self.actor, [("admin", f"Resource/ApiKey/{name}")])
        made, key = tokens.create(
            self.workspace, name, role, expires_days, actor=self.actor.principal, agent=agent
        )
        return wire.CreatedToken(token=conversion.token(made, datetime.now(UTC)), key=key)

    def revoke_token(self, name: str) -> wire.Token:
        """Revoke an API key (an admin's act)."""
        access.authorize(self.workspace, self.actor, [("admin", f"Resource/ApiKey/{name}")])
        revoked = tokens.revoke(self.workspace, name, actor=self.actor.principal)
        return conversion.token(revoked, datetime.now(UTC))


def withheld(text: str, hidden: list[str]) -> str:
    """A message with the names of inputs the caller may not read replaced.

    Args:
        text: The message.
        hidden: Dataset names to withhold.

    Returns:
        The message without them.
    """
    names = "|".join(re.escape(name) for name in sorted(hidden, key=len, reverse=True))
    # A whole name only: "eu-cards" is not withheld from "eu-cards-archive", nor "pii" from "piie".
    return re.sub(rf"(?<![\w.-])(?:{names})(?![\w-]|\.\w)", "<an input you may not read>", text)


def _findings(decision: wire.PolicyDecision | wire.Verdict, hidden: list[str]) -> dict[str, object]:
    return {
        key: [f.model_copy(update={"message": withheld(f.message, hidden)}) for f in found]
        for key, found in (("deny", decision.deny), ("warn", decision.warn))
    }


_CURSOR = re.compile(r"^[0-9]{1,18}$")


def _page_cursor(page: str | None) -> int:
    """The node id a page cursor holds (0 for the first page)."""
    if page is None:
        return 0
    if not _CURSOR.match(page):
        raise UserError(f"page {page[:40]!r} is not a cursor from an earlier answer's next_page")
    return int(page)


def _page_size(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise UserError(f"limit must be 1 to {MAX_PAGE:,}, not {limit}")
    return limit
