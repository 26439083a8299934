"""Plotly figures for the dashboard, built from wire models (drawn by plotly.js in the page)."""

from __future__ import annotations

from datetime import datetime, timedelta

from keel import wire

COLOURS = {
    "dataset": "#1f6feb",
    "job": "#8b949e",
    "model": "#d29922",
    "workload": "#2da44e",
}
"""Lineage colours per node kind (each kind is a legend entry)."""


SITE_COLOURS = {
    "on_prem": "#1f6feb",
    "private_cloud": "#8250df",
    "public_cloud": "#d29922",
    "edge": "#2da44e",
}
"""Map colours per site kind."""


def site_values(site: wire.Resource) -> wire.JsonObject:
    """A site's values as Keel resolved them (country, location, PUE... from catalogs).

    A public-cloud site usually declares only its provider and region; the country and the
    location come from the region catalog, so the dashboard reads the resolved values and falls
    back to the spec only for a resource stored before Keel resolved any.
    """
    resolved = site.status.resolved
    if resolved:
        return resolved
    values = dict(site.spec)
    location = values.get("location")
    if isinstance(location, dict):
        values.update(latitude=location.get("latitude"), longitude=location.get("longitude"))
    return values


def site_devices(site: wire.Resource) -> int:
    """How many accelerators a site's pools hold."""
    pools = site_values(site).get("pools")
    if not isinstance(pools, list):
        return 0
    return sum(
        int(count)
        for pool in pools
        if isinstance(pool, dict) and isinstance(count := pool.get("count"), int)
    )


def sites_figure(sites: list[wire.Resource], used: dict[str, int]) -> wire.JsonObject:
    """Sites on a world map: coloured by kind, sized by the share of their devices in use.

    The basemap is Natural Earth 1:110m, served by Keel (``/ui/static/topojson/``) so the map
    draws offline. A site without a resolved location is left off the map (the table below it
    still lists it).
    """
    traces: list[wire.JsonValue] = []
    for kind, colour in SITE_COLOURS.items():
        of_kind = [s for s in sites if site_values(s).get("kind") == kind]
        lon: list[wire.JsonValue] = []
        lat: list[wire.JsonValue] = []
        names: list[wire.JsonValue] = []
        hover: list[wire.JsonValue] = []
        size: list[wire.JsonValue] = []
        for site in of_kind:
            values = site_values(site)
            if values.get("longitude") is None or values.get("latitude") is None:
                continue
            devices = site_devices(site)
            in_use = used.get(site.name, 0)
            share = in_use / devices if devices else 0.0
            lon.append(values.get("longitude"))
            lat.append(values.get("latitude"))
            names.append(site.name)
            hover.append(
                f"<b>{site.name}</b> ({kind.replace('_', ' ')}, {values.get('country') or '?'})"
                f"<br>{in_use:,} of {devices:,} devices in use ({share:.0%})"
                f"<br>PUE {values.get('pue', '?')},"
                f" grid {values.get('carbon_intensity_gco2e_per_kwh', '?')} gCO2e/kWh"
            )
            size.append(10 + 30 * min(share, 1.0))
        if not names:
            continue
        traces.append(
            {
                "type": "scattergeo",
                "name": kind.replace("_", " "),
                "lon": lon,
                "lat": lat,
                "text": names,
                "hovertext": hover,
                "hoverinfo": "text",
                "mode": "markers+text",
                "textposition": "top center",
                "marker": {
                    "size": size,
                    "color": colour,
                    "opacity": 0.85,
                    "line": {"width": 1, "color": "#ffffff"},
                },
            }
        )
    return {
        "data": traces,
        "layout": {
            "geo": {
                "projection": {"type": "natural earth"},
                "showland": True,
                "landcolor": "#eef1f4",
                "showcountries": True,
                "countrycolor": "#c9d1d9",
                "showocean": True,
                "oceancolor": "#f8fafc",
                "lataxis": {"range": [-55, 75]},
            },
            "legend": {"title": {"text": "site kind (size: devices in use)"}},
            "margin": {"l": 0, "r": 0, "t": 10, "b": 0},
            "height": 460,
        },
    }


