"""Monitor actions: what a monitor does when an alert is raised, and the approvals it needs.

A monitor declares actions (``rollback``, ``replan``, ``pause``, ``notify``) on conditions.
When a run raises an alert on one of them, each matching action is taken once for that alert:

* ``approval: before`` -> ``pending``; an approver's ``approve`` carries it out (``applied``),
  ``reject`` drops it (``rejected``).
* ``approval: after`` -> carried out at once, ``provisional`` until an approver confirms it
  (``confirmed``) or rejects it (``reverted``: a rollback serves the version before it again,
  a pause is lifted). A ``provisional`` action not decided within its grace period becomes
  ``overdue`` at the next monitor run, stays in effect, and can still be decided.
* ``approval: none`` -> carried out at once (``applied``).
* An action being carried out is ``acting`` for that moment (stored first, so that a
  notification can name it); one left ``acting`` for 10 minutes (Keel stopped mid-way) is
  marked ``failed`` by the next monitor run.
* An action that cannot be carried out (no earlier approved version to roll back to, a re-plan
  that fails, a webhook that does not answer) is ``failed``, with why.

What a rollback or pause changes is a workload *control*: the version served instead of the
manifest's (valid while the manifest still names the version it replaced: pointing the manifest
at another version ends it) and the pause. Dispatch reads both: the served version goes to the
engine in ``KEEL_MODEL`` and is part of the run's digest, so the runtime restarts the service
with the rolled-back version; a paused workload gets no new runs or retries, and its running
ones are left alone. ``release`` hands a workload back to its manifest.

Invariants:
    * Every change of an action's state (but to the passing ``acting``) is one
      ``monitor.action`` ledger entry naming the alert that caused it, in the transaction that
      changes it; a webhook appears in it by scheme and host only.
    * The principal that ran the monitor never decides its actions (separation of duties);
      deciding needs ``approve`` on the workload in the access policy.
    * A rollback only ever serves a version that is ``approved`` or ``deployed`` at that moment;
      an ``approved`` one becomes ``deployed``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from keel.errors import KeelError, LifecycleError, NotFoundError, UserError
from keel.estate import Estate
from keel.estate.resources import MonitorActionSpec, MonitorSpec, split_model_ref
from keel.registry.lifecycle import USABLE_STATES
from keel.service import access, ledger, notifications
from keel.service.actor import Actor
from keel.service.registry import Pending, spec_of
from keel.service.stored import load_estate
from keel.service.workspace import Unit, Workspace
from keel.store.actions import ActionRepository, Control, StoredAction
from keel.store.registry import ModelEvent, RegistryRepository

STATES = (
    "acting",
    "pending",
    "applied",
    "provisional",
    "confirmed",
    "rejected",
    "reverted",
    "overdue",
    "failed",
)
"""Every state of a monitor action."""

UNDECIDED = ("pending", "provisional", "overdue")
"""States that wait for an approver."""

ACTING_TIMEOUT = timedelta(minutes=10)
"""An action still ``acting`` after this long was interrupted (Keel stopped mid-way)."""


@dataclass(frozen=True, slots=True)
class Serving:
    """What a workload serves and whether it is paused, after monitor actions.

    Attributes:
        workload: The workload.
        manifest_model: What its manifest says (``model@version``).
        model: What it serves.
        rollback_action: The action that rolled it back, if it serves another version.
        paused_by_action: The action that paused it, if paused.
    """

    workload: str
    manifest_model: str
    model: str
    rollback_action: int | None
    paused_by_action: int | None


def served_model(control: Control, manifest_model: str) -> str:
    """The version a workload serves: a rollback's, while its manifest still names the same."""
    if control.served_model is not None and control.manifest_model == manifest_model:
        return control.served_model
    return manifest_model


def approval_of(action: MonitorActionSpec, risk_tier: str) -> str:
    """The approval an action needs.

    As declared; else ``before`` for a high-risk model's rollback or pause, ``none`` otherwise.
    """
    if action.approval is not None:
        return action.approval
    return "before" if risk_tier == "high" and action.do in ("rollback", "pause") else "none"


