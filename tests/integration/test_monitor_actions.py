"""Monitors that correct: rollback, replan, pause and notify, their approvals and the ledger,
on SQLite and PostgreSQL; the runtime serves the rolled-back version (real local processes)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from dispatch_estate import cluster, python, workload, write
from keel.errors import ForbiddenError, LifecycleError, ManifestError, NotFoundError, UserError
from keel.estate import demo_manifest_files
from keel.service import Workspace, apply_manifests, corrections, ledger, monitoring, planning
from keel.service import dispatch as dispatching
from keel.service.actor import Actor
from keel.store.registry import RegistryRepository

SYSTEM = Actor.system("tests")
CI = Actor("service_account:ci-pipeline")
"""The demo's pipeline: an operator that runs monitors and may not approve."""
ERIN = Actor("user:erin")
"""An approver."""
MONITOR = "credit-decision-health"
WORKLOAD = "credit-decision-api"


def demo(folder: Path, actions: str | None = None) -> Path:
    """The demo estate, with the monitor's ``actions:`` block replaced when given."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, original in demo_manifest_files():
        text = original
        if actions is not None and name == "monitors.yaml":
            head, _, _ = original.partition("  actions:\n")
            text = head + "  actions:\n" + actions
        (folder / name).write_text(text, encoding="utf-8")
    monitoring.write_demo_windows(folder / "data")
    return folder


def drift(ws: Workspace, folder: Path, *, now: datetime | None = None) -> monitoring.MonitorRun:
    monitoring.write_demo_windows(folder / "data", drifted=True)
    (run,) = monitoring.run_monitors(ws, [MONITOR], actor=CI, now=now)
    return run


def entries(ws: Workspace, kind: str) -> list[dict]:
    return [e.entry for e in ledger.show(ws, 0, 10_000) if e.entry["type"] == kind]


def test_a_rollback_waits_for_an_approver_then_serves_the_previous_approved_version(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = demo(tmp_path / "estate")
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    run = drift(workspace, folder)
    (action,) = run.actions
    assert (action.action, action.state, action.approval) == ("rollback", "pending", "before")
    assert action.alert_id == run.alert_ids["drift"]
    assert action.conditions == ["drift", "performance:roc_auc"]
    # Nothing changed yet: the rollback waits for an approver.
    assert corrections.serving(workspace, WORKLOAD).model == "credit-scoring@3.1"
    (asked,) = entries(workspace, "monitor.action")
    assert asked["state"] == "pending" and asked["alert_id"] == run.alert_ids["drift"]

    # The pipeline that ran the monitor is no approver: refused, and the refusal is recorded.
    with pytest.raises(ForbiddenError):
        corrections.decide(workspace, action.id, approve=True, actor=CI)
    denied = entries(workspace, "access.denied")[-1]
    assert denied["action"] == "approve" and denied["resource"] == f"Workload/{WORKLOAD}"

    done = corrections.decide(workspace, action.id, approve=True, reason="confirmed", actor=ERIN)
    assert done.state == "applied" and done.decided_by == "user:erin"
    assert done.detail["from_model"] == "credit-scoring@3.1"
    assert done.detail["to_model"] == "credit-scoring@3.0"
    served = corrections.serving(workspace, WORKLOAD)
    assert (served.model, served.manifest_model) == ("credit-scoring@3.0", "credit-scoring@3.1")
    assert served.rollback_action == action.id
    applied = entries(workspace, "monitor.action")[-1]
    assert applied["state"] == "applied" and applied["by"] == "user:erin"
    assert applied["alert_id"] == action.alert_id and applied["reason"] == "confirmed"
    (moved,) = [e for e in entries(workspace, "model.transitioned") if e["version"] == "3.0"]
    assert (moved["from"], moved["to"]) == ("approved", "deployed")
    with workspace.unit() as unit:
        version = unit.repository(RegistryRepository).version("credit-scoring", "3.0")
    assert version is not None and version.state == "deployed"

    with pytest.raises(LifecycleError, match="is applied: nothing to decide"):
        corrections.decide(workspace, action.id, approve=False, reason="late", actor=ERIN)
    with pytest.raises(NotFoundError):
        corrections.decide(workspace, 999, approve=True, actor=ERIN)

    # Pointing the manifest at another version ends the rollback; so does a release.
    released = corrections.release(workspace, WORKLOAD, reason="3.1 fixed", actor=ERIN)
    assert released.model == "credit-scoring@3.1" and released.rollback_action is None
    (entry,) = entries(workspace, "workload.released")
    assert entry["served"] == "credit-scoring@3.0" and entry["rollback_action"] == action.id
    with pytest.raises(LifecycleError, match="follows its manifest"):
        corrections.release(workspace, WORKLOAD, reason="again", actor=ERIN)
    assert ledger.verify(workspace).size > 0


def test_whoever_ran_the_monitor_may_not_decide_its_actions(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = demo(tmp_path / "estate")
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    monitoring.write_demo_windows(folder / "data", drifted=True)
    (run,) = monitoring.run_monitors(workspace, [MONITOR], actor=ERIN)
    (action,) = run.actions
    with pytest.raises(LifecycleError, match="separation of duties"):
        corrections.decide(workspace, action.id, approve=True, actor=ERIN)
    assert corrections.actions(workspace)[0].state == "pending"
    farid = Actor("user:farid")
    done = corrections.decide(workspace, action.id, approve=False, reason="noise", actor=farid)
    assert done.state == "rejected"
    assert corrections.serving(workspace, WORKLOAD).model == "credit-scoring@3.1"


def test_approval_after_takes_effect_at_once_goes_overdue_and_reverts_on_rejection(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = demo(
        tmp_path / "estate",
        "    - {do: rollback, when: [drift], approval: after, grace_minutes: 30}\n",
    )
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    now = datetime.now(UTC)
    (action,) = drift(workspace, folder, now=now).actions
    assert action.state == "provisional" and action.due_at == now + timedelta(minutes=30)
    assert corrections.serving(workspace, WORKLOAD).model == "credit-scoring@3.0"

    monitoring.write_demo_windows(folder / "data", drifted=False)
    monitoring.run_monitors(workspace, [MONITOR], actor=CI, now=now + timedelta(minutes=29))
    assert corrections.actions(workspace)[0].state == "provisional"
    monitoring.run_monitors(workspace, [MONITOR], actor=CI, now=now + timedelta(minutes=31))
    late = corrections.actions(workspace)[0]
    assert late.state == "overdue"  # and still in effect
    assert corrections.serving(workspace, WORKLOAD).model == "credit-scoring@3.0"
    assert [e["state"] for e in entries(workspace, "monitor.action")] == ["provisional", "overdue"]

    undone = corrections.decide(workspace, action.id, approve=False, reason="bad call", actor=ERIN)
    assert undone.state == "reverted"
    assert corrections.serving(workspace, WORKLOAD).model == "credit-scoring@3.1"
    assert entries(workspace, "monitor.action")[-1]["state"] == "reverted"


def test_a_high_risk_model_may_not_roll_back_or_pause_without_an_approver(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = demo(
        tmp_path / "estate",
        "    - {do: rollback, when: [drift], approval: none}\n"
        "    - {do: pause, when: [errors], approval: none}\n"
        "    - {do: notify, when: [latency], approval: none}\n",
    )
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    fields = sorted(p.field for p in caught.value.problems)
    assert fields == ["spec.actions[0].approval", "spec.actions[1].approval"]
    assert "high-risk model: an automatic rollback needs an approver" in str(caught.value.problems)


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        ("    - {do: rollback, when: [drfit]}\n", "spec.actions[0].when[0]"),
        ("    - {do: pause, when: [drift], url: 'http://x'}\n", "url is for notify actions only"),
        ("    - {do: reboot, when: [drift]}\n", "spec.actions[0].do"),
        ("    - {do: notify, when: []}\n", "spec.actions[0].when"),
    ],
)
def test_malformed_actions_are_refused_with_their_place(
    workspace: Workspace, tmp_path: Path, actions: str, message: str
) -> None:
    folder = demo(tmp_path / "estate", actions)
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    assert message in str(caught.value.problems)


def test_a_rollback_with_no_earlier_approved_version_fails_and_changes_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = demo(tmp_path / "estate", "    - {do: rollback, when: [drift], approval: after}\n")
    models = folder / "models.yaml"
    text = models.read_text()
    start = text.index('    - {version: "3.0"')
    models.write_text(text[:start] + text[text.index('    - {version: "3.1"') :])
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    (action,) = drift(workspace, folder).actions
    assert action.state == "failed"
    assert "no earlier approved or deployed version" in action.detail["message"]
    assert corrections.serving(workspace, WORKLOAD).model == "credit-scoring@3.1"
    assert entries(workspace, "monitor.action")[-1]["state"] == "failed"


@pytest.fixture
def received() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A real HTTP server on loopback that records what a notify action POSTs."""
    bodies: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/page", bodies
    finally:
        server.shutdown()