def _label(node: wire.Node) -> str:
    if node.namespace == "keel":
        return f"{node.kind}:{node.name}"
    return f"{node.kind}:{node.namespace}/{node.name}"


MAX_ARROWS = 400
"""Edges drawn as arrows; a larger graph draws plain lines (annotations are slow in bulk)."""


def lineage_figure(view: wire.LineageView, impact: wire.Impact | None) -> wire.JsonObject:
    """A downstream walk laid out by depth, arrows along the flow, the impact ringed in red.

    Columns are whole depths (edges from the start); a trace per node kind gives the legend;
    labels alternate above and below their markers and are never clipped at the plot's edge.
    """
    hit = set(impact.model_versions + impact.workloads) if impact else set()
    hit |= {name.split(":", 1)[-1] for name in impact.derived_datasets} if impact else set()
    position: dict[str, tuple[int, int]] = {}
    per_depth: dict[int, int] = {}
    for node in view.nodes:
        depth = node.depth or 0
        position[_label(node)] = (depth, -per_depth.get(depth, 0))
        per_depth[depth] = per_depth.get(depth, 0) + 1
    pairs = [
        (position[e.source], position[e.to])
        for e in view.edges
        if e.source in position and e.to in position
    ]
    traces: list[wire.JsonValue] = []
    arrows: list[wire.JsonValue] = []
    if len(pairs) <= MAX_ARROWS:
        arrows = [
            {"x": x1, "y": y1, "ax": x0, "ay": y0, "xref": "x", "yref": "y", "axref": "x",
             "ayref": "y", "showarrow": True, "arrowhead": 2, "arrowsize": 1.2,
             "arrowwidth": 1.2, "arrowcolor": "#8b949e", "standoff": 9, "startstandoff": 7,
             "text": ""}
            for (x0, y0), (x1, y1) in pairs
        ]  # fmt: skip
    else:
        xs: list[wire.JsonValue] = []
        ys: list[wire.JsonValue] = []
        for (x0, y0), (x1, y1) in pairs:
            xs += [x0, x1, None]
            ys += [y0, y1, None]
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines",
                       "hoverinfo": "skip", "showlegend": False,
                       "line": {"color": "#c9d1d9"}})  # fmt: skip
    kinds = [*COLOURS, *sorted({n.kind for n in view.nodes} - set(COLOURS))]
    for kind in kinds:
        nodes = [n for n in view.nodes if n.kind == kind]
        if not nodes:
            continue
        colour = COLOURS.get(kind, "#6e7781")
        labels = [_label(n) for n in nodes]
        ringed = [n.name in hit for n in nodes]
        texts: list[wire.JsonValue] = list(labels)
        traces.append(
            {
                "type": "scatter",
                "name": kind.replace("_", " "),
                "mode": "markers+text",
                "x": [position[label][0] for label in labels],
                "y": [position[label][1] for label in labels],
                "text": texts,
                "textposition": [
                    "top center" if position[label][1] % 2 == 0 else "bottom center"
                    for label in labels
                ],
                "cliponaxis": False,
                "hovertext": [
                    f"{label} (depth {position[label][0]}){' - impacted' if r else ''}"
                    for label, r in zip(labels, ringed, strict=True)
                ],
                "hoverinfo": "text",
                "marker": {
                    "size": [18 if r else 12 for r in ringed],
                    "color": colour,
                    "line": {"width": [3 if r else 0 for r in ringed], "color": "#c62828"},
                },
            }
        )
    deepest = max(per_depth, default=0)
    tallest = max(per_depth.values(), default=1)
    return {
        "data": traces,
        "layout": {
            "annotations": arrows,
            "legend": {"title": {"text": "node kind (red ring: impacted)"}},
            "xaxis": {
                "title": {"text": "depth (edges from the start)"},
                "tickmode": "linear",
                "dtick": 1,
                "tick0": 0,
                "range": [-0.6, deepest + 0.6],
                "zeroline": False,
            },
            "yaxis": {"visible": False, "range": [-tallest + 0.4, 0.8]},
            "margin": {"t": 30, "l": 40, "r": 40, "b": 50},
            "height": max(360, 70 * tallest + 120),
        },
    }