def _entry(action: StoredAction, **extra: Any) -> dict[str, Any]:
    """The ``monitor.action`` entry of an action's state: its facts, a webhook by host only."""
    facts = {k: v for k, v in action.detail.items() if k != "url" and v not in ("", None)}
    if "url" in action.detail:
        facts["webhook"] = notifications.where(action.detail["url"])
    return {
        "type": "monitor.action",
        "action_id": action.id,
        "monitor": action.monitor,
        "workload": action.workload,
        "alert_id": action.alert_id,
        "conditions": action.conditions,
        "do": action.action,
        "approval": action.approval,
        "state": action.state,
        **facts,
        **extra,
    }


def _workload_model(estate: Estate, workload: str) -> str:
    spec = estate.workloads().get(workload)
    if spec is None:
        raise NotFoundError(f"Workload/{workload} does not exist")
    return spec.model


def serving(workspace: Workspace, workload: str) -> Serving:
    """What a workload serves now, and whether a monitor action paused it.

    Args:
        workspace: The workspace.
        workload: The workload.

    Returns:
        Its serving state.

    Raises:
        NotFoundError: If the workload does not exist.
    """
    estate = load_estate(workspace)
    manifest = _workload_model(estate, workload)
    with workspace.unit() as unit:
        control = unit.repository(ActionRepository).control(workload)
    model = served_model(control, manifest)
    return Serving(
        workload,
        manifest,
        model,
        control.rollback_action if model != manifest else None,
        control.paused_by_action,
    )


def controls(unit: Unit, estate: Estate) -> tuple[dict[str, str], dict[str, int]]:
    """Every workload's served model and the paused ones, for dispatch.

    Args:
        unit: A unit of work.
        estate: The estate.

    Returns:
        ``workload -> model@version served`` for every workload, and ``workload -> the action
        that paused it``.
    """
    stored = unit.repository(ActionRepository).controls()
    served = {
        name: served_model(stored.get(name, Control(name)), spec.model)
        for name, spec in estate.workloads().items()
    }
    paused = {
        name: c.paused_by_action for name, c in stored.items() if c.paused_by_action is not None
    }
    return served, paused


# -- taking actions ----------------------------------------------------------------------------
def take(
    workspace: Workspace,
    spec: MonitorSpec,
    monitor: str,
    raised: dict[str, int],
    *,
    actor: Actor,
    now: datetime,
) -> list[StoredAction]:
    """Take a monitor's actions for the alerts a run raised.

    Args:
        workspace: The workspace.
        spec: The monitor.
        monitor: Its name.
        raised: ``condition -> alert id`` of the alerts the run raised.
        actor: Who ran the monitor (the action's requester).
        now: The run's time.

    Returns:
        The actions taken or asked for, in declaration order.
    """
    if not spec.actions or not raised:
        return []
    estate = load_estate(workspace)
    model = split_model_ref(_workload_model(estate, spec.workload))[0]
    tier = spec_of(estate, model).risk_tier
    taken = []
    for declared in spec.actions:
        matched = [c for c in raised if declared.matches(c)]
        if not matched:
            continue
        approval = approval_of(declared, tier)
        action = StoredAction(
            0,
            monitor,
            spec.workload,
            raised[matched[0]],
            matched,
            declared.do,
            approval,
            "pending",
            actor.principal,
            now,
            None,
            None,
            None,
            {"url": declared.url} if declared.url else {},
            now,
        )
        if approval == "before":
            with workspace.unit(actor.principal, write=True) as unit:
                action = replace(action, id=unit.repository(ActionRepository).add(action))
                ledger.record(unit, [_entry(action)])
            taken.append(action)
            continue
        due = now + timedelta(minutes=declared.grace_minutes) if approval == "after" else None
        state = "provisional" if approval == "after" else "applied"
        taken.append(_carry_out(workspace, estate, action, state, due, actor=actor, new=True))
    return taken