def test_notify_and_replan_act_at_once_and_a_dead_webhook_fails_the_action(
    workspace: Workspace, tmp_path: Path, received: tuple[str, list[dict[str, object]]]
) -> None:
    url, bodies = received
    folder = demo(
        tmp_path / "estate",
        f"    - {{do: notify, when: [latency], url: '{url}'}}\n"
        "    - {do: notify, when: [errors], url: 'http://127.0.0.1:9/closed'}\n"
        "    - {do: replan, when: [drift]}\n",
    )
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    first, _ = planning.commit_plan(workspace, planning.compute_plan(workspace), actor=SYSTEM)
    notified, dead, replanned = drift(workspace, folder).actions
    assert notified.state == "applied"
    (body,) = bodies
    assert body["action_id"] == notified.id and body["conditions"] == ["latency:p99"]
    assert dead.state == "failed" and "webhook at http://127.0.0.1:9" in dead.detail["message"]
    # A webhook's path or query often holds its secret: never in the message or the ledger.
    assert "/closed" not in dead.detail["message"]
    recorded = json.dumps(entries(workspace, "monitor.action"))
    assert "/closed" not in recorded and "/page" not in recorded
    assert '"webhook": "http://127.0.0.1:9"' in recorded
    assert replanned.state == "applied" and replanned.detail["plan_id"] > first
    committed = entries(workspace, "plan.committed")[-1]
    assert committed["plan_id"] == replanned.detail["plan_id"]