def drift_figure(result: wire.JsonObject) -> wire.JsonObject:
    """Each column's drift statistic against its threshold (drifted columns in red)."""
    drift = result.get("drift")
    columns = drift.get("columns") if isinstance(drift, dict) else None
    rows = [c for c in columns if isinstance(c, dict)] if isinstance(columns, list) else []
    names: list[wire.JsonValue] = [c.get("column") for c in rows]
    return {
        "data": [
            {
                "type": "bar",
                "name": "statistic",
                "x": names,
                "y": [c.get("statistic") for c in rows],
                "marker": {"color": ["#c62828" if c.get("drifted") else "#1f6feb" for c in rows]},
            },
            {
                "type": "scatter",
                "mode": "markers",
                "name": "threshold",
                "x": names,
                "y": [c.get("threshold") for c in rows],
            },
        ],
        "layout": {"margin": {"t": 10}, "yaxis": {"title": {"text": "drift statistic"}}},
    }


STATE_COLOURS = {
    "submitting": "#9e9e9e",
    "pending": "#f9a825",
    "running": "#1f6feb",
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "rejected": "#6a1b9a",
    "cancelled": "#616161",
    "unknown": "#ff7043",
}


FINAL = ("succeeded", "failed", "cancelled", "rejected")


def runs_figure(runs: list[wire.Run], now: datetime) -> wire.JsonObject:
    """Each run's states over time: one row per run, one bar per state it was in."""
    spans: dict[str, dict[str, list[wire.JsonValue]]] = {}
    for run in runs:
        label = f"{run.workload}#{run.replica} @ {run.site}"
        steps = list(run.history)
        for index, step in enumerate(steps):
            end = steps[index + 1].at if index + 1 < len(steps) else None
            if end is None:
                end = run.finished_at if step.state in FINAL else now
            if end is None or end < step.at:
                continue
            found = spans.setdefault(step.state, {"y": [], "x": [], "base": []})
            found["y"].append(label)
            found["x"].append(max((end - step.at).total_seconds() * 1000, 300.0))
            found["base"].append(step.at.isoformat())
    data: list[wire.JsonValue] = [
        {
            "type": "bar",
            "orientation": "h",
            "name": state,
            "y": values["y"],
            "x": values["x"],
            "base": values["base"],
            "marker": {"color": STATE_COLOURS.get(state, "#999999")},
        }
        for state, values in spans.items()
    ]
    rows = len({f"{r.workload}#{r.replica} @ {r.site}" for r in runs})
    return {
        "data": data,
        "layout": {
            "barmode": "overlay",
            "xaxis": {"type": "date", "title": {"text": "time (UTC)"}},
            "yaxis": {"automargin": True, "autorange": "reversed"},
            "margin": {"t": 10},
            "height": max(240, 22 * rows + 120),
        },
    }


def readiness_trend(points: list[wire.TrendPoint]) -> wire.JsonObject:
    """The measured readiness and maturity indices and the declared one, per assessment."""
    series = (("readiness", "#1f6feb"), ("maturity", "#2da44e"), ("declared", "#d29922"))
    data: list[wire.JsonValue] = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": name + (" (declared)" if name == "declared" else " (measured)"),
            "x": [p.at.isoformat() for p in points],
            "y": [getattr(p, name) for p in points],
            "line": {"color": colour, "dash": "dot" if name == "declared" else "solid"},
        }
        for name, colour in series
    ]
    return {
        "data": data,
        "layout": {
            "xaxis": {"type": "date", "title": {"text": "assessed at (UTC)"}},
            "yaxis": {"range": [0, 100], "title": {"text": "index (0-100)"}},
            "margin": {"t": 10},
            "height": 320,
        },
    }


def decisions_figure(found: wire.DecisionSummary) -> wire.JsonObject:
    """Decisions per model version, stacked by outcome."""
    outcomes = sorted({o for m in found.models for o in m.outcomes})
    models = [m.model for m in found.models]
    data: list[wire.JsonValue] = [
        {
            "type": "bar",
            "name": outcome or "(pruned or unlabelled)",
            "x": list(models),
            "y": [m.outcomes.get(outcome, 0) for m in found.models],
        }
        for outcome in outcomes
    ]
    return {
        "data": data,
        "layout": {
            "barmode": "stack",
            "yaxis": {"title": {"text": "decisions"}},
            "margin": {"t": 10},
            "height": 320,
        },
    }


