"""The dashboard: server-rendered pages over the same services and guards as the API.

Charts use plotly.js from the installed plotly package, served by the app (no CDN: it works
offline). Sign-in takes an API key and opens a server-side session: the HttpOnly,
SameSite=Strict cookie holds a random session id, never the key; the session ends after eight
hours, at sign-out (a POST with the session's CSRF token) or when its key is revoked. Sign-in
and sign-out refuse cross-site posts. Every page is guarded like the API. Pages carry a content
security policy whose script nonce changes on every response.
"""

from __future__ import annotations

import hmac
import html
import json
from datetime import UTC, datetime
from functools import cache
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from plotly.offline import get_plotlyjs
from starlette.concurrency import run_in_threadpool

from keel.api.security import (
    SESSION_COOKIE,
    Guards,
    client_address,
    guard,
    new_nonce,
    require_visible,
    same_origin,
    security_headers,
    visible,
)
from keel.errors import AuthenticationError, KeelError
from keel.service import get_resources, ledger, lineage, monitoring, planning, registry, tokens
from keel.service.tokens import Token

PAGES = (
    ("/ui/", "Overview"),
    ("/ui/plan", "Plan"),
    ("/ui/ledger", "Ledger"),
    ("/ui/lineage", "Lineage"),
    ("/ui/models", "Models"),
    ("/ui/monitors", "Monitors"),
)

STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2733}
nav{background:#1d2733;padding:.6rem 1rem}
nav a{color:#dfe7ef;margin-right:1.2rem;text-decoration:none}
nav a.on{color:#fff;font-weight:600}main{padding:1rem 1.5rem;max-width:80rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border-bottom:1px solid #dde3e9;padding:.3rem .6rem;text-align:left;font-size:.9rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #dde3e9;border-radius:6px;padding:.6rem 1rem;min-width:10rem}
.card b{display:block;font-size:1.4rem}
pre{background:#f4f6f8;padding:.6rem;overflow:auto;font-size:.8rem}
.ok{color:#1a7f37}.bad{color:#c62828}
"""


@cache
def _plotly_js() -> str:
    return str(get_plotlyjs())


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[Any]], raw: set[int] | None = None) -> str:
    raw = raw or set()
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{c if i in raw else _esc(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _chart(nonce: str, element: str, figure: dict[str, Any]) -> str:
    data = json.dumps(figure).replace("</", "<\\/")
    return (
        f'<div id="{element}" style="height:420px"></div>'
        f'<script nonce="{nonce}">Plotly.newPlot("{element}", {data}.data, {data}.layout,'
        " {displaylogo: false, responsive: true});</script>"
    )


def _page(
    title: str, body: str, nonce: str, token: Token | None = None, request: Request | None = None
) -> HTMLResponse:
    """A page; only a signed-in page loads plotly.js (the script is guarded too)."""
    nav = "".join(
        f'<a href="{path}" class="{"on" if name == title else ""}">{name}</a>'
        for path, name in PAGES
    )
    csrf = getattr(request.state, "csrf", None) if request is not None else None
    sign_out = (
        '<form method=post action=/ui/logout style="display:inline">'
        f'<input type=hidden name=csrf value="{_esc(csrf)}">'
        "<button type=submit>sign out</button></form>"
        if csrf
        else ""
    )
    who = (
        f'<span style="color:#9fb0c0;float:right">{_esc(token.principal)} {sign_out}</span>'
        if token
        else ""
    )
    document = (
        '<!doctype html><html lang=en><head><meta charset=utf-8><link rel=icon href="data:,">'
        f"<title>Keel · {_esc(title)}</title><style>{STYLE}</style>"
        + ('<script src="/ui/static/plotly.min.js"></script>' if token else "")
        + "</head>"
        f"<body><nav>{nav}{who}</nav><main><h1>{_esc(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(document, headers=security_headers(nonce))


def add_dashboard(app: FastAPI, guards: Guards) -> None:  # noqa: PLR0915 (one page table)
    """Add the dashboard's pages to an app.

    Args:
        app: The app.
        guards: The shared authentication and authorisation state.
    """
    ws = guards.workspace

    def allow(resource: str) -> Any:
        return Depends(guard(guards, "read", resource))

    @app.get("/ui/login", include_in_schema=False)
    def login_form(error: str = "") -> HTMLResponse:
        nonce = new_nonce()
        message = f'<p class="bad">{_esc(error)}</p>' if error else ""
        body = (
            f"{message}<form method=post action=/ui/login>"
            "<label>API key <input name=key type=password size=70 autocomplete=off required>"
            "</label> "
            "<button type=submit>Sign in</button></form>"
            "<p>Make a key with <code>keel token create --name NAME --role viewer</code>.</p>"
        )
        return _page("Sign in", body, nonce)

    @app.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        if not same_origin(request):  # login CSRF: a foreign page signing the user in
            return _cross_site()
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        key = (form.get("key") or [""])[0].strip()
        try:
            session_id, session = await run_in_threadpool(tokens.open_session, ws, key)
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

    @app.post("/ui/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        session_id = request.cookies.get(SESSION_COOKIE)
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        sent = (form.get("csrf") or [""])[0]
        if not same_origin(request) or session_id is None:
            return _cross_site()
        try:
            csrf: str | None = (await run_in_threadpool(tokens.session, ws, session_id)).csrf
        except AuthenticationError:
            csrf = None
        if csrf is not None:
            if not hmac.compare_digest(sent.encode(), csrf.encode()):
                return _cross_site()
            await run_in_threadpool(tokens.end_session, ws, session_id)
            guards.gate.forget(session_id, session=True)
        response = RedirectResponse("/ui/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/ui/static/plotly.min.js", include_in_schema=False)
    def plotly(_: Token = allow("Resource/Dashboard/static")) -> Response:
        return Response(
            _plotly_js(),
            media_type="text/javascript",
            headers={**security_headers(), "Cache-Control": "private, max-age=3600"},
        )

    @app.get("/ui/", include_in_schema=False)
    def overview(
        request: Request, token: Token = allow("Resource/Dashboard/overview")
    ) -> HTMLResponse:
        nonce = new_nonce()
        sees = visible(guards, token)
        every = get_resources(ws, "site")
        sites = [
            s for s, ok in zip(every, sees([f"Site/{s.name}" for s in every]), strict=True) if ok
        ]
        latest = planning.latest(ws)
        used: dict[str, int] = {}
        totals: dict[str, Any] = {}
        unplaced = 0
        if latest is not None:
            plan = planning.redact_plan(latest[1], sees)
            for p in plan["placements"]:
                used[p["site"]] = used.get(p["site"], 0) + p["devices"]  # replicas included
            totals = plan.get("totals", {})
            unplaced = len(plan["unplaced"])
        lat, lon, text, size, names = [], [], [], [], []
        rows = []
        for site in sites:
            spec = site.spec or {}
            devices = sum(p.get("count", 0) for p in spec.get("pools", []))
            share = used.get(site.name, 0) / devices if devices else 0.0
            rows.append(
                [
                    site.name,
                    spec["kind"],
                    spec.get("country") or "",
                    devices,
                    used.get(site.name, 0),
                    f"{share:.0%}",
                ]
            )
            if spec.get("location"):
                lat.append(spec["location"]["latitude"])
                lon.append(spec["location"]["longitude"])
                text.append(f"{site.name}: {share:.0%} of {devices} devices")
                names.append(site.name)
                size.append(10 + 30 * min(share, 1.0))
        firing = len(monitoring.alerts(ws, firing_only=True))
        cards = "".join(
            f'<div class="card">{label}<b>{_esc(value)}</b></div>'
            for label, value in (
                ("Sites", len(sites)),
                ("Cost (USD)", f"{totals.get('cost_usd', 0):,.0f}"),
                ("Energy (kWh)", f"{totals.get('energy_kwh', 0):,.0f}"),
                ("Carbon (kgCO2e)", f"{totals.get('carbon_kgco2e', 0):,.0f}"),
                ("Unplaced workloads", unplaced),
                ("Firing alerts", firing),
            )
        )
        # Longitude and latitude on plain axes: plotly's geo maps fetch their world outline
        # from a CDN, and the dashboard must work offline.
        figure = {
            "data": [
                {
                    "type": "scatter",
                    "x": lon,
                    "y": lat,
                    "text": names,
                    "hovertext": text,
                    "mode": "markers+text",
                    "textposition": "top center",
                    "marker": {"size": size, "color": "#1f6feb", "opacity": 0.8},
                }
            ],
            "layout": {
                "xaxis": {"range": [-180, 180], "title": {"text": "longitude"}},
                "yaxis": {"range": [-60, 75], "title": {"text": "latitude"}},
                "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
            },
        }
        body = (
            f'<div class="cards">{cards}</div><h2>Sites and pool utilisation</h2>'
            + _chart(nonce, "map", figure)
            + _table(["Site", "Kind", "Country", "Devices", "In use", "Utilisation"], rows)
        )
        return _page("Overview", body, nonce, token, request)

    @app.get("/ui/plan", include_in_schema=False)
    def plan_page(
        request: Request, token: Token = allow("Resource/Dashboard/plan")
    ) -> HTMLResponse:
        nonce = new_nonce()
        latest = planning.latest(ws)
        if latest is None:
            return _page(
                "Plan",
                "<p>No plan was committed yet: run <code>keel plan</code>.</p>",
                nonce,
                token,
                request,
            )
        plan_id, plan = latest[0], planning.redact_plan(latest[1], visible(guards, token))
        rows = [
            [
                p["workload"],
                p["site"],
                p["pool"],
                p["devices"],
                f"{p['cost_usd']:,.2f}",
                f"{p['carbon_kgco2e']:,.1f}",
                ", ".join(p.get("reasons", [])),
            ]
            for p in plan["placements"]
        ]
        unplaced = [
            [u.get("workload"), json.dumps(u.get("reasons", u))[:200]] for u in plan["unplaced"]
        ]
        body = (
            f"<p>Plan {plan_id}: solver {_esc(plan['solver'])},"
            f" objective {_esc(plan['objective'])},"
            f" estate {_esc(plan['estate_digest'][:19])},"
            f" policy {_esc(plan['policy_digest'][:19])}</p>"
            + _table(["Workload", "Site", "Pool", "Devices", "Cost USD", "kgCO2e", "Why"], rows)
            + "<h2>Unplaced</h2>"
            + (_table(["Workload", "Reasons"], unplaced) if unplaced else "<p>None.</p>")
        )
        return _page("Plan", body, nonce, token, request)

    @app.get("/ui/ledger", include_in_schema=False)
    def ledger_page(
        request: Request, entry: int | None = None, token: Token = allow("Ledger")
    ) -> HTMLResponse:
        nonce = new_nonce()
        try:
            report = ledger.verify(ws)
            trust = {
                "pinned": "against the key pinned for this log",
                "given": "against the given keys",
                "unpinned": "against the workspace's own key, which is not pinned",
            }[report.trust]
            status = (
                f'<p class="ok">Verified: {report.size} entries,'
                f" {report.checkpoints} signed checkpoints, {trust}.</p>"
            )
            size = report.size
        except KeelError as error:
            status = f'<p class="bad">Verification failed: {_esc(error.message)}</p>'
            size = 0
        start = max(0, size - 50)
        shown = ledger.show(ws, start=start, limit=50)
        rows = [
            [
                f'<a href="/ui/ledger?entry={e.index}">{e.index}</a>',
                _esc(e.entry.get("type")),
                _esc(e.created_at.isoformat(timespec="seconds")),
            ]
            for e in reversed(shown)
        ]
        detail = ""
        if entry is not None:
            found = ledger.show(ws, start=entry, limit=1)
            if found:
                one = found[0]
                proof = ledger.prove(ws, entry).encode()
                detail = (
                    f"<h2>Entry {entry}</h2><pre>{_esc(json.dumps(one.entry, indent=2))}</pre>"
                    f"<h3>Inclusion proof (C2SP tlog-proof)</h3><pre>{_esc(proof)}</pre>"
                )
        body = (
            status
            + f"<h2>Latest checkpoint</h2><pre>{_esc(ledger.latest_checkpoint(ws))}</pre>"
            + detail
            + "<h2>Latest entries</h2>"
            + _table(["Index", "Type", "Time"], rows, raw={0, 1, 2})
        )
        return _page("Ledger", body, nonce, token, request)

    @app.get("/ui/lineage", include_in_schema=False)
    def lineage_page(
        request: Request,
        node: str = "dataset:eu-customer-profiles",
        token: Token = allow("Resource/Lineage/graph"),
    ) -> HTMLResponse:
        nonce = new_nonce()
        form = (
            "<form method=get action=/ui/lineage>Node "
            f'<input name=node value="{_esc(node)}" size=50>'
            " <button>Show</button></form>"
        )
        try:
            view = lineage.show(ws, node, direction="downstream", depth=6)
            require_visible(guards, token, lineage.resource_of(view.root))
            view = lineage.redact_view(view, visible(guards, token))
            found = lineage.impact(ws, node) if view.root.kind == "dataset" else None
            found = lineage.redact_impact(found, visible(guards, token)) if found else None
        except KeelError as error:
            return _page(
                "Lineage", form + f'<p class="bad">{_esc(error.message)}</p>', nonce, token, request
            )
        hit = {n.id for n in (found.models + found.workloads + found.datasets)} if found else set()
        position: dict[int, tuple[int, int]] = {}
        per_depth: dict[int, int] = {}
        for n, depth in view.nodes:
            position[n.id] = (depth, per_depth.get(depth, 0))
            per_depth[depth] = per_depth.get(depth, 0) + 1
        xs: list[Any] = []
        ys: list[Any] = []
        for source, target, _ in view.edges:
            (x0, y0), (x1, y1) = position[source.id], position[target.id]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
        nodes = [n for n, _ in view.nodes]
        colours = {
            "dataset": "#1f6feb",
            "job": "#8b949e",
            "model": "#d29922",
            "workload": "#2da44e",
        }
        figure = {
            "data": [
                {
                    "type": "scatter",
                    "x": xs,
                    "y": ys,
                    "mode": "lines",
                    "hoverinfo": "skip",
                    "line": {"color": "#c9d1d9"},
                },
                {
                    "type": "scatter",
                    "mode": "markers+text",
                    "textposition": "top center",
                    "x": [position[n.id][0] for n in nodes],
                    "y": [position[n.id][1] for n in nodes],
                    "text": [lineage.label(n) for n in nodes],
                    "marker": {
                        "size": [18 if n.id in hit else 10 for n in nodes],
                        "color": [colours.get(n.kind, "#000") for n in nodes],
                        "line": {
                            "width": [3 if n.id in hit else 0 for n in nodes],
                            "color": "#c62828",
                        },
                    },
                },
            ],
            "layout": {
                "showlegend": False,
                "xaxis": {"title": {"text": "depth"}},
                "yaxis": {"visible": False},
                "margin": {"t": 10},
            },
        }
        summary = ""
        if found is not None:
            summary = (
                f"<p>Impact: {len(found.datasets)} derived datasets, "
                f"{len(found.models)} model versions"
                f" ({_esc(', '.join(m.name for m in found.models))}), "
                f"{len(found.workloads)} workloads, {len(found.placements)} placements.</p>"
            )
        return _page(
            "Lineage", form + summary + _chart(nonce, "graph", figure), nonce, token, request
        )

    @app.get("/ui/models", include_in_schema=False)
    def models_page(
        request: Request, ref: str | None = None, token: Token = allow("Resource/Registry/all")
    ) -> HTMLResponse:
        nonce = new_nonce()
        every = registry.list_versions(ws)
        readable = visible(guards, token)([f"ModelVersion/{v.ref}" for v in every])
        rows = [
            [
                f'<a href="/ui/models?ref={quote(v.ref)}">{_esc(v.ref)}</a>',
                _esc(v.state),
                _esc(v.record.get("risk_tier", "")),
                _esc(v.registered_by or ""),
            ]
            for v, ok in zip(every, readable, strict=True)
            if ok
        ]
        detail = ""
        if ref:
            try:
                d = registry.describe(ws, ref)
                require_visible(guards, token, f"ModelVersion/{d.version.ref}")
                history = [
                    [
                        e.ledger_index,
                        e.type,
                        e.principal or "keel",
                        e.at.isoformat(timespec="seconds"),
                    ]
                    for e in d.events
                ]
                detail = (
                    f"<h2>{_esc(d.version.ref)}: {_esc(d.version.state)}</h2>"
                    f"<p>Approvals {len(d.approvers)} of {d.approvals_needed}:"
                    f" {_esc(', '.join(d.approvers))}</p>"
                    + _table(["Ledger", "Event", "By", "At"], history)
                )
            except KeelError as error:
                detail = f'<p class="bad">{_esc(error.message)}</p>'
        body = detail + _table(
            ["Version", "State", "Risk", "Registered by"], rows, raw={0, 1, 2, 3}
        )
        return _page("Models", body, nonce, token, request)

    @app.get("/ui/monitors", include_in_schema=False)
    def monitors_page(
        request: Request, token: Token = allow("Resource/Monitor/all")
    ) -> HTMLResponse:
        nonce = new_nonce()
        parts = []
        for index, (name, (checked_at, result)) in enumerate(
            sorted(monitoring.latest_results(ws).items())
        ):
            drift = result.get("drift") or {}
            columns = drift.get("columns", [])
            figure = {
                "data": [
                    {
                        "type": "bar",
                        "name": "statistic",
                        "x": [c["column"] for c in columns],
                        "y": [c["statistic"] for c in columns],
                        "marker": {
                            "color": ["#c62828" if c["drifted"] else "#1f6feb" for c in columns]
                        },
                    },
                    {
                        "type": "scatter",
                        "mode": "markers",
                        "name": "threshold",
                        "x": [c["column"] for c in columns],
                        "y": [c["threshold"] for c in columns],
                    },
                ],
                "layout": {"margin": {"t": 10}, "yaxis": {"title": {"text": "drift statistic"}}},
            }
            conditions = [
                [c["key"], "FIRING" if c["firing"] else "ok", c["message"]]
                for c in result.get("conditions", [])
            ]
            parts.append(
                f"<h2>{_esc(name)} ({_esc(result.get('workload'))}):"
                f" {_esc(result.get('status'))}</h2>"
                f"<p>Checked {_esc(checked_at.isoformat(timespec='seconds'))},"
                f" {result.get('rows', 0):,} rows.</p>"
                + _chart(nonce, f"drift{index}", figure)
                + _table(["Condition", "State", "Message"], conditions)
            )
        alerts = [
            [a.monitor, a.condition, a.state, a.raised_at.isoformat(timespec="seconds")]
            for a in monitoring.alerts(ws, firing_only=False)
        ]
        body = "".join(parts) or "<p>No monitor has run yet: <code>keel monitor run</code>.</p>"
        body += "<h2>Alerts</h2>" + _table(["Monitor", "Condition", "State", "Raised"], alerts)
        return _page("Monitors", body, nonce, token, request)


def _cross_site() -> Response:
    body = {"error": {"code": "E-FORBIDDEN", "message": "a cross-site form post was refused"}}
    return JSONResponse(body, status_code=403, headers=security_headers())


def is_page(path: str) -> bool:
    """Whether a path is a dashboard page (unauthenticated visits go to the sign-in form)."""
    return path.startswith("/ui/") and not path.startswith("/ui/static/")
