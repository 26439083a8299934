"""Service and domain objects as wire models: the one place their JSON shape is decided.

Routes return what these functions make, :class:`keel.Client` parses the same models, and the
CLI renders them, so a field is named once. Nothing here reads the store. Where a stored
object's attributes are the wire model's fields by name, the model reads them itself
(``from_attributes``); the functions here spell out only what differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from keel import wire
from keel.monitor.check import CheckResult
from keel.policy.access.engine import AccessDecision
from keel.policy.compliance.decision import Decision
from keel.service.changes import ApplyResult, Change
from keel.service.corrections import Serving
from keel.service.decisions import DecisionSheet, ShownDecision
from keel.service.ledger import ShownEntry, VerifyReport
from keel.service.lineage import Erasure, Impact, LineageView, label
from keel.service.monitoring import MonitorRun
from keel.service.registry import VersionDetail
from keel.service.tokens import Token
from keel.store import StoredResource
from keel.store.actions import StoredAction
from keel.store.lineage import Node
from keel.store.monitors import StoredAlert
from keel.store.registry import StoredVersion


# -- estate -----------------------------------------------------------------------------------
def resource(item: StoredResource) -> wire.Resource:
    """A stored resource as the API and ``keel get -o json`` show it."""
    return wire.Resource(
        kind=item.kind,
        name=item.name,
        labels=dict(item.labels),
        spec=item.spec or {},
        status=wire.ResourceStatus(
            generation=item.generation,
            spec_digest=item.spec_digest,
            created_at=item.created_at,
            updated_at=item.updated_at,
            resolved=item.resolved,
        ),
    )


def resources(items: Iterable[StoredResource]) -> wire.ResourceList:
    """Stored resources as a list."""
    return wire.ResourceList(items=[resource(item) for item in items])


def change(item: Change) -> wire.Change:
    """What an apply or delete did to one resource."""
    return wire.Change(
        action=item.action,
        kind=item.kind,
        name=item.name,
        generation=item.generation,
        fields=list(item.fields),
    )


def applied(result: ApplyResult) -> wire.ApplyResult:
    """The outcome of an apply."""
    return wire.ApplyResult(
        revision=result.revision,
        estate_digest=result.estate_digest,
        dry_run=result.dry_run,
        changes=[change(c) for c in result.changes],
        warnings=list(result.warnings),
    )


# -- plans and policy -------------------------------------------------------------------------
def plan(data: Mapping[str, Any], **extra: Any) -> wire.Plan:
    """A plan's JSON (as computed, or as stored) as a typed plan, with extra fields set."""
    return wire.Plan.model_validate({**data, **extra})


def explanation(why: Mapping[str, Any]) -> wire.Explanation:
    """What :func:`keel.service.planning.explain_workload` found."""
    return wire.Explanation.model_validate(why)


def decision(found: Decision) -> wire.PolicyDecision:
    """A compliance decision with every rule that fired."""
    return wire.PolicyDecision.model_validate(found.to_json())


def access(found: AccessDecision, principal: str, action: str, target: str) -> wire.AccessDecision:
    """An access decision and the request it answers."""
    return wire.AccessDecision(
        principal=principal,
        action=action,
        resource=target,
        allowed=found.allowed,
        policies=list(found.policies),
        errors=list(found.errors),
    )


# -- ledger -----------------------------------------------------------------------------------
def entry(shown: ShownEntry, *, opened: bool) -> wire.LedgerEntry:
    """A ledger entry; its personal values opened only where asked (never over the API)."""
    return wire.LedgerEntry(
        index=shown.index,
        created_at=shown.created_at,
        entry=shown.entry,
        personal=shown.personal if opened else None,
    )


def entries(shown: Iterable[ShownEntry], *, opened: bool, size: int) -> wire.LedgerEntries:
    """Ledger entries, with the log's size."""
    return wire.LedgerEntries(entries=[entry(e, opened=opened) for e in shown], size=size)


def verification(report: VerifyReport) -> wire.Verification:
    """A successful verification."""
    return wire.Verification.model_validate(report, from_attributes=True)


# -- lineage ----------------------------------------------------------------------------------
def node(item: Node, depth: int | None = None) -> wire.Node:
    """A lineage node."""
    return wire.Node(
        kind=item.kind,
        namespace=item.namespace,
        name=item.name,
        origin=item.origin,
        erased=item.erased_at is not None,
        facets=item.facets,
        depth=depth,
    )


def view(found: LineageView) -> wire.LineageView:
    """A neighbourhood of the lineage graph."""
    return wire.LineageView(
        root=node(found.root),
        nodes=[node(n, d) for n, d in found.nodes],
        edges=[
            wire.Edge.model_validate({"from": label(s), "to": label(t), "kind": k})
            for s, t, k in found.edges
        ],
        truncated=found.truncated,
    )


def _impact_fields(found: Impact) -> dict[str, Any]:
    return {
        "dataset": node(found.root),
        "derived_datasets": [label(n) for n in found.datasets],
        "model_versions": [m.name for m in found.models],
        "workloads": [w.name for w in found.workloads],
        "placements": found.placements,
        "truncated": found.truncated,
        "next_page": None if found.next_after is None else str(found.next_after),
    }


def impact(found: Impact) -> wire.Impact:
    """Everything downstream of a dataset."""
    return wire.Impact.model_validate(_impact_fields(found))


