"""Capacity advice drawn for people: plotly figures and a standalone HTML report.

The dashboard's capacity page and ``keel capacity advise --report`` use the same figures, from
the stored advice (plain JSON), so a report looks like the page. The report embeds plotly.js
from the installed package: it opens offline, with no CDN.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from keel import wire

_ENV = Environment(loader=PackageLoader("keel.web"), autoescape=select_autoescape())

_COLOURS = {"keel": "#1f6feb", "on_prem_first": "#d29922", "all_on_demand": "#cf222e"}
NAMES = {
    "today": "today",
    "keel": "Keel",
    "on_prem_first": "on-premises first",
    "all_on_demand": "all on demand",
}


def _times(advice: dict[str, Any], first: int, count: int) -> list[Any]:
    if advice.get("first") is None:
        return list(range(first, first + count))
    start = datetime.fromisoformat(str(advice["first"]).replace("Z", "+00:00"))
    step = timedelta(seconds=int(advice["step_s"]))
    return [(start + step * (first + k)).isoformat() for k in range(count)]


def demand_figure(advice: dict[str, Any], pool_type: dict[str, Any]) -> dict[str, Any]:
    """Devices in use over the trace, the forecast with its band, and the recommended levels."""
    history = pool_type["history"]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "name": "in use", "x": _times(advice, 0, len(history)),
         "y": history, "line": {"color": "#57606a"}},
    ]  # fmt: skip
    band = pool_type.get("forecast")
    end = len(history)
    if band:
        x = _times(advice, len(history), len(band["mean"]))
        end += len(band["mean"])
        data += [
            {"type": "scatter", "mode": "lines", "name": f"{advice['level']}% high", "x": x,
             "y": band["high"], "line": {"width": 0}, "showlegend": False},
            {"type": "scatter", "mode": "lines", "name": f"{advice['level']}% interval", "x": x,
             "y": band["low"], "fill": "tonexty", "fillcolor": "rgba(31,111,235,0.2)",
             "line": {"width": 0}},
            {"type": "scatter", "mode": "lines", "name": "forecast", "x": x, "y": band["mean"],
             "line": {"color": "#1f6feb"}},
        ]  # fmt: skip
    best = pool_type.get("recommended")
    if best is not None:
        span = _times(advice, 0, end)
        for level, name, dash in ((best["owned"], "owned (advised)", "solid"),
                                  (best["owned"] + best["reserved"],
                                   "owned + reserved (advised)", "dash")):  # fmt: skip
            data.append({"type": "scatter", "mode": "lines", "name": name,
                         "x": [span[0], span[-1]], "y": [level, level],
                         "line": {"color": "#1a7f37", "dash": dash}})  # fmt: skip
    return {
        "data": data,
        "layout": {
            "title": {"text": f"{pool_type['accelerator']}: devices in use"},
            "yaxis": {"title": {"text": "devices"}, "rangemode": "tozero"},
            "height": 340,
            "margin": {"t": 40, "b": 40, "l": 60, "r": 20},
        },
    }


def frontier_figure(pool_type: dict[str, Any]) -> dict[str, Any]:
    """Cost against carbon per month: the frontier, the advised mix and the baselines.

    Every point prices this pool type on its own; a mix that leaves demand it cannot serve
    alone (the rest moves to other pool types in the replay) is not drawn.
    """
    front = pool_type["frontier"]
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines+markers", "name": "frontier",
         "x": [m["usd_per_month"] for m in front], "y": [m["kgco2e_per_month"] for m in front],
         "text": [f"own {m['owned']}, reserve {m['reserved']}" for m in front],
         "line": {"color": "#8c959f"}},
    ]  # fmt: skip
    marks = {"keel": pool_type.get("recommended"), **pool_type["baselines"]}
    for name, mix in marks.items():
        if mix is None or mix["unserved_devices_mean"] > 0:
            continue  # this pool type alone cannot serve the demand so: no point to draw
        data.append({"type": "scatter", "mode": "markers", "name": NAMES[name],
                     "x": [mix["usd_per_month"]], "y": [mix["kgco2e_per_month"]],
                     "text": [f"own {mix['owned']}, reserve {mix['reserved']}"],
                     "marker": {"size": 12, "color": _COLOURS[name]}})  # fmt: skip
    return {
        "data": data,
        "layout": {
            "title": {"text": f"{pool_type['accelerator']}: cost and carbon of each mix"},
            "xaxis": {"title": {"text": "USD per month"}},
            "yaxis": {"title": {"text": "kgCO2e per month"}},
            "height": 340,
            "margin": {"t": 40, "b": 50, "l": 70, "r": 20},
        },
    }


def figures(advice: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every figure of an advice run, with an element id each."""
    found = []
    for k, pool_type in enumerate(advice["pool_types"]):
        found.append((f"demand{k}", demand_figure(advice, pool_type)))
        if pool_type["frontier"]:
            found.append((f"frontier{k}", frontier_figure(pool_type)))
    return found


def advice_html(found: wire.CapacityAdvice) -> str:
    """A standalone HTML report of an advice run (plotly.js embedded, no external asset)."""
    from plotly.offline import get_plotlyjs

    advice = found.model_dump(mode="json")
    return _ENV.get_template("capacity_report.html").render(
        a=advice, figures=figures(advice), names=NAMES, plotly=get_plotlyjs()
    )
