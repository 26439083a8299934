"""Lineage and the registry as users drive them: the real OpenLineage client over HTTP, the CLI."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import column_lineage_dataset as cl
from openlineage.client.serde import Serde
from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport
from test_cli import keel

from keel.lineage.openlineage import parse_event
from keel.service import lineage
from live_server import keel_serve


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    """A workspace with the demo estate applied."""
    assert keel("init", "estate", cwd=tmp_path).returncode == 0
    applied = keel("apply", "-f", "estate", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    return tmp_path


@pytest.fixture
def server(estate: Path) -> Iterator[tuple[str, str]]:
    """``keel serve`` as a real process on loopback, and an operator's API key."""
    key = keel("token", "create", "--name", "pipelines", "--role", "operator", cwd=estate)
    assert key.returncode == 0, key.stderr
    with keel_serve(estate) as url:
        yield url, key.stdout.strip()


def _client_event(run_id: str, state: RunState = RunState.COMPLETE) -> RunEvent:
    column = cl.ColumnLineageDatasetFacet(
        fields={
            "income_band": cl.Fields(
                inputFields=[
                    cl.InputField(namespace="keel", name="eu-customer-profiles", field="income")
                ],
                transformationType="",
                transformationDescription="",
            )
        }
    )
    return RunEvent(
        eventType=state,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=run_id),
        job=Job(namespace="spark-prod", name="credit.features.build"),
        producer="https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/spark",
        inputs=[InputDataset(namespace="keel", name="eu-customer-profiles")],
        outputs=[
            OutputDataset(
                namespace="keel", name="credit-features", facets={"columnLineage": column}
            )
        ],
    )


def test_the_openlineage_client_sends_events_keel_stores_and_answers_about(
    server: tuple[str, str],
) -> None:
    url, key = server
    auth = ApiKeyTokenProvider({"apiKey": key})  # the client's own API-key auth: a bearer token
    client = OpenLineageClient(transport=HttpTransport(HttpConfig(url=url, timeout=10, auth=auth)))
    api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"})
    run_id = str(uuid.uuid4())
    client.emit(_client_event(run_id, RunState.START))
    client.emit(_client_event(run_id))
    shown = api.get(
        "/v1/lineage/show",
        params={"node": "dataset:credit-features", "direction": "upstream", "depth": 2},
    ).json()
    assert shown["root"]["origin"] == "openlineage"
    lineage_facet = shown["root"]["facets"]["columnLineage"]["fields"]["income_band"]
    assert lineage_facet["inputFields"][0]["field"] == "income"
    assert {
        "from": "dataset:eu-customer-profiles",
        "to": "job:spark-prod/credit.features.build",
        "kind": "input",
    } in shown["edges"]
    impact = api.get("/v1/lineage/impact", params={"node": "dataset:eu-customer-profiles"}).json()
    assert impact["derived_datasets"] == ["dataset:credit-features"]
    assert "credit-scoring@3.1" in impact["model_versions"]


