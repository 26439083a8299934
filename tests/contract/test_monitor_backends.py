"""Monitors on each store backend: checks, deduplicated alerts, the ledger, webhooks, metrics."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from keel.errors import ManifestError, NotFoundError
from keel.estate import demo_manifest_files
from keel.service import Workspace, apply_manifests, ledger, monitoring
from keel.service.actor import Actor

SYSTEM = Actor.system("tests")
"""Trusted: these tests exercise the store, not access control."""


@pytest.fixture
def received() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """A real HTTP server on loopback that records what webhooks POST."""
    bodies: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", bodies
    finally:
        server.shutdown()


def demo(folder: Path, webhook: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, original in demo_manifest_files():
        text = original
        if webhook and name == "monitors.yaml":
            text = text.replace(
                "    - {type: log}",
                f"    - {{type: log}}\n    - {{type: webhook, url: '{webhook}'}}",
            )
        (folder / name).write_text(text, encoding="utf-8")
    monitoring.write_demo_windows(folder / "data")
    return folder


def test_alerts_are_raised_once_deduplicated_and_resolved(
    workspace: Workspace, tmp_path: Path, received: tuple[str, list[dict[str, object]]]
) -> None:
    url, bodies = received
    folder = demo(tmp_path / "estate", webhook=url)
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)

    (first,) = monitoring.run_monitors(workspace, now=now, actor=SYSTEM)
    assert first.result.status == "ok" and first.raised == [] and bodies == []

    monitoring.write_demo_windows(folder / "data", drifted=True)
    (second,) = monitoring.run_monitors(workspace, now=now + timedelta(minutes=15), actor=SYSTEM)
    expected = {"drift", "performance:roc_auc", "latency:p99", "errors"}
    assert set(second.raised) == expected and second.delivery_errors == []
    (third,) = monitoring.run_monitors(workspace, now=now + timedelta(minutes=30), actor=SYSTEM)
    assert third.raised == [] and set(third.still_firing) == expected  # no second notification
    assert len(bodies) == 1 and {r["condition"] for r in bodies[0]["raised"]} == expected  # type: ignore[union-attr]
    firing = monitoring.alerts(workspace)
    assert {a.condition for a in firing} == expected and {a.checks for a in firing} == {2}

    monitoring.write_demo_windows(folder / "data", drifted=False)
    (fourth,) = monitoring.run_monitors(workspace, now=now + timedelta(minutes=45), actor=SYSTEM)
    assert set(fourth.resolved) == expected
    assert monitoring.alerts(workspace) == []
    assert len(bodies) == 2 and set(bodies[1]["resolved"]) == expected  # type: ignore[arg-type]

    # Every check and alert transition is in the ledger, with the sketch's digest.
    entries = [e.entry for e in ledger.show(workspace, 0, 10_000)]
    kinds = [e["type"] for e in entries if e["type"].startswith(("monitor.", "alert."))]
    assert kinds.count("monitor.checked") == 4
    assert kinds.count("alert.raised") == 4 and kinds.count("alert.resolved") == 4
    checked = [e for e in entries if e["type"] == "monitor.checked"]
    assert {e["reference_digest"] for e in checked} == {first.result.reference_digest}
    assert ledger.verify(workspace).size == len(entries)
    log = (workspace.settings.state_dir / "alerts.log").read_text().splitlines()
    assert len(log) == 2


def test_due_only_respects_the_interval_and_metrics_export(
    workspace: Workspace, tmp_path: Path
) -> None:
    apply_manifests(workspace, [str(demo(tmp_path / "estate"))], actor=SYSTEM)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert len(monitoring.run_monitors(workspace, due_only=True, now=now, actor=SYSTEM)) == 1
    assert (
        monitoring.run_monitors(
            workspace, due_only=True, now=now + timedelta(minutes=5), actor=SYSTEM
        )
        == []
    )
    assert (
        len(
            monitoring.run_monitors(
                workspace, due_only=True, now=now + timedelta(minutes=15), actor=SYSTEM
            )
        )
        == 1
    )
    text = monitoring.metrics_text(workspace)
    assert 'keel_monitor_firing{monitor="credit-decision-health"} 0.0' in text
    assert (
        'keel_monitor_column_drift{column="income",method="psi",monitor="credit-decision-health"}'
        in text
    )
    assert 'keel_monitor_metric{metric="serving_p99",monitor="credit-decision-health"}' in text


def test_a_missing_window_fires_instead_of_passing_silently(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = demo(tmp_path / "estate")
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    (folder / "data" / "credit-decision-current.parquet").unlink()
    (run,) = monitoring.run_monitors(workspace, actor=SYSTEM)
    assert run.result.status == "firing"
    keys = {c.key for c in run.result.firing}
    assert keys == {"window:drift", "window:performance", "window:latency"}
    (folder / "data" / "credit-decision-reference.parquet").write_text("not parquet")
    (broken,) = monitoring.run_monitors(workspace, actor=SYSTEM)
    (condition,) = broken.result.firing
    assert condition.key == "reference" and "credit-decision-reference.parquet" in condition.message
    with pytest.raises(NotFoundError, match="did you mean 'credit-decision-health'"):
        monitoring.run_monitors(workspace, ["credit-decision-healt"], actor=SYSTEM)


def test_a_monitor_needs_a_workload_with_an_slo_for_latency(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = demo(tmp_path / "estate")
    text = (
        (folder / "monitors.yaml")
        .read_text()
        .replace("credit-decision-api", "credit-scoring-retrain")
    )
    (folder / "monitors.yaml").write_text(text)
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    latency, rollback = caught.value.problems
    assert latency.resource == rollback.resource == "Monitor/credit-decision-health"
    assert "has no latency_slo_ms" in latency.message
    assert rollback.field == "spec.actions[0].do"  # a training job serves no model to roll back
    assert "credit-scoring-retrain' is training: it serves no model" in rollback.message


@pytest.mark.parametrize(
    "reference", ["/etc/passwd", "../outside.parquet", "data/../../outside.parquet"]
)
def test_monitor_data_must_lie_under_the_manifest_folder(
    workspace: Workspace, tmp_path: Path, reference: str
) -> None:
    """A monitor once read any file the server could (``/etc/passwd``, ``../``)."""
    folder = demo(tmp_path / "estate")
    (tmp_path / "outside.parquet").write_text("secret")
    monitors = folder / "monitors.yaml"
    monitors.write_text(
        monitors.read_text().replace("data/credit-decision-reference.parquet", reference)
    )
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    (problem,) = caught.value.problems
    assert problem.field == "spec.reference" and "lies outside" in problem.message
    assert problem.path == str(monitors) and problem.line == 9
    with workspace.database.read() as conn:
        from keel.store import ResourceRepository

        assert ResourceRepository(conn).revision()[0] == 0  # nothing was stored


def test_a_data_root_admits_monitor_data_elsewhere(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = demo(tmp_path / "estate")
    shared = tmp_path / "shared"
    (folder / "data").rename(shared)
    monitors = folder / "monitors.yaml"
    text = monitors.read_text().replace("data/credit-decision", "../shared/credit-decision")
    monitors.write_text(text)
    monkeypatch.chdir(tmp_path)  # a keel.yaml here is not the workspace's: not read
    ws = Workspace.open(tmp_path / "ws", database_url=database_url)
    try:
        with pytest.raises(ManifestError) as caught:
            apply_manifests(ws, [str(folder)], actor=SYSTEM)
        assert all("lies outside" in p.message for p in caught.value.problems)
    finally:
        ws.close()
    (tmp_path / "keel.yaml").write_text(f"data_root: {shared}\n")
    ws = Workspace.open(tmp_path / "ws", database_url=database_url)
    assert ws.settings.data_root is None
    ws.close()
    (tmp_path / "ws").mkdir(exist_ok=True)
    (tmp_path / "ws" / "keel.yaml").write_text(f"data_root: {shared}\n")
    ws = Workspace.open(tmp_path / "ws", database_url=database_url)
    try:
        assert ws.settings.data_root == shared.resolve()
        apply_manifests(ws, [str(folder)], actor=SYSTEM)
        (run,) = monitoring.run_monitors(ws, actor=SYSTEM)
        assert run.result.rows > 0
    finally:
        ws.close()


def test_policy_module_files_must_lie_under_the_manifest_folder(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "p.yaml").write_text(
        "kind: PolicySet\nname: sneaky\nspec:\n  modules:\n    - {name: m, file: /etc/passwd}\n"
    )
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    (problem,) = caught.value.problems
    assert problem.field == "spec.modules[0].file" and "lies outside" in problem.message