def _carry_out(
    workspace: Workspace,
    estate: Estate,
    action: StoredAction,
    state: str,
    due: datetime | None,
    *,
    actor: Actor,
    new: bool,
    decided_by: str | None = None,
) -> StoredAction:
    """Do what an action says; store its new state with its ledger entry in one transaction.

    A re-plan commits its plan first, and a notification is sent first.
    """
    if new:  # stored first, so that a notification can name it; nobody decides it meanwhile
        with workspace.unit(actor.principal, write=True) as unit:
            action = replace(action, state="acting")
            action = replace(action, id=unit.repository(ActionRepository).add(action))
    detail = dict(action.detail)
    failure = ""
    try:
        if action.action == "replan":
            detail.update(_replan(workspace, actor))
        elif action.action == "notify":
            _notify(workspace, action)
    except KeelError as error:
        failure = error.message
    with workspace.unit(actor.principal, write=True) as unit:
        repo = unit.repository(ActionRepository)
        fresh = repo.get(action.id, for_update=True)
        if fresh is None or fresh.state != action.state:
            raise LifecycleError(f"monitor action {action.id} was decided meanwhile")
        pending = Pending([], [])
        now = datetime.now(UTC)
        if not failure and action.action in ("rollback", "pause"):
            try:
                detail.update(_control(unit, estate, action, now, pending))
            except LifecycleError as error:
                failure = error.message
        if failure:
            detail["message"] = failure
            state, due = "failed", None
        updated = replace(action, state=state, due_at=due, detail=detail, updated_at=now)
        if decided_by is not None:
            updated = replace(updated, decided_by=decided_by, decided_at=now)
        repo.update(updated)
        extra = {"by": decided_by} if decided_by else {}
        first, _ = ledger.record(unit, [_entry(updated, **extra), *pending.entries])
        pending.save(unit.repository(RegistryRepository), first + 1)
    return updated


def _control(
    unit: Unit, estate: Estate, action: StoredAction, now: datetime, pending: Pending
) -> dict[str, Any]:
    """Roll back or pause a workload; the facts to keep with the action."""
    repo = unit.repository(ActionRepository)
    control = repo.control(action.workload)
    if action.action == "pause":
        repo.set_control(replace(control, paused_by_action=action.id), now)
        return {}
    manifest = _workload_model(estate, action.workload)
    current = served_model(control, manifest)
    model, version = split_model_ref(current)
    registry = unit.repository(RegistryRepository)
    stored = {v.version: v for v in registry.versions(model)}
    declared = [v.version for v in spec_of(estate, model).versions]  # the manifest's order
    position = declared.index(version) if version in declared else len(declared)
    earlier = [
        stored[v] for v in declared[:position] if v in stored and stored[v].state in USABLE_STATES
    ]
    if not earlier:
        raise LifecycleError(
            f"{current} has no earlier approved or deployed version to roll back to"
        )
    target = earlier[-1]
    if target.state == "approved":
        registry.update(target.model, target.version, now, state="deployed")
        why = f"rollback of {action.workload} by monitor action {action.id}"
        detail = {"from": "approved", "to": "deployed", "reason": why}
        pending.add(
            ModelEvent(target.model, target.version, "transitioned", None, detail, None, now),
            {
                "type": "model.transitioned",
                "model": target.model,
                "version": target.version,
                **detail,
            },
        )
    served = None if target.ref == manifest else target.ref
    repo.set_control(
        replace(control, manifest_model=manifest, served_model=served, rollback_action=action.id),
        now,
    )
    return {"from_model": current, "to_model": target.ref}


def _replan(workspace: Workspace, actor: Actor) -> dict[str, Any]:
    from keel.service import planning  # planning imports nothing of this module's callers

    result = planning.compute_plan(workspace, replan=True)
    plan_id, _ = planning.commit_plan(workspace, result, actor=actor)
    moved = [m for m in planning.report(result, diff=True).moves or [] if m.change != "kept"]
    return {"plan_id": plan_id, "moved": len(moved)}