def test_bad_input_over_http_gets_a_clear_error_and_stores_nothing(
    server: tuple[str, str],
) -> None:
    base, key = server
    anonymous = httpx.post(f"{base}/api/v1/lineage", json={})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "E-AUTH"
    http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"})
    url = "/api/v1/lineage"
    event = Serde.to_dict(_client_event(str(uuid.uuid4())))
    broken = {**event, "run": {"runId": "run-1"}}
    answer = http.post(url, json=[event, broken])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "E-EVENT" and error["index"] == 1
    assert error["path"] == "$.run.runId" and error["schema_path"].endswith("/format")
    missing = http.get("/v1/lineage/show", params={"node": "dataset:credit-features"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "E-NOT-FOUND"
    assert http.post(url, content=b"{not json").json()["error"]["code"] == "E-EVENT"
    huge = http.post(url, content=b" " * (16 * 1024 * 1024 + 1))
    assert huge.status_code == 413
    assert http.post(url, json=event).json() == {"accepted": 1, "duplicates": 0, "external": []}
    assert http.post(url, json=event).json()["duplicates"] == 1
    bad_depth = http.get(
        "/v1/lineage/show", params={"node": "dataset:credit-features", "depth": -1}
    )
    assert bad_depth.status_code == 422


def test_cli_ingest_show_impact_erase(estate: Path, tmp_path: Path) -> None:
    events = lineage.demo_events()
    bad = tmp_path / "bad.jsonl"
    lines = events.read_text().splitlines()
    bad.write_text(lines[0] + "\n" + lines[1].replace('"COMPLETE"', '"DONE"') + "\n")
    refused = keel("lineage", "ingest", str(bad), cwd=estate)
    assert refused.returncode == 2
    assert "event 1: $.eventType" in refused.stderr and "E-EVENT" in refused.stderr
    assert keel("lineage", "show", "job:credit.features.build", cwd=estate).returncode == 2
    stored = keel("lineage", "ingest", str(events), cwd=estate)
    assert stored.returncode == 0, stored.stderr
    assert "5 events stored, 1 already known" in stored.stdout
    up = keel(
        "lineage",
        "show",
        "model:credit-scoring@3.2",
        "--upstream",
        "--depth",
        "3",
        "-o",
        "json",
        cwd=estate,
    )
    names = {(n["kind"], n["name"]) for n in json.loads(up.stdout)["nodes"]}
    assert ("dataset", "credit-features") in names and ("job", "credit.features.build") in names
    assert keel("plan", cwd=estate).returncode == 0
    impact = json.loads(
        keel("lineage", "impact", "dataset:eu-customer-profiles", "-o", "json", cwd=estate).stdout
    )
    assert "credit-decision-api" in impact["workloads"]
    assert "credit-decision-api" in {p["workload"] for p in impact["placements"]}
    assert impact["next_page"] is None
    first = keel("lineage", "impact", "dataset:eu-customer-profiles", "--limit", "1", cwd=estate)
    assert first.returncode == 0 and "more: the next page is --page " in first.stdout
    cursor = first.stdout.rsplit("--page ", 1)[1].strip()
    second = keel(
        "lineage", "impact", "dataset:eu-customer-profiles", "--page", cursor, "--limit", "1",
        "-o", "json", cwd=estate,
    )  # fmt: skip
    page = json.loads(second.stdout)
    assert len(page["derived_datasets"] + page["model_versions"] + page["workloads"]) == 1
    bad = keel("lineage", "impact", "dataset:eu-customer-profiles", "--page", "abc", cwd=estate)
    assert bad.returncode == 2 and "not a cursor" in bad.stderr
    erased = keel(
        "lineage",
        "erase",
        "dataset:call-centre-transcripts",
        "--reason",
        "Art. 17",
        "-o",
        "json",
        cwd=estate,
    )
    assert erased.returncode == 0, erased.stderr
    done = json.loads(erased.stdout)
    assert done["retrain"] == ["aurelia-assistant-70b@1.1"]
    entry = json.loads(
        keel(
            "ledger", "show", "--from", str(done["ledger_index"]), "--limit", "1", cwd=estate
        ).stdout.splitlines()[0]
    )
    assert entry["entry"]["type"] == "lineage.erased"
    assert entry["personal"]["reason"] == "Art. 17"
    assert keel("lineage", "show", "dataset:nowhere", cwd=estate).returncode == 2
    assert keel("lineage", "show", "table:x", cwd=estate).returncode == 2


def test_model_lifecycle_from_the_cli(estate: Path, tmp_path: Path) -> None:
    ref = "credit-scoring@3.2"
    assert (
        keel(
            "model",
            "evaluate",
            ref,
            "--as",
            "user:bob",
            "--benchmark",
            "auc=0.83",
            "--probe",
            "membership-inference=pass",
            cwd=estate,
        ).returncode
        == 0
    )
    malformed = keel("model", "evaluate", ref, "--as", "user:bob", "--probe", "x=maybe", cwd=estate)
    assert malformed.returncode == 2 and "NAME=pass|fail" in malformed.stderr
    assert (
        keel(
            "model", "promote", ref, "--to", "validated", "--as", "user:bob", cwd=estate
        ).returncode
        == 0
    )
    refused = keel("model", "approve", ref, "--as", "user:alice", cwd=estate)
    assert refused.returncode == 2 and "E-FORBIDDEN" in refused.stderr
    assert "sod.no_self_approval" in refused.stderr
    assert keel("model", "approve", ref, "--as", "user:erin", cwd=estate).returncode == 0
    last = keel("model", "approve", ref, "--as", "user:farid", cwd=estate)
    assert "now approved" in last.stdout
    shown = json.loads(keel("model", "show", ref, "-o", "json", cwd=estate).stdout)
    assert shown["state"] == "approved" and shown["approvers"] == ["user:erin", "user:farid"]
    for fmt, marker in (
        ("md", "# Fact sheet"),
        ("html", "<!doctype html>"),
        ("json", '"lifecycle"'),
    ):
        out = tmp_path / f"sheet.{fmt}"
        made = keel("model", "factsheet", ref, "-o", fmt, "--file", str(out), cwd=estate)
        assert made.returncode == 0, made.stderr
        assert marker in out.read_text()
    sheet = json.loads((tmp_path / "sheet.json").read_text())
    assert all(row[5].startswith("verified") for row in sheet["lifecycle"]["table"])


def test_keel_emits_openlineage_for_its_own_runs(estate: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "events.jsonl"
    env = {"KEEL_LINEAGE_EMIT": f"file:{target}"}
    assert keel("plan", cwd=estate, env=env).returncode == 0
    extra = tmp_path / "v.yaml"
    extra.write_text(
        "kind: Model\nname: doc-embedder\nspec:\n  risk_tier: minimal\n"
        "  purpose: Embeddings for internal document search\n  owner: ai-platform\n"
        "  versions:\n    - {version: '2.0', parameters_billion: 0.35, state: deployed,"
        " trained_on: [internal-docs-corpus]}\n"
        "    - {version: '2.1', parameters_billion: 0.35, trained_on: [internal-docs-corpus]}\n"
    )
    assert keel("apply", "-f", str(extra), cwd=estate, env=env).returncode == 0
    events = [parse_event(json.loads(line)) for line in target.read_text().splitlines()]
    plan, registered = events
    assert plan.job == ("keel", "keel.plan")
    placements = plan.run_facets["keel_placement"]["placements"]
    assert {"workload", "site", "pool", "devices"} <= set(placements[0])
    assert registered.job == ("keel", "keel.train.doc-embedder")
    assert [(o.namespace, o.name) for o in registered.outputs] == [
        ("keel.models", "doc-embedder@2.1")
    ]
    bad = keel("plan", cwd=estate, env={"KEEL_LINEAGE_EMIT": "ftp://x"})
    assert bad.returncode == 2 and "E-CONFIG" in bad.stderr