def test_listing_refuses_unknown_states(workspace: Workspace) -> None:
    with pytest.raises(UserError, match="unknown action state 'done'"):
        corrections.actions(workspace, states=("done",))


# -- the runtime -------------------------------------------------------------------------------
MONITORED = """\
---
kind: Monitor
name: svc-health
spec:
  workload: svc
  reference: data/credit-decision-reference.parquet
  current: data/credit-decision-current.parquet
  actions:
"""


def _estate(folder: Path, marker: Path, actions: str, *, replicas: int = 1) -> None:
    service = workload(
        "svc",
        python(
            f"import os, time\nopen({str(marker)!r}, 'a').write(os.environ['KEEL_MODEL'] + '\\n')"
            "\nwhile True: time.sleep(0.2)"
        ),
        kind="online_inference",
        replicas=replicas,
    )
    service["spec"]["model"] = "m@2"  # type: ignore[index]
    path = write(folder, cluster(), service)
    text = path.read_text().replace(
        'versions: [{version: "1", parameters_billion: 1, state: approved}]',
        'versions: [{version: "1", parameters_billion: 1, state: approved},'
        ' {version: "2", parameters_billion: 1, state: approved}]',
    )
    path.write_text(text + MONITORED + actions)
    monitoring.write_demo_windows(folder / "data")