def erasure(done: Erasure) -> wire.Erasure:
    """An erasure with what to retrain and stop."""
    return wire.Erasure.model_validate(
        {
            **_impact_fields(done.impact),
            "retrain": done.retrain,
            "stop": done.stop,
            "ledger_index": done.ledger_index,
        }
    )


# -- models -----------------------------------------------------------------------------------
def version(item: StoredVersion) -> wire.ModelVersion:
    """A version in one line (``keel model list``)."""
    return wire.ModelVersion(
        model=item.model,
        version=item.version,
        state=item.state,
        risk_tier=item.record.get("risk_tier"),
        registered_by=item.registered_by,
        registered_at=item.created_at,
    )


def versions(items: Iterable[StoredVersion]) -> wire.ModelVersions:
    """Versions."""
    return wire.ModelVersions(versions=[version(v) for v in items])


def version_detail(detail: VersionDetail) -> wire.ModelVersionDetail:
    """Everything about a version (``keel model show``)."""
    return wire.ModelVersionDetail(
        **version(detail.version).model_dump(),
        declared_state=detail.version.declared_state,
        record=detail.version.record,
        aliases=detail.aliases,
        approvers=detail.approvers,
        approvals_needed=detail.approvals_needed,
        evaluations=[
            wire.Evaluation.model_validate(e, from_attributes=True) for e in detail.evaluations
        ],
        history=[
            wire.HistoryEvent(
                type=e.type, by=e.principal, detail=e.detail, ledger_index=e.ledger_index, at=e.at
            )
            for e in detail.events
        ],
    )


# -- monitors ---------------------------------------------------------------------------------
def alert(item: StoredAlert) -> wire.Alert:
    """An alert."""
    return wire.Alert.model_validate(item, from_attributes=True)


def alerts(items: Iterable[StoredAlert]) -> wire.Alerts:
    """Alerts."""
    return wire.Alerts(alerts=[alert(a) for a in items])


def monitor_run(run: MonitorRun) -> wire.MonitorRun:
    """What one monitor's run found and did."""
    result: CheckResult = run.result
    return wire.MonitorRun(
        monitor=result.monitor,
        workload=result.workload,
        status=result.status,
        rows=result.rows,
        conditions=[
            wire.ConditionResult.model_validate(c, from_attributes=True) for c in result.conditions
        ],
        raised=list(run.raised),
        resolved=list(run.resolved),
        still_firing=list(run.still_firing),
        delivery_errors=list(run.delivery_errors),
        actions=[monitor_action(a) for a in run.actions],
    )


def monitor_action(item: StoredAction) -> wire.MonitorAction:
    """A monitor action and its facts."""
    detail = item.detail
    return wire.MonitorAction(
        id=item.id,
        monitor=item.monitor,
        workload=item.workload,
        alert_id=item.alert_id,
        conditions=item.conditions,
        action=item.action,
        approval=item.approval,
        state=item.state,
        requested_by=item.requested_by,
        requested_at=item.requested_at,
        due_at=item.due_at,
        decided_by=item.decided_by,
        decided_at=item.decided_at,
        from_model=detail.get("from_model"),
        to_model=detail.get("to_model"),
        plan_id=detail.get("plan_id"),
        message=detail.get("message", ""),
        reason=detail.get("reason", ""),
    )


def serving(item: Serving) -> wire.Serving:
    """What a workload serves after monitor actions."""
    return wire.Serving.model_validate(item, from_attributes=True)


def monitor_runs(runs: Iterable[MonitorRun]) -> wire.MonitorRuns:
    """The monitors that ran."""
    return wire.MonitorRuns(runs=[monitor_run(r) for r in runs])


# -- tokens -----------------------------------------------------------------------------------
def token(item: Token, now: datetime) -> wire.Token:
    """An API key without its secret."""
    return wire.Token(
        name=item.name,
        role=item.role,
        principal=item.principal,
        state=item.state(now),
        created_at=item.created_at,
        expires_at=item.expires_at,
        revoked_at=item.revoked_at,
        agent=item.agent,
    )


# -- decision records -------------------------------------------------------------------------
def decision_record(shown: ShownDecision) -> wire.Decision:
    """A decision record, its content opened while held."""
    stored, content = shown.stored, shown.content
    return wire.Decision(
        id=stored.id,
        ledger_index=stored.ledger_index,
        model=stored.model,
        workload=stored.workload,
        decided_at=stored.decided_at,
        received_at=stored.received_at,
        expires_at=stored.expires_at,
        input_digest=stored.input_digest,
        content_commitment=stored.content,
        outcome=stored.outcome,
        content=None if content is None else wire.DecisionContent(**content),
        gone=shown.gone,
    )


def decision_sheet(found: DecisionSheet) -> wire.DecisionSheet:
    """A decision in context."""
    return wire.DecisionSheet(
        decision=decision_record(found.decision),
        state=found.state,
        risk_tier=found.risk_tier,
        approvals=[
            wire.Approval(by=by, at=at, declared=declared) for by, at, declared in found.approvals
        ],
        trained_on=found.trained_on,
        monitors=[
            wire.MonitorAtTime(
                monitor=m.monitor, checked_at=m.checked_at, status=m.status, firing=m.firing
            )
            for m in found.monitors
        ],
    )
