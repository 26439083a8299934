"""The dashboard: server-rendered pages over the same operations and guards as the API.

Pages are Jinja2 templates in :mod:`keel.web` (autoescaped); their data comes from the caller's
operations, so a page shows exactly what the caller's API requests would. Charts use plotly.js
from the installed plotly package, served by the app (no CDN: it works offline).

Sign-in takes an API key and opens a server-side session: the HttpOnly, SameSite=Strict cookie
holds a random session id, never the key; the session ends after eight hours, at sign-out (a
POST with the session's CSRF token) or when its key is revoked. Sign-in and sign-out refuse
cross-site posts. Pages carry a content security policy whose script nonce changes on every
response.
"""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Annotated
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from plotly.offline import get_plotlyjs
from starlette.concurrency import run_in_threadpool

from keel import wire
from keel.api.charts import drift_figure, lineage_figure, site_devices, sites_figure
from keel.api.security import (
    SESSION_COOKIE,
    Caller,
    client_address,
    guard,
    guards_of,
    new_nonce,
    same_origin,
    security_headers,
)
from keel.errors import AuthenticationError, KeelError
from keel.service import tokens

router = APIRouter(include_in_schema=False)

PAGES = (
    ("/ui/", "Overview"),
    ("/ui/plan", "Plan"),
    ("/ui/ledger", "Ledger"),
    ("/ui/lineage", "Lineage"),
    ("/ui/models", "Models"),
    ("/ui/monitors", "Monitors"),
)

Page = Annotated[Caller, Depends(guard("read", "Resource/Dashboard/page"))]


@cache
def _templates() -> jinja2.Environment:
    folder = resources.files("keel.web") / "templates"
    loader = jinja2.DictLoader(
        {item.name: item.read_text("utf-8") for item in folder.iterdir() if item.is_file()}
    )
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


@cache
def _static(name: str) -> tuple[str, str]:
    if name == "plotly.min.js":
        return str(get_plotlyjs()), "text/javascript"
    return (resources.files("keel.web") / "static" / name).read_text("utf-8"), "text/css"


def render(
    template: str,
    title: str,
    request: Request,
    caller: Caller | None = None,
    **values: object,
) -> HTMLResponse:
    """A page from its template, with the navigation, the caller and a fresh script nonce."""
    nonce = new_nonce()
    page = (
        _templates()
        .get_template(template)
        .render(
            title=title,
            pages=PAGES,
            caller=caller,
            csrf=getattr(request.state, "csrf", None),
            nonce=nonce,
            **values,
        )
    )
    return HTMLResponse(page, headers=security_headers(nonce))


def _cross_site() -> Response:
    body = {"error": {"code": "E-FORBIDDEN", "message": "a cross-site form post was refused"}}
    return JSONResponse(body, status_code=403, headers=security_headers())


def is_page(path: str) -> bool:
    """Whether a path is a dashboard page (unauthenticated visits go to the sign-in form)."""
    return path.startswith("/ui/") and not path.startswith("/ui/static/")


# -- sign-in ----------------------------------------------------------------------------------
@router.get("/ui/login")
def login_form(request: Request, error: str = "") -> HTMLResponse:
    """The sign-in form."""
    return render("login.html", "Sign in", request, error=error)


