"""The dashboard in a real browser: Playwright driving Debian's Chromium against keel serve."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import httpx
import pytest

from conftest import Server

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(
    os.environ.get("KEEL_SCREENSHOTS", Path(__file__).parents[2] / "build" / "screenshots")
)

PAGES = [
    ("/ui/", "Overview", ["fra-dc1", "Cost (USD)", "Firing alerts"]),
    ("/ui/plan", "Plan", ["credit-decision-api", "Unplaced"]),
    ("/ui/ledger", "Ledger", ["Verified:", "Latest checkpoint", "keel.local/ledger/"]),
    ("/ui/lineage", "Lineage", ["credit-scoring@3.1", "derived datasets"]),
    ("/ui/models", "Models", ["credit-scoring@3.2", "approved"]),
    ("/ui/monitors", "Monitors", ["credit-decision-health", "drift", "Alerts"]),
]


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
            page.goto(f"{server.url}{path}")
            page.wait_for_load_state("networkidle")
            assert page.locator("h1").inner_text() == title
            content = page.content()
            for text in texts:
                assert text in content, f"{path}: {text!r} missing"
            if path in ("/ui/", "/ui/lineage", "/ui/monitors"):
                page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15_000)
            page.screenshot(path=str(SHOTS / f"{title.lower()}.png"), full_page=True)
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