def _wait_for(marker: Path, lines: int) -> list[str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = marker.read_text().splitlines() if marker.exists() else []
        if len(found) >= lines:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{marker} has fewer than {lines} lines")


def _apply_and_commit(workspace: Workspace, folder: Path) -> None:
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    planning.commit_plan(workspace, planning.compute_plan(workspace), actor=SYSTEM)


def _monitor_drifted(ws: Workspace, folder: Path) -> list[corrections.StoredAction]:
    monitoring.write_demo_windows(folder / "data", drifted=True)
    (run,) = monitoring.run_monitors(ws, ["svc-health"], actor=SYSTEM)
    return run.actions


def test_a_rollback_restarts_the_service_with_the_previous_version(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder, marker = tmp_path / "estate", tmp_path / "served.txt"
    _estate(folder, marker, "    - {do: rollback, when: [drift], approval: none}\n")
    _apply_and_commit(workspace, folder)
    try:
        dispatching.dispatch(workspace, actor=SYSTEM)
        assert _wait_for(marker, 1) == ["m@2"]
        (action,) = _monitor_drifted(workspace, folder)
        assert action.state == "applied" and action.detail["to_model"] == "m@1"
        moved = dispatching.dispatch(workspace, actor=SYSTEM)
        changes = [(a.action, a.detail) for a in moved.actions if a.action != "update"]
        assert sorted(a for a, _ in changes) == ["cancel", "submit"]
        assert _wait_for(marker, 2) == ["m@2", "m@1"]
        again = dispatching.dispatch(workspace, actor=SYSTEM)
        assert [a for a in again.actions if a.action in ("cancel", "submit")] == []
    finally:
        dispatching.cancel(workspace, None, actor=SYSTEM)


def test_a_pause_starts_nothing_new_and_leaves_running_work_alone(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder, marker = tmp_path / "estate", tmp_path / "served.txt"
    _estate(folder, marker, "    - {do: pause, when: [drift]}\n")
    _apply_and_commit(workspace, folder)
    try:
        dispatching.dispatch(workspace, actor=SYSTEM)
        _wait_for(marker, 1)
        (action,) = _monitor_drifted(workspace, folder)
        assert action.state == "applied"
        assert corrections.serving(workspace, "svc").paused_by_action == action.id
        # Scaled to two replicas: the running one stays, the new one waits for a release.
        _estate(folder, marker, "    - {do: pause, when: [drift]}\n", replicas=2)
        _apply_and_commit(workspace, folder)
        paused = dispatching.dispatch(workspace, actor=SYSTEM)
        assert [a.action for a in paused.actions if a.action in ("cancel", "submit")] == []
        (waiting,) = paused.undispatchable
        assert waiting.reason == f"paused by monitor action {action.id}" and waiting.replicas == 1
        assert paused.states.get("running", 0) + paused.states.get("pending", 0) == 1
        corrections.release(workspace, "svc", reason="checked", actor=SYSTEM)
        resumed = dispatching.dispatch(workspace, actor=SYSTEM)
        assert [a.action for a in resumed.actions if a.action == "submit"] == ["submit"]
        assert _wait_for(marker, 2) == ["m@2", "m@2"]
    finally:
        dispatching.cancel(workspace, None, actor=SYSTEM)


def test_an_action_left_acting_by_a_stopped_keel_is_marked_failed(
    workspace: Workspace, tmp_path: Path
) -> None:
    from keel.store.actions import ActionRepository

    folder = demo(tmp_path / "estate", "    - {do: replan, when: [drift]}\n")
    _apply_and_commit(workspace, folder)
    (action,) = drift(workspace, folder).actions
    with workspace.unit(write=True) as unit:  # as if Keel had stopped mid-way
        unit.repository(ActionRepository).update(
            replace(action, state="acting", updated_at=action.updated_at)
        )
    later = action.updated_at + corrections.ACTING_TIMEOUT
    assert corrections.expire(workspace, actor=CI, now=later) == []  # not yet
    assert corrections.expire(workspace, actor=CI, now=later + timedelta(seconds=1)) == [action.id]
    (failed,) = corrections.actions(workspace)
    assert failed.state == "failed" and "interrupted" in failed.detail["message"]
    assert entries(workspace, "monitor.action")[-1]["state"] == "failed"


def test_the_action_list_shows_only_workloads_the_caller_may_read(
    workspace: Workspace, tmp_path: Path
) -> None:
    from keel.service.operations import LocalOperations

    folder = demo(tmp_path / "estate")
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    (action,) = drift(workspace, folder).actions
    everyone = LocalOperations(workspace, actor=SYSTEM, visible=lambda rs: [True] * len(rs))
    assert [a.id for a in everyone.monitor_actions().actions] == [action.id]
    hidden = LocalOperations(
        workspace, actor=SYSTEM, visible=lambda rs: [r != f"Workload/{WORKLOAD}" for r in rs]
    )
    assert hidden.monitor_actions().actions == []


@pytest.mark.parametrize("action_id", [0, -1, 2**31, 10**30])
def test_an_action_id_out_of_range_is_not_found(workspace: Workspace, action_id: int) -> None:
    with pytest.raises(NotFoundError, match=f"monitor action {action_id} does not exist"):
        corrections.decide(workspace, action_id, approve=True, actor=ERIN)


def test_two_approvers_deciding_at_once_carry_an_action_out_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = demo(tmp_path / "estate")
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    (action,) = drift(workspace, folder).actions
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def decide(who: str) -> None:
        start.wait()
        try:
            corrections.decide(workspace, action.id, approve=True, actor=Actor(who))
            outcomes.append("applied")
        except LifecycleError as error:
            outcomes.append(error.message)

    threads = [threading.Thread(target=decide, args=(w,)) for w in ("user:erin", "user:farid")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("applied") == 1, outcomes
    (other,) = [o for o in outcomes if o != "applied"]
    assert "nothing to decide" in other or "decided meanwhile" in other
    states = [e["state"] for e in entries(workspace, "monitor.action")]
    assert states == ["pending", "applied"]
    assert corrections.serving(workspace, WORKLOAD).model == "credit-scoring@3.0"
