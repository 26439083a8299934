"""Lineage and the registry on each store backend, through the service layer."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph_reference import distances
from keel.errors import (
    DeniedError,
    EventError,
    ForbiddenError,
    LifecycleError,
    NotFoundError,
    UserError,
)
from keel.estate import demo_manifest_files
from keel.service import (
    Workspace,
    apply_manifests,
    factsheet,
    ledger,
    lineage,
    planning,
    registry,
)
from keel.service.actor import Actor
from keel.store import Database
from keel.store.lineage import LineageRepository, Node
from keel.store.schema import lineage_nodes

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
FACET = {"_producer": "https://example.com/p", "_schemaURL": "https://example.com/s.json"}

SYSTEM = Actor.system("tests")
"""Trusted: these tests exercise the store, not access control."""


def _event(
    job: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]], **facets: Any
) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": "2026-11-27T02:00:00+00:00",
        "producer": "https://example.com/p",
        "schemaURL": SCHEMA_URL,
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "etl", "name": job},
        "inputs": [{"namespace": ns, "name": n} for ns, n in inputs],
        "outputs": [
            {"namespace": ns, "name": n, **({"facets": facets} if facets else {})}
            for ns, n in outputs
        ],
    }


def _ingest(workspace: Workspace, *raws: dict[str, Any]) -> lineage.IngestResult:
    return lineage.ingest(workspace, lineage.parse_events(list(raws)))


def _apply_demo(workspace: Workspace) -> None:
    folder = workspace.settings.workspace / "demo"
    folder.mkdir(exist_ok=True)
    for name, text in demo_manifest_files():
        (folder / name).write_text(text, encoding="utf-8")
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)


def test_duplicates_are_stored_once_and_unknown_datasets_become_external(
    workspace: Workspace,
) -> None:
    event = _event(
        "build",
        [("pg", "raw.customers")],
        [("pg", "features")],
        schema={**FACET, "fields": [{"name": "a", "type": "int"}]},
    )
    first = _ingest(workspace, event, copy.deepcopy(event))
    assert (first.accepted, first.duplicates) == (1, 1)
    assert first.external == ["pg:raw.customers"]
    again = _ingest(workspace, event)
    assert (again.accepted, again.duplicates) == (0, 1)
    view = lineage.show(workspace, "dataset:features", direction="upstream", depth=5)
    labels = {lineage.label(n): n.origin for n, _ in view.nodes}
    assert labels == {
        "dataset:pg/features": "openlineage",
        "job:etl/build": "openlineage",
        "dataset:pg/raw.customers": "external",
    }


def test_a_bad_event_stores_nothing_of_its_batch(workspace: Workspace) -> None:
    good = _event("a", [("pg", "x")], [("pg", "y")])
    bad = _event("b", [("pg", "y")], [("pg", "z")])
    bad["run"]["runId"] = "42"
    with pytest.raises(EventError) as caught:
        _ingest(workspace, good, bad)
    assert caught.value.index == 1 and caught.value.path == "$.run.runId"
    with pytest.raises(NotFoundError):
        lineage.show(workspace, "dataset:x")


def test_facets_merge_and_deleted_facets_go(workspace: Workspace) -> None:
    schema = {**FACET, "fields": [{"name": "a", "type": "int"}]}
    docs = {**FACET, "description": "customers"}
    _ingest(workspace, _event("a", [], [("pg", "t")], schema=schema, documentation=docs))
    _ingest(workspace, _event("b", [], [("pg", "t")], documentation={**FACET, "_deleted": True}))
    view = lineage.show(workspace, "dataset:t", depth=0)
    assert set(view.root.facets) == {"schema"}


def test_impact_follows_derived_data_to_models_workloads_and_placements(
    workspace: Workspace,
) -> None:
    _apply_demo(workspace)
    planning.commit_plan(workspace, planning.compute_plan(workspace), actor=SYSTEM)
    _ingest(
        workspace,
        _event("features", [("keel", "eu-customer-profiles")], [("keel", "credit-features")]),
        # A training run whose output is a registry version links derived data to the model.
        _event("train", [("keel", "credit-features")], [("keel.models", "fraud-detector@7.1")]),
        # A cycle: the walk must end.
        _event("loop", [("keel", "credit-features")], [("keel", "eu-customer-profiles")]),
    )
    found = lineage.impact(workspace, "dataset:eu-customer-profiles")
    assert [lineage.label(d) for d in found.datasets] == ["dataset:credit-features"]
    models = {m.name for m in found.models}
    assert {"credit-scoring@3.1", "credit-scoring@3.2", "fraud-detector@7.1"} <= models
    workloads = {w.name for w in found.workloads}
    assert {"credit-decision-api", "credit-scoring-retrain", "kyc-agent"} <= workloads
    assert "fraud-detector-retrain" not in workloads  # it makes 7.1; it does not use it
    assert {p["workload"] for p in found.placements} <= workloads
    assert "credit-decision-api" in {p["workload"] for p in found.placements}
    shallow = lineage.impact(workspace, "dataset:eu-customer-profiles", depth=1)
    assert "fraud-detector@7.1" not in {m.name for m in shallow.models}
    with pytest.raises(UserError, match="starts at a dataset"):
        lineage.impact(workspace, "model:credit-scoring@3.1")


def _everything(found: lineage.Impact) -> list[Node]:
    return [*found.datasets, *found.models, *found.workloads]


@pytest.mark.parametrize("limit", [1, 3, 7, 100])
def test_impact_pages_add_up_to_the_whole_impact_and_hide_what_the_caller_may_not_read(
    workspace: Workspace, limit: int
) -> None:
    _apply_demo(workspace)
    planning.commit_plan(workspace, planning.compute_plan(workspace), actor=SYSTEM)
    derived = [("keel", "eu-customer-profiles")] + [("keel", f"t{i:02}") for i in range(23)]
    _ingest(
        workspace,
        *(_event(f"copy{i}", [derived[i]], [derived[i + 1]]) for i in range(len(derived) - 1)),
        _event("train", [("keel", "t05")], [("keel.models", "fraud-detector@7.1")]),
        _event("export", [("keel", "t07")], [("warehouse", "t07-copy")]),
    )
    root = "dataset:eu-customer-profiles"
    whole = lineage.impact(workspace, root)
    everything = _everything(whole)
    # Hide every third derived dataset and a model version; other systems' datasets have no
    # resource to hide (resource_of() is None), so the warehouse copy always shows.
    hidden = {n.id for n in everything if n.name.endswith(("0", "3", "6")) or "7.1" in n.name}
    resources = {lineage.resource_of(n): n.id for n in everything}

    def visible(asked: list[str]) -> list[bool]:
        return [resources.get(r) not in hidden for r in asked]

    readable = [n for n in everything if lineage.resource_of(n) is None or n.id not in hidden]
    assert len(everything) - len(readable) >= 6 and "t07-copy" in {n.name for n in readable}
    for shown, expected in ((None, everything), (visible, readable)):
        pages, after = [], 0
        while True:
            page = lineage.impact(workspace, root, page=(after, limit), visible=shown)
            pages.append(_everything(page))
            assert page.truncated is False
            if page.next_after is None:
                break
            assert page.next_after == max(n.id for n in pages[-1])  # a shown node's id
            after = page.next_after
            assert len(pages) < 200
        ids = [n.id for p in pages for n in p]
        assert len(ids) == len(set(ids)), "pages overlap"
        assert sorted(ids) == sorted(n.id for n in expected)
        assert all(len(p) == limit for p in pages[:-1]), "only the last page may be short"
        assert 0 < len(pages[-1]) <= limit or len(expected) == 0
    workloads = {w.name for w in whole.workloads}
    paged = lineage.impact(workspace, root, page=(0, 10_000))
    assert paged.placements == whole.placements and paged.next_after is None
    assert {p["workload"] for p in paged.placements} <= workloads


def test_names_in_several_namespaces_need_one(workspace: Workspace) -> None:
    _ingest(workspace, _event("a", [("pg", "t")], [("s3", "t")]))
    with pytest.raises(UserError, match="several namespaces"):
        lineage.show(workspace, "dataset:t")
    assert lineage.show(workspace, "dataset:t", namespace="s3").root.namespace == "s3"


def test_erasure_blanks_payloads_keeps_the_graph_and_is_in_the_ledger(
    workspace: Workspace,
) -> None:
    _apply_demo(workspace)
    personal = {**FACET, "fields": [{"name": "caller_name", "type": "string"}]}
    _ingest(workspace, _event("redact", [], [("keel", "call-centre-transcripts")], schema=personal))
    done = lineage.erase(
        workspace, "dataset:call-centre-transcripts", "Art. 17 request", actor=SYSTEM
    )
    assert done.retrain == ["aurelia-assistant-70b@1.1"]
    assert done.stop == ["assistant-finetune-callcentre"]
    view = lineage.show(workspace, "dataset:call-centre-transcripts", depth=1)
    assert view.root.facets == {} and view.root.erased_at is not None
    assert [lineage.label(n) for n, d in view.nodes if d == 1]  # edges kept
    # A later event cannot bring the payload back.
    _ingest(
        workspace, _event("redact2", [], [("keel", "call-centre-transcripts")], schema=personal)
    )
    assert lineage.show(workspace, "dataset:call-centre-transcripts", depth=0).root.facets == {}
    (entry,) = ledger.show(workspace, start=done.ledger_index, limit=1)
    assert entry.entry["type"] == "lineage.erased"
    assert entry.entry["retrain"] == ["aurelia-assistant-70b@1.1"]
    with pytest.raises(UserError, match="erased already"):
        lineage.erase(workspace, "dataset:call-centre-transcripts", "again", actor=SYSTEM)


def _approve_flow(workspace: Workspace, ref: str) -> None:
    registry.evaluate(
        workspace,
        ref,
        [
            registry.Evaluation("benchmark", "auc", True, 0.8),
            registry.Evaluation("probe", "membership-inference", True),
        ],
        actor=Actor("user:bob"),
    )
    registry.transition(workspace, ref, "validated", actor=Actor("user:bob"))


def test_high_risk_needs_two_approvers_and_never_the_registrant(workspace: Workspace) -> None:
    _apply_demo(workspace)
    ref = "credit-scoring@3.2"
    with pytest.raises(LifecycleError, match="only a validated version"):
        registry.approve(workspace, ref, actor=Actor("user:erin"))
    registry.evaluate(
        workspace,
        ref,
        [registry.Evaluation("benchmark", "auc", True, 0.8)],
        actor=Actor("user:bob"),
    )
    with pytest.raises(LifecycleError, match="no vulnerability probe"):
        registry.transition(workspace, ref, "validated", actor=Actor("user:bob"))
    _approve_flow(workspace, ref)
    size = ledger.show(workspace, start=0, limit=100_000)[-1].index
    with pytest.raises(ForbiddenError, match=r"sod\.no_self_approval"):
        registry.approve(workspace, ref, actor=Actor("user:alice"))
    denial = ledger.show(workspace, start=size + 1, limit=1)[0].entry
    assert denial["type"] == "access.denied" and denial["principal"] == "user:alice"
    with pytest.raises(ForbiddenError):
        registry.approve(workspace, ref, actor=Actor("user:bob"))  # an operator, not an approver
    assert registry.approve(workspace, ref, actor=Actor("user:erin")).state == "validated"
    with pytest.raises(LifecycleError, match="already approved"):
        registry.approve(workspace, ref, actor=Actor("user:erin"))
    assert registry.approve(workspace, ref, actor=Actor("user:farid")).state == "approved"
    detail = registry.describe(workspace, ref)
    assert detail.approvers == ["user:erin", "user:farid"]
    types = [e.type for e in detail.events]
    assert types == [
        "registered",
        "evaluated",
        "evaluated",
        "evaluated",
        "transitioned",
        "approved",
        "approved",
        "transitioned",
    ]
    entries = {i.index: i.entry for i in ledger.show(workspace, start=0, limit=100_000)}
    for event in detail.events:
        assert entries[event.ledger_index]["type"] == f"model.{event.type}"


def test_a_limited_model_needs_one_approval_and_a_prohibited_one_none(workspace: Workspace) -> None:
    _apply_demo(workspace)
    _approve_flow(workspace, "fraud-detector@7.1")
    assert (
        registry.approve(workspace, "fraud-detector@7.1", actor=Actor("user:erin")).state
        == "approved"
    )
    _approve_flow(workspace, "staff-emotion-monitor@0.9")
    with pytest.raises(LifecycleError, match="prohibited"):
        registry.approve(workspace, "staff-emotion-monitor@0.9", actor=Actor("user:erin"))


def test_serving_a_draft_version_is_refused_and_nothing_is_stored(
    workspace: Workspace, tmp_path: Path
) -> None:
    _apply_demo(workspace)
    manifest = tmp_path / "w.yaml"
    manifest.write_text(
        "kind: Workload\nname: new-scoring\nspec:\n  kind: online_inference\n"
        "  model: fraud-detector@7.1\n  inputs: [eu-card-transactions]\n"
        "  compute: {accelerators: [L4]}\n  serves: [eu-west-users]\n  latency_slo_ms: 200\n"
    )
    with pytest.raises(DeniedError) as caught:
        apply_manifests(workspace, [str(manifest)], actor=SYSTEM)
    (problem,) = caught.value.problems
    assert problem.line == 5 and problem.field == "spec.model" and "draft" in problem.message
    with pytest.raises(NotFoundError):
        lineage.show(workspace, "workload:new-scoring")
    _approve_flow(workspace, "fraud-detector@7.1")
    registry.approve(workspace, "fraud-detector@7.1", actor=Actor("user:erin"))
    apply_manifests(workspace, [str(manifest)], actor=SYSTEM)
    assert registry.describe(workspace, "fraud-detector@7.1").version.state == "deployed"
    with pytest.raises(LifecycleError, match="still used by"):
        registry.transition(workspace, "fraud-detector@7.1", "retired", actor=Actor("user:bob"))


def test_a_high_risk_version_declared_approved_needs_its_approvers(
    workspace: Workspace, tmp_path: Path
) -> None:
    _apply_demo(workspace)
    manifest = tmp_path / "m.yaml"
    text = (
        "kind: Model\nname: credit-scoring\nspec:\n  risk_tier: high\n"
        "  purpose: Creditworthiness scoring for consumer loans in the EU\n"
        "  owner: credit-risk\n  oversight_contact: credit-committee@aurelia.example\n"
        "  risk_assessment: approved\n  logging_enabled: true\n  versions:\n"
        "    - {{version: '3.1', parameters_billion: 0.3}}\n"
        "    - {{version: '3.2', parameters_billion: 0.3, registered_by: alice}}\n"
        "    - {{version: '4.0', parameters_billion: 0.3, state: deployed, registered_by: alice,"
        " approved_by: {approvers}}}\n"
    )
    manifest.write_text(text.format(approvers="[alice, erin]"))
    with pytest.raises(DeniedError) as caught:
        apply_manifests(workspace, [str(manifest)], actor=SYSTEM)
    assert "has 1; refused: alice (not allowed to approve it)" in caught.value.problems[0].message
    manifest.write_text(text.format(approvers="[erin, farid]"))
    apply_manifests(workspace, [str(manifest)], actor=SYSTEM)
    detail = registry.describe(workspace, "credit-scoring@4.0")
    assert detail.version.state == "deployed" and detail.approvers == ["user:erin", "user:farid"]


def test_aliases_and_fact_sheets(workspace: Workspace) -> None:
    _apply_demo(workspace)
    registry.set_alias(workspace, "credit-scoring@3.1", "champion", actor=Actor("user:bob"))
    assert registry.describe(workspace, "credit-scoring@champion").version.version == "3.1"
    with pytest.raises(UserError, match="letters, digits"):
        registry.set_alias(workspace, "credit-scoring@3.1", "3.2", actor=Actor("user:bob"))
    sheet = factsheet.facts(workspace, "credit-scoring@champion")
    assert sheet["purpose"]["Risk tier (EU AI Act)"] == "high"
    assert sheet["oversight"]["Approved by"] == ["user:erin", "user:farid"]
    rows = sheet["lifecycle"]["table"]
    assert [r[1] for r in rows] == ["registered", "approved", "approved", "aliased"]
    assert all(r[5].startswith("verified:") for r in rows)
    # The proofs are real tlog-proof files that verify offline with the log's key.
    keys = [v.encode() for v in ledger.verifiers(workspace)]
    for index, text in sheet["proofs"].items():
        checkpoint, proof = ledger.verify_proof(text, keys)
        assert proof.index == int(index) and checkpoint.size > proof.index
    markdown = factsheet.RENDERERS["md"](sheet)
    assert "| registered |" in markdown and "credit-committee@aurelia.example" in markdown
    page = factsheet.RENDERERS["html"](sheet)
    assert page.startswith("<!doctype html>") and "<script" not in page


def _graph(
    conn: sa.Connection, kinds: list[str], edges: list[tuple[int, int, str]], now: datetime
) -> None:
    """Nodes 1..N of the given kinds and the edges between them, written straight to the store."""
    conn.execute(
        sa.insert(lineage_nodes),
        [
            {
                "id": i + 1,
                "kind": kind,
                "namespace": "prop",
                "name": f"n{i}",
                "origin": "openlineage",
                "facets": {},
                "created_at": now,
                "updated_at": now,
            }
            for i, kind in enumerate(kinds)
        ],
    )
    LineageRepository(conn).add_edges(edges, "openlineage", now)


_graphs = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 30), st.sampled_from(["input", "output"])),
    max_size=120,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edges=_graphs,
    start=st.integers(0, 30),
    forward=st.booleans(),
    depth=st.one_of(st.none(), st.integers(0, 6)),
    cap=st.integers(1, 40),
)
def test_the_database_walk_reaches_what_a_breadth_first_walk_does(
    database: Database,
    *,
    edges: list[tuple[int, int, str]],
    start: int,
    forward: bool,
    depth: int | None,
    cap: int,
) -> None:
    # Random graphs with cycles and self-loops: the recursive statement ends, finds exactly the
    # nodes within the depth, and a cap keeps the nearest and says it cut.
    now = datetime.now(UTC)
    with database.engine.connect() as conn:
        transaction = conn.begin()
        unique = list(dict.fromkeys((s + 1, d + 1, k) for s, d, k in edges))
        _graph(conn, ["dataset"] * 31, unique, now)
        found, truncated = LineageRepository(conn).reach(
            start + 1, downstream=forward, depth=depth, max_nodes=cap, facets=False
        )
        transaction.rollback()
    expected = {
        n: d
        for n, d in distances(unique, start + 1, forward).items()
        if depth is None or d <= depth
    }
    assert start + 1 in found
    if len(expected) <= cap:
        assert set(found) == set(expected) and not truncated
        return
    assert truncated and len(found) == cap and set(found) <= set(expected)
    if depth is not None:  # the nearest are kept
        dropped = set(expected) - set(found)
        assert max(expected[n] for n in found) <= min(expected[n] for n in dropped)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reads=st.lists(st.tuples(st.integers(0, 14), st.integers(15, 29)), max_size=60),
    writes=st.lists(st.tuples(st.integers(15, 29), st.integers(0, 14)), max_size=60),
    start=st.integers(0, 14),
    forward=st.booleans(),
    depth=st.one_of(st.none(), st.integers(0, 6)),
)
def test_a_walk_without_jobs_returns_the_other_nodes_it_reaches(
    database: Database,
    *,
    reads: list[tuple[int, int]],
    writes: list[tuple[int, int]],
    start: int,
    forward: bool,
    depth: int | None,
) -> None:
    # Datasets 1-15 and jobs 16-30, linked as OpenLineage links them: dataset -input-> job
    # -output-> dataset. Leaving jobs out (known by the edge that reached them) keeps the rest.
    now = datetime.now(UTC)
    edges = list(
        dict.fromkeys(
            [(d + 1, j + 1, "input") for d, j in reads]
            + [(j + 1, d + 1, "output") for j, d in writes]
        )
    )
    with database.engine.connect() as conn:
        transaction = conn.begin()
        _graph(conn, ["dataset"] * 15 + ["job"] * 15, edges, now)
        found, truncated = LineageRepository(conn).reach(
            start + 1, downstream=forward, depth=depth, max_nodes=1000, facets=False, jobs=False
        )
        page, _ = LineageRepository(conn).reach(
            start + 1,
            downstream=forward,
            depth=depth,
            max_nodes=1000,
            facets=False,
            jobs=False,
            after=start + 1,
            limit=3,
        )
        transaction.rollback()
    reached = {
        n for n, d in distances(edges, start + 1, forward).items() if depth is None or d <= depth
    }
    assert set(found) == {n for n in reached if n <= 15} and not truncated
    assert all(node.kind == "dataset" for node in found.values())
    assert sorted(page) == sorted(n for n in found if n > start + 1)[:3]