@router.post("/ui/login")
async def login(request: Request) -> Response:
    """Open a session with an API key (same-origin posts only)."""
    if not same_origin(request):  # login CSRF: a foreign page signing the user in
        return _cross_site()
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    key = (form.get("key") or [""])[0].strip()
    guards = guards_of(request)
    try:
        session_id, session = await run_in_threadpool(tokens.open_session, guards.workspace, key)
    except AuthenticationError as error:
        guards.failures.take(f"addr:{client_address(request)}")  # 429 past the limit
        return RedirectResponse(f"/ui/login?error={quote(error.message)}", status_code=303)
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int((session.expires_at - datetime.now(UTC)).total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """End the session on the server (same-origin, with its CSRF token)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    sent = (form.get("csrf") or [""])[0]
    if not same_origin(request) or session_id is None:
        return _cross_site()
    guards = guards_of(request)
    try:
        found = await run_in_threadpool(tokens.session, guards.workspace, session_id)
    except AuthenticationError:
        found = None
    if found is not None:
        if not hmac.compare_digest(sent.encode(), found.csrf.encode()):
            return _cross_site()
        await run_in_threadpool(tokens.end_session, guards.workspace, session_id)
        guards.gate.forget(session_id, session=True)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/ui/static/plotly.min.js")
def plotly(_: Annotated[Caller, Depends(guard("read", "Resource/Dashboard/static"))]) -> Response:
    """plotly.js, from the installed plotly package (only signed-in pages load it)."""
    text, media = _static("plotly.min.js")
    headers = {**security_headers(), "Cache-Control": "private, max-age=3600"}
    return Response(text, media_type=media, headers=headers)


@router.get("/ui/keel.css")
def stylesheet() -> Response:
    """The stylesheet, from :mod:`keel.web` (anonymous, like the sign-in page it styles)."""
    text, media = _static("keel.css")
    return Response(text, media_type=media, headers=security_headers())


# -- pages ------------------------------------------------------------------------------------
@router.get("/ui/")
def overview(request: Request, caller: Page) -> HTMLResponse:
    """Sites on a map sized by utilisation, the latest plan's totals, firing alerts."""
    sites = caller.ops.get("site").items
    try:
        plan: wire.Plan | None = caller.ops.latest_plan()
    except KeelError:
        plan = None
    used: dict[str, int] = {}
    for p in plan.placements if plan else []:
        used[p.site] = used.get(p.site, 0) + p.devices
    rows = []
    for site in sites:
        devices = site_devices(site)
        share = used.get(site.name, 0) / devices if devices else 0.0
        rows.append([site.name, site.spec.get("kind"), site.spec.get("country") or "", devices,
                     used.get(site.name, 0), f"{share:.0%}"])  # fmt: skip
    totals = plan.totals if plan else {}
    cards = [
        ("Sites", len(sites)),
        ("Cost (USD)", f"{totals.get('cost_usd', 0):,.0f}"),
        ("Energy (kWh)", f"{totals.get('energy_kwh', 0):,.0f}"),
        ("Carbon (kgCO2e)", f"{totals.get('carbon_kgco2e', 0):,.0f}"),
        ("Unplaced workloads", len(plan.unplaced) if plan else 0),
        ("Firing alerts", len(caller.ops.alerts().alerts)),
    ]
    figure = sites_figure(sites, used)
    return render(
        "overview.html", "Overview", request, caller, cards=cards, rows=rows, figure=figure
    )


@router.get("/ui/plan")
def plan_page(request: Request, caller: Page) -> HTMLResponse:
    """Every placement with its cost, carbon, latency against its SLO, and reasons."""
    try:
        plan: wire.Plan | None = caller.ops.latest_plan()
    except KeelError:
        plan = None
    rows = [
        [p.workload, p.site, p.pool, p.devices, f"{p.cost_usd:,.2f}", f"{p.carbon_kgco2e:,.1f}",
         f"{p.latency_ms:,.1f}" if p.latency_ms else "-",
         f"{p.latency_slo_ms:,.0f}" if p.latency_slo_ms else "-", ", ".join(p.reasons)]
        for p in (plan.placements if plan else [])
    ]  # fmt: skip
    unplaced = [
        [u.workload, u.replicas, ", ".join(u.reasons), "; ".join(u.relaxations) or "-"]
        for u in (plan.unplaced if plan else [])
    ]
    return render("plan.html", "Plan", request, caller, plan=plan, rows=rows, unplaced=unplaced)


@router.get("/ui/ledger")
def ledger_page(request: Request, caller: Page, entry: int | None = None) -> HTMLResponse:
    """Verification, the latest checkpoint and entries, an entry with its inclusion proof."""
    trusts = {
        "pinned": "against the key pinned for this log",
        "given": "against the given keys",
        "unpinned": "against the workspace's own key, which is not pinned",
    }
    verified, failure = None, ""
    try:
        verified = caller.ops.verify()
    except KeelError as error:
        failure = error.message
    size = verified.size if verified else 0
    shown = list(reversed(caller.ops.entries(max(0, size - 50), 50).entries))
    detail = None
    if entry is not None:
        found = caller.ops.entries(entry, 1).entries
        if found:
            text = json.dumps(found[0].entry, indent=2)
            detail = {"index": entry, "json": text, "proof": caller.ops.prove(entry)}
    return render(
        "ledger.html", "Ledger", request, caller,
        verified=verified, failure=failure, trust=trusts[verified.trust] if verified else "",
        checkpoint=caller.ops.latest_checkpoint() if size else "", entries=shown, detail=detail,
    )  # fmt: skip


@router.get("/ui/lineage")
def lineage_page(
    request: Request, caller: Page, node: str = "dataset:eu-customer-profiles"
) -> HTMLResponse:
    """The graph downstream of a node, with a dataset's impact highlighted."""
    try:
        view = caller.ops.lineage(node, direction="downstream", depth=6)
        impact = caller.ops.impact(node) if view.root.kind == "dataset" else None
    except KeelError as error:
        return render("lineage.html", "Lineage", request, caller, node=node, error=error.message)
    figure = lineage_figure(view, impact)
    return render(
        "lineage.html", "Lineage", request, caller,
        node=node, error="", impact=impact, figure=figure,
    )  # fmt: skip


@router.get("/ui/models")
def models_page(request: Request, caller: Page, ref: str | None = None) -> HTMLResponse:
    """Every registered version; one version's approvals and history with ledger indices."""
    detail, history, error = None, [], ""
    if ref:
        try:
            detail = caller.ops.model(ref)
            history = [
                [e.ledger_index, e.type, e.by or "keel", e.at.isoformat(timespec="seconds")]
                for e in detail.history
            ]
        except KeelError as failure:
            error = failure.message
    return render(
        "models.html", "Models", request, caller,
        versions=caller.ops.models().versions, detail=detail, history=history, error=error,
    )  # fmt: skip


@router.get("/ui/monitors")
def monitors_page(request: Request, caller: Page) -> HTMLResponse:
    """Per monitor, each column's drift statistic against its threshold; alerts."""
    monitors = []
    for check in caller.ops.monitor_checks().checks:
        result = check.result
        conditions = result.get("conditions")
        monitors.append(
            {
                "name": check.monitor,
                "workload": result.get("workload"),
                "status": result.get("status"),
                "rows": result.get("rows") or 0,
                "checked_at": check.checked_at.isoformat(timespec="seconds"),
                "figure": drift_figure(result),
                "conditions": [
                    [c["key"], "FIRING" if c["firing"] else "ok", c["message"]]
                    for c in conditions if isinstance(c, dict)
                ] if isinstance(conditions, list) else [],
            }
        )  # fmt: skip
    alerts = [
        [a.monitor, a.condition, a.state, a.raised_at.isoformat(timespec="seconds")]
        for a in caller.ops.alerts(every=True).alerts
    ]
    return render("monitors.html", "Monitors", request, caller, monitors=monitors, alerts=alerts)
