"""keel capacity simulate and advise on the demo estate: what they print, record and refuse."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from test_cli import keel

from daily_cycle import two_classes, write


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's manifests applied in a fresh workspace."""
    root = tmp_path_factory.mktemp("capacity")
    assert keel("init", "estate", cwd=root).returncode == 0
    applied = keel("apply", "-f", "estate", cwd=root)
    assert applied.returncode == 0, applied.stderr
    return root


def test_simulate_replays_every_usage_on_the_pools_its_workload_may_use(estate: Path) -> None:
    trace = two_classes(estate, 3, seed=1)
    rows = len(trace.read_text().splitlines()) - 1
    found = keel(
        "capacity", "simulate", str(trace), "--like", "web=doc-search-api",
        "--like", "batch=cn-news-sentiment", "-o", "json", cwd=estate,
    )  # fmt: skip
    assert found.returncode == 0, found.stderr
    data = json.loads(found.stdout)
    assert data["usages"] == rows and data["skipped"] == {}
    by_name = {c["name"]: c for c in data["classes"]}
    assert by_name["web"]["kind"] == "service" and by_name["batch"]["kind"] == "job"
    assert sum(c["usages"] for c in data["classes"]) == rows
    # cn-risk-retrain reads restricted Chinese personal data (PIPL, on-premises only): as it,
    # every usage runs in Shanghai's own data centre, though A100s stand idle in Frankfurt.
    only = keel(
        "capacity", "simulate", str(trace), "--like", "*=cn-risk-retrain", "-o", "json",
        cwd=estate,
    )  # fmt: skip
    pools = json.loads(only.stdout)["pools"]
    assert {p["name"] for p in pools if p["device_h"] > 0} == {"sha-dc1/a100"}
    web_and_batch = sum(c["device_h"] for c in data["classes"])
    assert web_and_batch == pytest.approx(sum(p["device_h"] for p in data["pools"]))
    table = keel(
        "capacity", "simulate", str(trace), "--like", "*=doc-search-api", cwd=estate
    ).stdout
    assert "SLO MET" in table and "events/s" in table and "COMMITTED USD" in table


def test_simulate_and_advise_refuse_what_they_cannot_do(estate: Path) -> None:
    trace = two_classes(estate, 3)
    cases = [
        (["--like", "web=no-such-workload", "--like", "batch=doc-search-api"], "E-NOT-FOUND",
         "no-such-workload"),
        (["--like", "web=doc-search-api"], "E-USER", "behave as no workload"),
        (["--like", "*=doc-search-api", "--like", "webb=doc-search-api"], "E-USER",
         "no class 'webb'"),
        (["--like", "*=doc-search-api", "--reserve", "fra-dc1/h100=4"], "E-USER",
         "an owned pool"),
        (["--like", "*=doc-search-api", "--reserve", "aws-use1/l4=lots"], "E-USER",
         "whole number"),
        (["--like", "*=doc-search-api", "--reserve", "aws-use1/l4=999"], "E-USER", "quota"),
        (["--like", "*=doc-search-api", "--reserve", "nowhere/l4=1"], "E-NOT-FOUND",
         "no such pool"),
        (["--like", "web"], "E-USER", "NAME=VALUE"),
    ]  # fmt: skip
    for options, code, words in cases:
        refused = keel("capacity", "simulate", str(trace), *options, cwd=estate)
        assert refused.returncode != 0, options
        assert code in refused.stderr and words in refused.stderr, (options, refused.stderr)
    before = keel("ledger", "verify", "-o", "json", cwd=estate).stdout
    short = keel(
        "capacity", "advise", str(two_classes(estate, 1)), "--like", "*=doc-search-api",
        cwd=estate,
    )  # fmt: skip
    assert short.returncode == 2 and "E-TRACE" in short.stderr and "needs 48 steps" in short.stderr
    viewer = keel(
        "capacity", "advise", str(trace), "--like", "*=doc-search-api", cwd=estate,
        env={"KEEL_PRINCIPAL": "user:dana"},
    )  # fmt: skip
    assert viewer.returncode != 0 and "E-FORBIDDEN" in viewer.stderr
    assert json.loads(keel("ledger", "verify", "-o", "json", cwd=estate).stdout)["size"] == (
        json.loads(before)["size"] + 1  # the refusal is recorded; no advice is
    )
    assert "no capacity advice yet" in keel("capacity", "advice", cwd=estate).stderr
    bad = write(estate, "bad.csv", "start,class,devices,duration_s\n2024-01-01T00:00Z,a,x,60\n")
    unreadable = keel("capacity", "simulate", str(bad), "--like", "*=doc-search-api", cwd=estate)
    assert "E-TRACE" in unreadable.stderr and f"{bad}:2" in unreadable.stderr


