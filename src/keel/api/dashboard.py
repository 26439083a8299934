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
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from plotly.offline import get_plotlyjs
from starlette.concurrency import run_in_threadpool

from keel import wire
from keel.api.charts import (
    agent_calls_figure,
    decisions_figure,
    drift_figure,
    lineage_figure,
    readiness_trend,
    runs_figure,
    schedule_figure,
    site_devices,
    site_values,
    sites_figure,
)
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
from keel.errors import AuthenticationError, KeelError, NotFoundError
from keel.service import tokens
from keel.web.capacity import NAMES, figures
from keel.web.readiness import radar_svg

router = APIRouter(include_in_schema=False)

PAGES = (
    ("/ui/", "Overview"),
    ("/ui/plan", "Plan"),
    ("/ui/ledger", "Ledger"),
    ("/ui/lineage", "Lineage"),
    ("/ui/models", "Models"),
    ("/ui/runs", "Runs"),
    ("/ui/monitors", "Monitors"),
    ("/ui/decisions", "Decisions"),
    ("/ui/readiness", "Readiness"),
    ("/ui/capacity", "Capacity"),
    ("/ui/agents", "Agents"),
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
    text = (resources.files("keel.web") / "static" / name).read_text("utf-8")
    return text, "application/json" if name.endswith(".json") else "text/css"


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


def wants_page(request: Request) -> bool:
    """Whether an error should render as a page: a browser asking for HTML, never on ``/v1``.

    API clients (``/v1``, the OpenLineage endpoint under ``/api/``, ``/metrics``, ``/healthz``,
    or anything that does not ask for ``text/html``) keep the JSON body.
    """
    path = request.url.path
    machine = path.startswith(("/v1", "/api/", "/metrics", "/healthz"))
    return not machine and "text/html" in request.headers.get("accept", "")


def error_page(
    request: Request,
    status: int,
    code: str,
    message: str,
    *,
    hint: str = "",
    problems: list[str] | None = None,
) -> HTMLResponse:
    """An error as a page a person reads: the code, the message, the hint, a way back."""
    titles = {403: "Not allowed", 404: "Not found", 429: "Too many requests", 500: "Error"}
    response = render(
        "error.html", titles.get(status, "Error"), request, code=code, message=message,
        hint=hint, problems=problems or [],
    )  # fmt: skip
    response.status_code = status
    return response


@router.get("/", include_in_schema=False)
def root() -> Response:
    """The server's root sends a browser to the dashboard (sign-in first when needed)."""
    return RedirectResponse("/ui/", status_code=307)


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


@router.get("/ui/static/topojson/world_110m.json")
def basemap(_: Annotated[Caller, Depends(guard("read", "Resource/Dashboard/static"))]) -> Response:
    """The world map's outlines (Natural Earth 1:110m; see keel/web/static/topojson/NOTICE.md)."""
    text, media = _static("topojson/world_110m.json")
    headers = {**security_headers(), "Cache-Control": "private, max-age=86400"}
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
        values = site_values(site)
        rows.append([site.name, str(values.get("kind", "")).replace("_", " "),
                     values.get("country") or "", devices, used.get(site.name, 0),
                     f"{share:.0%}"])  # fmt: skip
    totals = plan.totals if plan else {}
    cards = [
        ("Sites", len(sites)),
        ("Services, USD per month", f"{totals.get('cost_usd_per_month', 0):,.0f}"),
        ("Jobs, USD per run (one run each)", f"{totals.get('cost_usd_per_run', 0):,.0f}"),
        ("Services, kgCO2e per month", f"{totals.get('carbon_kgco2e_per_month', 0):,.0f}"),
        ("Jobs, kgCO2e per run", f"{totals.get('carbon_kgco2e_per_run', 0):,.0f}"),
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
    timed = plan.schedule if plan else None
    figure = schedule_figure(timed) if timed is not None else None
    compared = (
        [["keel", f"{timed.objective_usd:,.2f}", f"{timed.carbon_kgco2e:,.2f}",
          sum(1 for r in timed.runs if r.start), 0, 0]]
        + [[b.name, "-" if b.objective_usd is None else f"{b.objective_usd:,.2f}",
            f"{b.carbon_kgco2e:,.2f}", b.ran, b.late, b.overfilled_pool_hours]
           for b in timed.baselines]
        if timed is not None and not timed.totals_withheld
        else []
    )  # fmt: skip
    notes = timed.signal_notes() if timed else []
    return render(
        "plan.html", "Plan", request, caller, plan=plan, rows=rows, unplaced=unplaced,
        schedule=timed, figure=figure, compared=compared, notes=notes,
    )  # fmt: skip


LEDGER_PAGE = 50
"""Entries per ledger page."""
LEDGER_SCAN = 5000
"""Entries one filtered page reads at most, newest first, before it offers the next page."""


def entry_subject(entry: wire.JsonObject) -> str:
    """What an entry is about, for people: a resource, a plan, a model version, a dataset."""
    if isinstance(entry.get("kind"), str) and isinstance(entry.get("name"), str):
        return f"{entry['kind']}/{entry['name']}"
    if "plan_id" in entry:
        return f"plan {entry['plan_id']}" + (
            f", Workload/{entry['workload']}" if "workload" in entry else ""
        )
    if "model" in entry and "version" in entry:
        return f"{entry['model']}@{entry['version']}"
    if isinstance(entry.get("resource"), str):  # an access decision: on what, doing what
        return f"{entry['resource']} ({entry.get('action', '?')})"
    for key, shown in (
        ("workload", "Workload/"),
        ("monitor", "Monitor/"),
        ("dataset", "dataset:"),
        ("node", ""),
        ("token", "API key "),
    ):
        if isinstance(entry.get(key), str):
            return f"{shown}{entry[key]}"
    return "-"


def entry_actor(item: wire.LedgerEntry) -> str:
    """Who acted: opened on the local workspace, else sealed (a personal value's commitment)."""
    if item.personal and isinstance(item.personal.get("actor"), str):
        return str(item.personal["actor"])
    personal = item.entry.get("personal")
    sealed = personal.get("actor") if isinstance(personal, dict) else None
    if isinstance(sealed, str):
        return f"sealed {sealed.removeprefix('sha256:')[:12]}"
    principal = item.entry.get("principal") or item.entry.get("actor")
    return str(principal) if principal else "-"


def _ledger_rows(caller: Caller, before: int, kind: str) -> tuple[list[wire.LedgerEntry], int]:
    """Up to a page of entries before an index, newest first, of one type when asked.

    Returns:
        The entries, and the index the next (older) page starts before (0: no older page).
    """
    shown: list[wire.LedgerEntry] = []
    cursor, scanned = before, 0
    while cursor > 0 and len(shown) < LEDGER_PAGE and scanned < LEDGER_SCAN:
        batch = LEDGER_PAGE if not kind else 500
        start = max(0, cursor - batch)
        found = caller.ops.entries(start, cursor - start).entries
        for item in reversed(found):
            if not kind or item.entry.get("type") == kind:
                shown.append(item)
                if len(shown) == LEDGER_PAGE:
                    return shown, item.index
        scanned += cursor - start
        cursor = start
    return shown, cursor


@router.get("/ui/ledger")
def ledger_page(
    request: Request,
    caller: Page,
    entry: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    before: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    kind: Annotated[str, Query(alias="type", max_length=100, pattern=r"^[a-z0-9_.-]*$")] = "",
) -> HTMLResponse:
    """Entries with their subject and actor, paged and filtered by type; one with its proof.

    The whole log is verified on the first page only (a later page or a filter says so), so
    paging through a long log does not re-verify it each time.
    """
    trusts = {
        "pinned": "against the key pinned for this log",
        "given": "against the given keys",
        "unpinned": "against the workspace's own key, which is not pinned",
    }
    verified, failure = None, ""
    first_page = before is None and not kind and entry is None
    if first_page:
        try:
            verified = caller.ops.verify()
        except KeelError as error:
            failure = error.message
    size = verified.size if verified else caller.ops.entries(0, 1).size
    rows, older = _ledger_rows(caller, min(before if before is not None else size, size), kind)
    detail = None
    if entry is not None:
        found = caller.ops.entries(entry, 1).entries
        if found:
            text = json.dumps(found[0].entry, indent=2)
            detail = {"index": entry, "json": text, "proof": caller.ops.prove(entry)}
    entries = [
        {"index": e.index, "type": e.entry.get("type") or "-", "subject": entry_subject(e.entry),
         "actor": entry_actor(e), "time": e.created_at.isoformat(timespec="seconds")}
        for e in rows
    ]  # fmt: skip
    query = f"&type={quote(kind)}" if kind else ""
    return render(
        "ledger.html", "Ledger", request, caller,
        verified=verified, failure=failure, first_page=first_page, size=size,
        trust=trusts[verified.trust] if verified else "",
        checkpoint=caller.ops.latest_checkpoint() if size else "", entries=entries,
        detail=detail, type=kind, older=f"/ui/ledger?before={older}{query}" if older else "",
        newest=f"/ui/ledger?{query[1:]}" if before is not None else "",
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


@router.get("/ui/runs")
def runs_page(
    request: Request, caller: Page, every: Annotated[bool, Query(alias="all")] = False
) -> HTMLResponse:
    """Runs over time (a bar per state each run was in), then the table."""
    found = caller.ops.runs(every=every)
    shown = found.runs[-200:]
    rows = [
        [r.workload, r.replica, f"{r.site}/{r.pool}", r.cluster, r.state, r.attempt,
         "-" if r.duration_s is None else f"{r.duration_s:,.1f} s",
         "-" if r.energy_kwh is None else f"{r.energy_kwh * 1000:,.3g} Wh ({r.energy_source})",
         r.message]
        for r in shown
    ]  # fmt: skip
    return render(
        "runs.html",
        "Runs",
        request,
        caller,
        figure=runs_figure(shown, datetime.now(UTC)),
        rows=rows,
        states=sorted(found.states.items()),
        total=len(found.runs),
        shown=len(shown),
        every=every,
    )


@router.get("/ui/monitors")
def monitors_page(request: Request, caller: Page) -> HTMLResponse:
    """Per monitor, each column's drift statistic against its threshold; alerts; actions."""
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
    actions = [
        [a.id, a.monitor, f"{a.action} {a.workload}", a.state, a.approval,
         a.requested_at.isoformat(timespec="seconds"), a.decided_by or "",
         a.message or (f"{a.from_model} -> {a.to_model}" if a.to_model else "")]
        for a in caller.ops.monitor_actions().actions
    ]  # fmt: skip
    return render(
        "monitors.html",
        "Monitors",
        request,
        caller,
        monitors=monitors,
        alerts=alerts,
        actions=actions,
    )


@router.get("/ui/decisions")
def decisions_page(request: Request, caller: Page) -> HTMLResponse:
    """Model decisions of the last 30 days per version, stacked by outcome (counts only)."""
    found = caller.ops.decision_summary()
    rows = [
        [m.model, m.count, ", ".join(f"{k or '(pruned)'} {v}" for k, v in m.outcomes.items())]
        for m in found.models
    ]
    return render(
        "decisions.html",
        "Decisions",
        request,
        caller,
        s=found,
        rows=rows,
        figure=decisions_figure(found),
    )


@router.get("/ui/readiness")
def readiness_page(request: Request, caller: Page) -> HTMLResponse:
    """The index, the radar of sub-scores, the trend, tiers, next steps and sites' records."""
    try:
        found: wire.Readiness | None = caller.ops.readiness()
    except NotFoundError:
        found = None
    return render(
        "readiness.html",
        "Readiness",
        request,
        caller,
        r=found,
        radar=radar_svg(found.scores) if found else "",
        trend=readiness_trend(found.trend) if found else {},
    )


def _mix_cell(mix: wire.AdviceMix | None, *, alone: bool) -> str:
    if mix is None or (alone and mix.unserved_devices_mean > 0):
        return "cannot serve"
    return f"{mix.owned:,}+{mix.reserved:,}"


@router.get("/ui/capacity")
def capacity_page(request: Request, caller: Page) -> HTMLResponse:
    """The newest capacity advice: per pool type, the replays, the frontier and demand charts."""
    try:
        found: wire.CapacityAdvice | None = caller.ops.capacity_advice()
    except NotFoundError:
        found = None
    if found is None:
        return render("capacity.html", "Capacity", request, caller, a=None)
    types = [
        [t.accelerator, t.owned_today, f"{t.demand_mean:,.1f}", f"{t.demand_peak:,.1f}",
         f"{t.planned_peak:,.1f}", _mix_cell(t.analytic, alone=True),
         _mix_cell(t.recommended, alone=False)]
        for t in found.pool_types
    ]  # fmt: skip
    checks = [
        [NAMES.get(name, name),
         "-" if c.slo_attainment is None else f"{c.slo_attainment:.1%}",
         "-" if c.wait_p95_s is None else f"{c.wait_p95_s:,.0f} s",
         f"{c.types_usd_per_month:,.0f}", f"{c.usd_per_month:,.0f}",
         f"{c.kgco2e_per_month:,.0f}"]
        for name, c in found.checks.items()
    ]  # fmt: skip
    evidence = [
        ["advice", found.digest], ["trace file", found.trace_digest],
        ["estate", found.estate_digest], ["prices", found.prices_digest],
    ]  # fmt: skip
    runs = [
        [r.id, r.created_at, r.created_by, r.source,
         ", ".join(f"{k} {_mix_cell(m, alone=False)}" for k, m in r.recommended.items())]
        for r in caller.ops.capacity_advice_list(limit=10).advice
    ]  # fmt: skip
    return render(
        "capacity.html",
        "Capacity",
        request,
        caller,
        a=found,
        types=types,
        checks=checks,
        evidence=evidence,
        runs=runs,
        figures=figures(found.model_dump(mode="json")),
    )


def _counted(counts: dict[str, int]) -> list[list[object]]:
    return [[k, v] for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


@router.get("/ui/agents")
def agents_page(request: Request, caller: Page, agent: str | None = None) -> HTMLResponse:
    """Per agent: tool calls over time, blocks by reason, tools, data found; approvals waiting."""
    names = [r.name for r in caller.ops.get("Agent").items]
    chosen = agent if agent in names else (names[0] if names else None)
    calls = caller.ops.agent_calls(chosen, limit=1000) if chosen else None
    recent = [
        [c.at.isoformat(timespec="seconds"), c.via, c.tool, c.decision,
         ", ".join(c.reasons) or "-", ", ".join(sorted(c.found)) or "-", c.outcome,
         c.ledger_index]
        for c in (calls.calls[:25] if calls else [])
    ]  # fmt: skip
    pending = [
        {"id": a.id, "agent": a.agent, "tool": a.tool, "asked": a.created_at.isoformat(
            timespec="seconds"), "by": a.requested_by,
         "arguments": "(for approvers)" if a.arguments is None else json.dumps(a.arguments)}
        for a in caller.ops.tool_approvals(state="pending").approvals
    ]  # fmt: skip
    twins = [
        [f"{p.first} / {p.second}", f"{p.score:.2f}", ", ".join(p.shared_tools) or "-",
         ", ".join(p.shared_datasets) or "-", p.family or "-"]
        for p in caller.ops.agent_duplicates(min_score=0.6).pairs
    ]  # fmt: skip
    return render(
        "agents.html",
        "Agents",
        request,
        caller,
        names=names,
        chosen=chosen,
        calls=calls,
        recent=recent,
        decisions=_counted(calls.decisions) if calls else [],
        reasons=_counted(calls.reasons) if calls else [],
        tools=_counted(calls.tools) if calls else [],
        kinds=_counted(calls.data_kinds) if calls else [],
        figure=agent_calls_figure(calls) if calls and calls.calls else None,
        pending=pending,
        twins=twins,
    )
