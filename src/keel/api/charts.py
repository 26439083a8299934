"""Plotly figures for the dashboard, built from wire models (drawn by plotly.js in the page)."""

from __future__ import annotations

from keel import wire

COLOURS = {"dataset": "#1f6feb", "job": "#8b949e", "model": "#d29922", "workload": "#2da44e"}


def site_devices(site: wire.Resource) -> int:
    """How many accelerators a site's pools hold."""
    pools = site.spec.get("pools")
    if not isinstance(pools, list):
        return 0
    return sum(
        int(count)
        for pool in pools
        if isinstance(pool, dict) and isinstance(count := pool.get("count"), int)
    )


def sites_figure(sites: list[wire.Resource], used: dict[str, int]) -> wire.JsonObject:
    """Sites on longitude/latitude axes, sized by the share of their devices in use.

    Plain axes, not a geo map: plotly's world outlines come from a CDN, and the dashboard must
    work offline.
    """
    lon: list[wire.JsonValue] = []
    lat: list[wire.JsonValue] = []
    names: list[wire.JsonValue] = []
    hover: list[wire.JsonValue] = []
    size: list[wire.JsonValue] = []
    for site in sites:
        location = site.spec.get("location")
        if not isinstance(location, dict):
            continue
        devices = site_devices(site)
        share = used.get(site.name, 0) / devices if devices else 0.0
        lon.append(location.get("longitude"))
        lat.append(location.get("latitude"))
        names.append(site.name)
        hover.append(f"{site.name}: {share:.0%} of {devices} devices")
        size.append(10 + 30 * min(share, 1.0))
    marker: wire.JsonObject = {"size": size, "color": "#1f6feb", "opacity": 0.8}
    return {
        "data": [
            {
                "type": "scatter",
                "x": lon,
                "y": lat,
                "text": names,
                "hovertext": hover,
                "mode": "markers+text",
                "textposition": "top center",
                "marker": marker,
            }
        ],
        "layout": {
            "xaxis": {"range": [-180, 180], "title": {"text": "longitude"}},
            "yaxis": {"range": [-60, 75], "title": {"text": "latitude"}},
            "margin": {"l": 50, "r": 10, "t": 10, "b": 40},
        },
    }


def _label(node: wire.Node) -> str:
    if node.namespace == "keel":
        return f"{node.kind}:{node.name}"
    return f"{node.kind}:{node.namespace}/{node.name}"


def lineage_figure(view: wire.LineageView, impact: wire.Impact | None) -> wire.JsonObject:
    """A lineage walk laid out by depth, the nodes an impact reaches ringed in red."""
    hit = set(impact.model_versions + impact.workloads) if impact else set()
    hit |= {name.split(":", 1)[-1] for name in impact.derived_datasets} if impact else set()
    position: dict[str, tuple[int, int]] = {}
    per_depth: dict[int, int] = {}
    for node in view.nodes:
        depth = node.depth or 0
        position[_label(node)] = (depth, per_depth.get(depth, 0))
        per_depth[depth] = per_depth.get(depth, 0) + 1
    xs: list[wire.JsonValue] = []
    ys: list[wire.JsonValue] = []
    for edge in view.edges:
        if edge.source in position and edge.to in position:
            (x0, y0), (x1, y1) = position[edge.source], position[edge.to]
            xs += [x0, x1, None]
            ys += [y0, y1, None]
    labels: list[str] = [_label(n) for n in view.nodes]
    texts: list[wire.JsonValue] = list(labels)
    ringed = [n.name in hit for n in view.nodes]
    marker: wire.JsonObject = {
        "size": [18 if r else 10 for r in ringed],
        "color": [COLOURS.get(n.kind, "#000") for n in view.nodes],
        "line": {"width": [3 if r else 0 for r in ringed], "color": "#c62828"},
    }
    return {
        "data": [
            {"type": "scatter", "x": xs, "y": ys, "mode": "lines", "hoverinfo": "skip",
             "line": {"color": "#c9d1d9"}},
            {"type": "scatter", "mode": "markers+text", "textposition": "top center",
             "x": [position[label][0] for label in labels],
             "y": [position[label][1] for label in labels],
             "text": texts, "marker": marker},
        ],
        "layout": {
            "showlegend": False,
            "xaxis": {"title": {"text": "depth"}},
            "yaxis": {"visible": False},
            "margin": {"t": 10},
        },
    }  # fmt: skip


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