def test_advise_records_its_evidence_and_beats_both_baselines_in_replay(estate: Path) -> None:
    trace = two_classes(estate, 4, seed=2)
    report = estate / "advice.html"
    made = keel(
        "capacity", "advise", str(trace), "--like", "web=doc-search-api",
        "--like", "batch=clickstream-propensity", "--horizon", "24h", "--report", str(report),
        "-o", "json", cwd=estate,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    advice = json.loads(made.stdout)
    assert advice["trace_digest"].startswith("sha256:") and advice["replays"] >= 4
    checks = advice["checks"]
    assert set(checks) == {"today", "keel", "on_prem_first", "all_on_demand"}

    def score(name: str) -> tuple[bool, float]:
        c = checks[name]
        cost = c["usd_per_month"] + advice["carbon_usd_per_t"] * c["kgco2e_per_month"] / 1000
        return (c["slo_attainment"] < advice["slo"], cost)

    assert score("keel") <= score("on_prem_first") and score("keel") <= score("all_on_demand")
    for pool_type in advice["pool_types"]:
        assert len(pool_type["forecast"]["high"]) == 24
        front = [(m["usd_per_month"], m["kgco2e_per_month"]) for m in pool_type["frontier"]]
        assert front == sorted(front) and all(a[1] > b[1] for a, b in itertools.pairwise(front))
    shown_entry = keel(
        "ledger", "show", "--from", str(advice["ledger_index"]), "--limit", "1", cwd=estate
    )
    body = json.loads(shown_entry.stdout)["entry"]
    assert body["type"] == "capacity.advised" and body["advice_digest"] == advice["digest"]
    assert body["trace_digest"] == advice["trace_digest"]
    shown = keel("capacity", "advice", "-o", "json", cwd=estate)
    assert json.loads(shown.stdout)["digest"] == advice["digest"]
    listed = keel("capacity", "advice", "--list", cwd=estate).stdout
    assert str(advice["id"]) in listed and trace.name in listed
    html = report.read_text()
    assert "Plotly.newPlot" in html and advice["digest"] in html and "<script src" not in html


def test_the_committed_plans_services_keep_their_devices(estate: Path) -> None:
    trace = two_classes(estate, 2, seed=6)
    plan = json.loads(keel("plan", "-o", "json", cwd=estate).stdout)  # committed, too
    net = json.loads(keel(
        "capacity", "simulate", str(trace), "--like", "*=doc-search-api", "-o", "json",
        cwd=estate,
    ).stdout)  # fmt: skip
    whole = json.loads(keel(
        "capacity", "simulate", str(trace), "--like", "*=doc-search-api", "--whole-pools",
        "-o", "json", cwd=estate,
    ).stdout)  # fmt: skip
    held = net["scenario"]["held_by_plan_services"]
    assert held and whole["scenario"]["held_by_plan_services"] == {}
    services = {}
    for placed in plan["placements"]:
        if placed["period"] == "month":
            name = f"{placed['site']}/{placed['pool']}"
            services[name] = services.get(name, 0) + placed["devices"]
    assert held == services
    for a, b in zip(net["pools"], whole["pools"], strict=True):
        assert a["devices"] == max(b["devices"] - held.get(a["name"], 0), 0)