def _notify(workspace: Workspace, action: StoredAction) -> None:
    payload = {
        "action_id": action.id,
        "monitor": action.monitor,
        "workload": action.workload,
        "alert_id": action.alert_id,
        "conditions": action.conditions,
    }
    url = action.detail.get("url")
    if url is None:
        notifications.log_alert(workspace, payload)
    else:
        notifications.post(url, payload)


# -- deciding ----------------------------------------------------------------------------------
def decide(
    workspace: Workspace, action_id: int, *, approve: bool, reason: str = "", actor: Actor
) -> StoredAction:
    """Approve or reject a monitor action that waits for an approver.

    Args:
        workspace: The workspace.
        action_id: The action.
        approve: Approve (carry out, or confirm) or reject (drop, or revert).
        reason: Why (kept in the ledger entry).
        actor: The approver; needs ``approve`` on the workload, and may not be the principal
            that ran the monitor.

    Returns:
        The action after the decision.

    Raises:
        NotFoundError: If the action does not exist.
        ForbiddenError: If the access policy refuses the approver (written to the ledger).
        LifecycleError: If the action waits for nobody, or the approver ran the monitor.
    """
    if len(reason) > 1000:
        raise UserError(f"reason: at most 1,000 characters, got {len(reason):,}")
    if not 1 <= action_id < 2**31:  # ids are 32-bit; anything else names no action
        raise NotFoundError(f"monitor action {action_id} does not exist")
    estate = load_estate(workspace)
    with workspace.unit() as unit:
        action = unit.repository(ActionRepository).get(action_id)
    if action is None:
        raise NotFoundError(f"monitor action {action_id} does not exist")
    access.require(workspace, estate, actor, "approve", f"Workload/{action.workload}")
    if actor.principal == action.requested_by:
        raise LifecycleError(
            f"{actor.principal} ran the monitor that asked for action {action_id}: another"
            " principal must decide it (separation of duties)"
        )
    if action.state not in UNDECIDED:
        raise LifecycleError(f"monitor action {action_id} is {action.state}: nothing to decide")
    now = datetime.now(UTC)
    if reason:
        action = replace(action, detail={**action.detail, "reason": reason})
    if action.state == "pending" and approve:
        return _carry_out(
            workspace,
            estate,
            action,
            "applied",
            None,
            actor=actor,
            new=False,
            decided_by=actor.principal,
        )
    with workspace.unit(actor.principal, write=True) as unit:
        repo = unit.repository(ActionRepository)
        fresh = repo.get(action_id, for_update=True)
        if fresh is None or fresh.state != action.state:  # decided meanwhile by someone else
            raise LifecycleError(f"monitor action {action_id} was decided meanwhile: see it again")
        if action.state == "pending":
            state = "rejected"
        elif approve:
            state = "confirmed"
        else:
            state = "reverted" if action.action in ("rollback", "pause") else "rejected"
            if state == "reverted":
                _revert(repo, action, now)
        updated = replace(
            action, state=state, updated_at=now, decided_by=actor.principal, decided_at=now
        )
        repo.update(updated)
        ledger.record(unit, [_entry(updated, by=actor.principal)])
    return updated


def _revert(repo: ActionRepository, action: StoredAction, now: datetime) -> None:
    control = repo.control(action.workload)
    if action.action == "pause":
        if control.paused_by_action == action.id:
            repo.set_control(replace(control, paused_by_action=None), now)
        return
    if control.rollback_action != action.id:
        raise LifecycleError(
            f"a later action ({control.rollback_action}) changed what {action.workload} serves:"
            " decide or release that first"
        )
    before = action.detail.get("from_model")
    served = None if before == control.manifest_model else before
    repo.set_control(replace(control, served_model=served, rollback_action=None), now)


