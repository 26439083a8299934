"""/v1/dispatch and /v1/runs over HTTP: who may do what, bad input, what lists reveal."""

from __future__ import annotations

import pytest

from conftest import Server
from keel.service import Workspace
from keel.service.operations import LocalOperations


def test_a_viewer_reads_runs_but_neither_dispatches_nor_reads_logs(server: Server) -> None:
    with server.client("viewer") as viewer:
        listed = viewer.get("/v1/runs", params={"all": "true"})
        assert listed.status_code == 200
        runs = listed.json()["runs"]
        assert {r["state"] for r in runs} >= {"succeeded", "cancelled"}
        assert all(r["decision_index"] is not None for r in runs)
        for method, path, body in (
            ("POST", "/v1/dispatch", {}),
            ("POST", "/v1/runs/cancel", {}),
            ("GET", "/v1/runs/nightly-aml-scoring/logs", None),
        ):
            refused = viewer.request(method, path, json=body)
            assert refused.status_code == 403, path
            assert refused.json()["error"]["code"] == "E-FORBIDDEN"


def test_an_operator_reads_logs_and_may_not_dispatch_to_a_local_cluster(server: Server) -> None:
    with server.client("operator") as operator:
        logs = operator.get("/v1/runs/nightly-aml-scoring/logs")
        assert logs.status_code == 200
        assert "bytes of synthetic input at fra-dc1" in logs.json()["text"]
        before = operator.get("/v1/runs", params={"all": "true"}).json()
        refused = operator.post("/v1/dispatch", json={})
        assert refused.status_code == 403
        assert "Cluster/workstation is local" in refused.json()["error"]["message"]
        assert operator.get("/v1/runs", params={"all": "true"}).json() == before
        dry = operator.post("/v1/dispatch", json={"dry_run": True})
        assert dry.status_code == 200 and dry.json()["dry_run"] is True
        assert operator.get("/v1/runs", params={"all": "true"}).json() == before


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/v1/runs?workload=Not%20A%20Name", None, 422),
        ("GET", "/v1/runs/nightly-aml-scoring/logs?replica=-1", None, 422),
        ("GET", "/v1/runs/no-such-workload/logs", None, 404),
        ("POST", "/v1/dispatch", {"dry_run": True, "force": True}, 422),
        ("POST", "/v1/runs/cancel", {"workload": "../etc"}, 422),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    server: Server, method: str, path: str, body: object, status: int
) -> None:
    with server.client("admin") as admin:
        before = admin.get("/v1/runs", params={"all": "true"}).json()
        answer = admin.request(method, path, json=body)
        assert answer.status_code == status, answer.text
        assert admin.get("/v1/runs", params={"all": "true"}).json() == before


def test_runs_of_workloads_the_caller_may_not_read_are_left_out(server: Server) -> None:
    workspace = Workspace.open(server.root)
    try:
        hidden = "Workload/nightly-aml-scoring"
        ops = LocalOperations(workspace, visible=lambda names: [n != hidden for n in names])
        shown = ops.runs(every=True)
        everything = LocalOperations(workspace).runs(every=True)
        assert "nightly-aml-scoring" in {r.workload for r in everything.runs}
        assert "nightly-aml-scoring" not in {r.workload for r in shown.runs}
        assert sum(shown.states.values()) == len(shown.runs) == len(everything.runs) - 1
    finally:
        workspace.close()
