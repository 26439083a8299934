"""The dashboard in a real browser: Playwright driving Debian's Chromium against keel serve."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import Server

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(
    os.environ.get("KEEL_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots")
)

PAGES = [
    (
        "/ui/",
        "Overview",
        ["fra-dc1", "Services, USD per month", "Jobs, USD per run", "Firing alerts"],
    ),
    ("/ui/plan", "Plan", ["credit-decision-api", "Unplaced"]),
    (
        "/ui/ledger",
        "Ledger",
        ["Verified:", "Latest checkpoint", "keel.local/ledger/", "Subject", "Actor"],
    ),
    ("/ui/lineage", "Lineage", ["credit-scoring@3.1", "derived datasets"]),
    ("/ui/models", "Models", ["credit-scoring@3.2", "approved"]),
    ("/ui/runs?all=true", "Runs", ["nightly-aml-scoring", "succeeded", "cancelled", "Wh"]),
    (
        "/ui/monitors",
        "Monitors",
        [
            "credit-decision-health",
            "drift",
            "Alerts",
            "rollback credit-decision-api",
            "credit-scoring@3.1 -&gt; credit-scoring@3.0",
        ],
    ),
    ("/ui/decisions", "Decisions", ["credit-scoring@3.1", "refer", "ledger leaf"]),
    (
        "/ui/readiness",
        "Readiness",
        ["<svg", "Capability tiers", "Next steps", "Providers and sites", "declared"],
    ),
]


POINTS_PER_CHART = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(
  d => d.data.reduce((n, t) => n + (t.x || t.lon || t.y || []).filter(v => v !== null).length, 0))"""
"""Data points in each chart of the page (an empty chart counts 0)."""


def check_overview(page: Any, server: Server) -> None:
    """Every site on the map and in the table, with its resolved country; a real basemap."""
    sites = httpx.get(
        f"{server.url}/v1/resources/sites",
        headers={"Authorization": f"Bearer {server.keys['viewer']}"},
    ).json()["items"]
    page.goto(f"{server.url}/ui/")
    page.wait_for_selector("#map .main-svg", timeout=15_000)
    on_map = page.evaluate("() => document.getElementById('map').data.flatMap(t => t.text)")
    assert sorted(on_map) == sorted(s["name"] for s in sites)  # public-cloud sites included
    kinds = page.evaluate("() => document.getElementById('map').data.map(t => t.name)")
    assert {"on prem", "public cloud", "edge"} <= set(kinds)  # a legend entry per kind
    page.wait_for_selector("#map .countries path", state="attached", timeout=15_000)
    assert page.locator("#map .countries path").count() > 0  # the offline basemap was drawn
    countries = page.locator("table tbody tr td:nth-child(3)").all_inner_texts()
    assert len(countries) == len(sites) and all(countries), countries  # none blank


def check_lineage(page: Any, server: Server) -> None:
    """Whole depths on the axis, arrows along the edges, a legend of node kinds."""
    page.goto(f"{server.url}/ui/lineage")
    page.wait_for_selector("#graph .main-svg", timeout=15_000)
    layout = page.evaluate("() => document.getElementById('graph').layout")
    assert layout["xaxis"]["dtick"] == 1 and layout["xaxis"]["tickmode"] == "linear"
    assert layout["annotations"] and all(a["showarrow"] for a in layout["annotations"])
    names = page.evaluate("() => document.getElementById('graph').data.map(t => t.name)")
    assert {"dataset", "model", "workload"} <= set(names)
    assert page.evaluate(
        "() => document.getElementById('graph').data.every(t => t.cliponaxis === false)"
    )


def check_ledger(page: Any, server: Server) -> None:
    """Subject and actor per entry, a filter by type, and pages of older entries."""
    page.goto(f"{server.url}/ui/ledger")
    rows = page.locator("#entries tbody tr").count()
    assert rows == 50  # the demo's ledger holds more than a page
    with page.expect_navigation():
        page.click("text=older entries")
    first = page.locator("#entries tbody tr td:first-child").all_inner_texts()
    assert first and int(first[0]) < int(first[-1]) + 50 and "the first page" in page.content()
    page.goto(f"{server.url}/ui/ledger")
    page.fill("input[name=type]", "plan.committed")
    with page.expect_navigation():
        page.click("text=Filter")
    types = page.locator("#entries tbody tr td:nth-child(2)").all_inner_texts()
    assert types and set(types) == {"plan.committed"}
    subjects = page.locator("#entries tbody tr td:nth-child(3)").all_inner_texts()
    assert all(s.startswith("plan ") for s in subjects), subjects
    actors = page.locator("#entries tbody tr td:nth-child(4)").all_inner_texts()
    assert all(a.startswith("sealed ") for a in actors), actors  # personal: never opened