def schedule_figure(schedule: wire.Schedule) -> wire.JsonObject:
    """A plan over a horizon: each site's hourly intensity, and the jobs' runs beneath it.

    The top panel draws one line per site that runs a job (a fallback site's line is flat:
    its annual figure), and, for a plan that priced electricity by the hour, each such site's
    price as a dotted line on its own axis; the bottom one a bar per run, from its start to its
    end, in its site's line colour.
    """
    used = {r.site for r in schedule.runs if r.site is not None}
    start = datetime.fromisoformat(schedule.start)
    hours: list[wire.JsonValue] = [
        (start + timedelta(hours=h)).isoformat().replace("+00:00", "Z")
        for h in range(schedule.hours)
    ]
    data: list[wire.JsonValue] = []
    colours: dict[str, str] = {}
    for index, signal in enumerate(s for s in schedule.signals if s.site in used):
        colours[signal.site] = PALETTE[index % len(PALETTE)]
        source = "annual figure" if signal.source == "annual figure" else signal.zone
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "line": {"shape": "hv", "color": colours[signal.site]},
                "name": f"{signal.site} ({source})",
                "x": hours,
                "y": list(signal.intensity_g_per_kwh),
                "yaxis": "y",
            }
        )
        if signal.price_usd_per_mwh is not None:
            data.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "line": {"shape": "hv", "color": colours[signal.site], "dash": "dot"},
                    "name": f"{signal.site} price ({signal.zone})",
                    "x": hours,
                    "y": list(signal.price_usd_per_mwh),
                    "yaxis": "y3",
                }
            )
    for run in schedule.runs:
        if run.start is None or run.end is None or run.site is None:
            continue
        begins, ends = datetime.fromisoformat(run.start), datetime.fromisoformat(run.end)
        data.append(
            {
                "type": "bar",
                "orientation": "h",
                "showlegend": False,
                "name": run.why,
                "y": [f"{run.workload}#{run.replica}"],
                "x": [(ends - begins).total_seconds() * 1000],
                "base": [run.start],
                "marker": {"color": colours.get(run.site, "#999999")},
                "hovertext": [run.why],
                "hoverinfo": "text",
                "yaxis": "y2",
            }
        )
    rows = sum(1 for r in schedule.runs if r.start is not None)
    layout: wire.JsonObject = {
        "xaxis": {"type": "date", "title": {"text": "time (UTC)"}},
        "yaxis": {"domain": [0.55, 1], "title": {"text": "gCO2e/kWh"}},
        "yaxis2": {"domain": [0, 0.45], "automargin": True, "autorange": "reversed"},
        "margin": {"t": 10},
        "height": max(420, 22 * rows + 300),
    }
    if any(s.price_usd_per_mwh is not None for s in schedule.signals if s.site in used):
        layout["yaxis3"] = {"overlaying": "y", "side": "right", "title": {"text": "USD/MWh"}}
    return {"data": data, "layout": layout}


PALETTE = ("#1f6feb", "#d29922", "#2da44e", "#8250df", "#cf222e", "#0a7ea4", "#bf8700")
"""Line colours for sites, in turn."""


def agent_calls_figure(found: wire.AgentCalls) -> wire.JsonObject:
    """An agent's tool calls per hour, stacked by decision."""
    hours: dict[str, dict[str, int]] = {}
    for call in found.calls:
        hour = call.at.strftime("%Y-%m-%d %H:00")
        by = hours.setdefault(hour, {})
        by[call.decision] = by.get(call.decision, 0) + 1
    order = sorted(hours)
    colours = {"allow": "#2e7d32", "redact": "#f9a825", "block": "#c62828"}
    data: list[wire.JsonValue] = [
        {
            "type": "bar",
            "name": decision,
            "x": list(order),
            "y": [hours[h].get(decision, 0) for h in order],
            "marker": {"color": colour},
        }
        for decision, colour in colours.items()
    ]
    return {
        "data": data,
        "layout": {
            "barmode": "stack",
            "yaxis": {"title": {"text": "tool calls per hour"}},
            "margin": {"t": 10},
            "height": 280,
        },
    }