def expire(workspace: Workspace, *, actor: Actor, now: datetime | None = None) -> list[int]:
    """Mark late actions ``overdue`` (provisional past grace) or ``failed`` (left acting).

    A ``provisional`` action past its grace period stays in effect; one still ``acting`` after
    :data:`ACTING_TIMEOUT` was interrupted (Keel stopped while carrying it out).

    Args:
        workspace: The workspace.
        actor: Who notices (the monitor run's principal).
        now: The time (tests pass one).

    Returns:
        The ids of the actions marked.
    """
    now = now or datetime.now(UTC)
    with workspace.unit() as unit:
        late = [
            a
            for a in unit.repository(ActionRepository).list(states=("provisional", "acting"))
            if (a.state == "provisional" and a.due_at is not None and a.due_at <= now)
            or (a.state == "acting" and now - a.updated_at > ACTING_TIMEOUT)
        ]
    if not late:
        return []
    with workspace.unit(actor.principal, write=True) as unit:
        repo = unit.repository(ActionRepository)
        entries = []
        for action in late:
            marked = replace(action, state="overdue", updated_at=now)
            if action.state == "acting":
                why = "interrupted: Keel stopped while carrying it out; check the workload"
                detail = {**action.detail, "message": why}
                marked = replace(marked, state="failed", detail=detail)
            repo.update(marked)
            due = {"due_at": action.due_at.isoformat()} if action.due_at else {}
            entries.append(_entry(marked, **due))
        ledger.record(unit, entries)
    return [a.id for a in late]


def release(workspace: Workspace, workload: str, *, reason: str, actor: Actor) -> Serving:
    """Hand a workload back to its manifest: lift a monitor's pause and its rollback.

    Args:
        workspace: The workspace.
        workload: The workload.
        reason: Why (kept in the ledger entry); required.
        actor: Who releases it; needs ``approve`` on the workload.

    Returns:
        Its serving state after.

    Raises:
        UserError: If no reason is given.
        NotFoundError: If the workload does not exist.
        LifecycleError: If no monitor action changed it.
    """
    if not reason.strip() or len(reason) > 1000:
        raise UserError("give a reason (1 to 1,000 characters): it goes in the ledger")
    estate = load_estate(workspace)
    manifest = _workload_model(estate, workload)
    access.require(workspace, estate, actor, "approve", f"Workload/{workload}")
    now = datetime.now(UTC)
    with workspace.unit(actor.principal, write=True) as unit:
        repo = unit.repository(ActionRepository)
        control = repo.control(workload)
        served = served_model(control, manifest)
        if served == manifest and control.paused_by_action is None:
            raise LifecycleError(f"Workload/{workload} follows its manifest: nothing to release")
        repo.set_control(Control(workload), now)
        entry: dict[str, Any] = {
            "type": "workload.released",
            "workload": workload,
            "serves": manifest,
            "reason": reason,
        }
        if served != manifest:
            entry |= {"served": served, "rollback_action": control.rollback_action}
        if control.paused_by_action is not None:
            entry["paused_by_action"] = control.paused_by_action
        ledger.record(unit, [entry])
    return Serving(workload, manifest, manifest, None, None)


def actions(
    workspace: Workspace, *, workload: str | None = None, states: tuple[str, ...] = ()
) -> list[StoredAction]:
    """Monitor actions, newest first (at most 1,000).

    Args:
        workspace: The workspace.
        workload: Only this workload's.
        states: Only these states.

    Raises:
        UserError: If a state is not one of :data:`STATES`.
    """
    unknown = sorted(set(states) - set(STATES))
    if unknown:
        raise UserError(f"unknown action state {unknown[0]!r}; states: {', '.join(STATES)}")
    with workspace.unit() as unit:
        return unit.repository(ActionRepository).list(workload=workload, states=states)


__all__ = [
    "STATES",
    "Serving",
    "actions",
    "approval_of",
    "controls",
    "decide",
    "expire",
    "release",
    "served_model",
    "serving",
    "take",
]