def check_errors_and_root(browser: Any, signed_in: Any, server: Server) -> None:
    """The root leads to the dashboard; errors in the browser are pages, the API keeps JSON.

    On a page of its own, so the 404 and 422 it asks for are not counted as console errors.
    """
    context = browser.new_context()
    context.add_cookies(signed_in.context.cookies())
    page = context.new_page()
    page.goto(f"{server.url}/")
    assert page.url.endswith("/ui/")
    response = page.goto(f"{server.url}/ui/no-such-page")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Not found"
    assert "E-NOT-FOUND" in page.content() and "Back to the overview" in page.content()
    response = page.goto(f"{server.url}/ui/ledger?before=-1")
    assert response is not None and response.status == 422
    assert "before" in page.content() and "<pre" not in page.content()[:200]
    context.close()
    api = httpx.get(f"{server.url}/v1/no-such-route", headers={"Accept": "text/html"})
    assert api.headers["content-type"].startswith("application/json")


def test_sign_in_and_visit_every_page(server: Server) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium is missing: scripts/test.sh installs it")
        pytest.skip("chromium is not installed")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.url}/ui/")
        assert page.url.endswith("/ui/login")  # not signed in: sent to the form
        page.fill("input[name=key]", "keel_000000000000_" + "x" * 43)
        page.click("button[type=submit]")
        assert "unknown API key" in page.content()
        page.fill("input[name=key]", server.keys["viewer"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/ui/")
        for path, title, texts in PAGES:
            page.goto(f"{server.url}{path}")  # waits for the load event; charts are waited for
            assert page.locator("h1").inner_text() == title
            content = page.content()
            for text in texts:
                assert text in content, f"{path}: {text!r} missing"
            if path in (
                "/ui/",
                "/ui/lineage",
                "/ui/runs?all=true",
                "/ui/monitors",
                "/ui/decisions",
                "/ui/readiness",
            ):
                page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15_000)
                points = page.evaluate(POINTS_PER_CHART)
                assert points and all(n > 0 for n in points), f"{path}: an empty chart {points}"
            page.screenshot(path=str(SHOTS / f"{title.lower()}.png"), full_page=True)
        check_overview(page, server)
        check_lineage(page, server)
        check_ledger(page, server)
        check_errors_and_root(browser, page, server)
        page.goto(f"{server.url}/ui/ledger?entry=3")
        assert "c2sp.org/tlog-proof" in page.content()
        page.screenshot(path=str(SHOTS / "ledger-entry.png"), full_page=True)
        (cookie,) = [c for c in page.context.cookies() if c["name"] == "keel_session"]
        assert cookie["value"].startswith("ks_") and cookie["httpOnly"]
        assert cookie["value"] != server.keys["viewer"]  # the cookie never holds the key
        page.click("text=sign out")
        page.wait_for_url(f"{server.url}/ui/login")
        page.goto(f"{server.url}/ui/models")
        assert page.url.endswith("/ui/login")
        browser.close()
    replayed = httpx.get(f"{server.url}/v1/models", cookies={"keel_session": cookie["value"]})
    assert replayed.status_code == 401  # signed out on the server, not only in the browser
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert not errors, errors


def test_the_plan_page_draws_a_horizon_plans_schedule(server: Server) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium is missing: scripts/test.sh installs it")
        pytest.skip("chromium is not installed")
    body = {"commit": "always", "horizon_h": 12, "start": "2027-01-04T00:00:00Z"}
    headers = {"Authorization": f"Bearer {server.keys['operator']}"}
    plan = httpx.post(f"{server.url}/v1/plans", json=body, headers=headers, timeout=120).json()
    runs = [r for r in plan["schedule"]["runs"] if r["start"]]
    assert runs
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{server.url}/ui/login")
        page.fill("input[name=key]", server.keys["admin"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/ui/")
        page.goto(f"{server.url}/ui/plan")
        content = page.content()
        assert "Schedule" in content and "capacity-blind advice, queued" in content
        assert "no grid data is set" in content  # the fallback is named on the page
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15_000)
        traces = page.evaluate(
            "() => document.querySelector('.js-plotly-plot').data.map(t => t.type)"
        )
        assert traces.count("bar") == len(runs)  # one bar per scheduled run
        assert "scatter" in traces  # and the sites' intensity lines
        page.screenshot(path=str(SHOTS / "plan-schedule.png"), full_page=True)
        browser.close()


def test_the_capacity_page_draws_the_newest_advice(server: Server) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium is missing: scripts/test.sh installs it")
        pytest.skip("chromium is not installed")
    from conftest import run
    from daily_cycle import two_classes

    trace = two_classes(server.root, 3, seed=4)
    made = run(
        "capacity", "advise", str(trace), "--like", "*=doc-search-api", "--horizon", "12h",
        "-o", "json", cwd=server.root,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    import json

    advice = json.loads(made.stdout)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{server.url}/ui/login")
        page.fill("input[name=key]", server.keys["viewer"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/ui/")
        page.goto(f"{server.url}/ui/capacity")
        assert page.locator("h1").inner_text() == "Capacity"
        content = page.content()
        assert f"Advice {advice['id']}" in content and advice["trace_digest"] in content
        assert "Judged by replay" in content and "on-premises first" in content
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15_000)
        points = page.evaluate(POINTS_PER_CHART)
        expected = sum(1 + bool(t["frontier"]) for t in advice["pool_types"])
        assert len(points) == expected and all(n > 0 for n in points), points
        page.screenshot(path=str(SHOTS / "capacity.png"), full_page=True)
        browser.close()
    assert not errors, errors


def _waiting_session(server: Server) -> Any:
    """The demo's KYC session again, through the gateway, until its case waits for approval."""
    import json
    import subprocess
    import time

    from conftest import run
    from live_server import KEEL, clean_env

    folder = server.root / "manifests"
    session = subprocess.Popen(
        [KEEL, "agents", "session", "kyc-review-agent", "--servers", str(folder / "gateway.json"),
         "--calls", str(folder / "sessions" / "kyc-review-agent.json"), "-o", "json"],
        cwd=server.root, env=clean_env(KEEL_PRINCIPAL="service_account:ci-pipeline"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not json.loads(run("agents", "approvals", "-o", "json", cwd=server.root).stdout)[
        "approvals"
    ]:
        if time.monotonic() > deadline or session.poll() is not None:
            session.kill()
            raise AssertionError(f"no approval waits: {session.communicate()[1][-600:]}")
        time.sleep(0.3)
    return session


def test_an_approver_decides_a_waiting_tool_call_on_the_agents_page(server: Server) -> None:
    """The case waits; the approver approves it in the browser and the session goes on."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but chromium is missing: scripts/test.sh installs it")
        pytest.skip("chromium is not installed")
    import json

    from conftest import run

    session = _waiting_session(server)
    errors: list[str] = []
    try:
        with playwright.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(f"{server.url}/ui/login")
            page.fill("input[name=key]", server.keys["approver"])
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/ui/")
            page.goto(f"{server.url}/ui/agents?agent=kyc-review-agent")
            assert page.locator("h1").inner_text() == "Agents"
            row = page.locator("#approvals tbody tr")
            assert row.count() == 1 and "[CARD]" in row.inner_text()
            assert "4111 1111" not in page.content()  # the whole value: digests hold digit runs
            assert "onboarding-screening-agent" in page.content()  # the likely duplicate
            page.screenshot(path=str(SHOTS / "agents-approval.png"), full_page=True)
            row.locator("input[name=reason]").fill("flagged card: expected")
            row.locator("button[data-approve=true]").click()
            page.wait_for_selector("text=None waits.", timeout=15_000)
            out, err = session.communicate(timeout=60)
            assert session.returncode == 0, err
            case = json.loads(out)["calls"][1]
            assert case["tool"] == "case-create" and case["outcome"] == "ok"
            page.reload()
            page.wait_for_selector("#calls .main-svg", timeout=15_000)
            points = page.evaluate(POINTS_PER_CHART)
            assert points and points[0] > 0 and "approval.granted" in page.content()
            page.screenshot(path=str(SHOTS / "agents.png"), full_page=True)
            browser.close()
    finally:
        if session.poll() is None:
            session.kill()
    assert not errors, errors
    decided = json.loads(
        run("agents", "approvals", "--state", "approved", "-o", "json", cwd=server.root).stdout
    )
    assert decided["approvals"][0]["decided_by"] == "service_account:token:approver-key"
    assert decided["approvals"][0]["reason"] == "flagged card: expected"
