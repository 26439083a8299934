"""A self-contained HTML drift report.

A table of every column, and for each drifted column both distributions as a plotly chart.
plotly.js is inlined from the installed package (no CDN), so the report opens offline.
"""

from __future__ import annotations

import html

import numpy as np

from keel.monitor.drift import ColumnDrift, DriftReport
from keel.monitor.sketch import (
    CategoricalSketch,
    ColumnSketch,
    DatasetSketch,
    Floats,
    NumericSketch,
)

MAX_CATEGORIES_SHOWN = 30


def _shares(
    reference: ColumnSketch, current: ColumnSketch
) -> tuple[list[str], list[float], list[float]]:
    if isinstance(reference, CategoricalSketch) and isinstance(current, CategoricalSketch):
        keys = [k for k, _ in (reference.counts + current.counts).most_common(MAX_CATEGORIES_SHOWN)]
        return (
            keys,
            [reference.counts.get(k, 0) / reference.n for k in keys],
            [current.counts.get(k, 0) / current.n for k in keys],
        )
    assert isinstance(reference, NumericSketch)
    assert isinstance(current, NumericSketch)
    edges = np.linspace(
        min(reference.minimum, current.minimum), max(reference.maximum, current.maximum), 31
    )
    labels = [f"{edges[i]:.3g}" for i in range(30)]
    return labels, np.diff(_cdf(reference, edges)).tolist(), np.diff(_cdf(current, edges)).tolist()


def _cdf(sketch: NumericSketch, edges: Floats) -> Floats:
    below = sketch.cdf(edges)
    below[0], below[-1] = 0.0, 1.0
    return below


def _row(c: ColumnDrift) -> str:
    decision = "drift" if c.drifted else "no drift"
    cells = [
        html.escape(c.column),
        c.type,
        c.method,
        f"{c.statistic:.4g}",
        f"{c.threshold:g}",
        decision,
        "exact" if c.exact else "sketch",
    ]
    css = "drift" if c.drifted else "ok"
    return f"<tr class={css}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def render(report: DriftReport, reference: DatasetSketch, current: DatasetSketch) -> str:
    """The report as one HTML page.

    Args:
        report: The drift report.
        reference: The reference sketch.
        current: The window's sketch.

    Returns:
        HTML text.
    """
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    rows = "".join(_row(c) for c in report.columns)
    problems = "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
        for k, v in sorted(report.problems.items())
    )
    charts = []
    for c in report.columns:
        if not c.drifted:
            continue
        labels, ref, cur = _shares(reference.columns[c.column], current.columns[c.column])
        figure = go.Figure(
            [go.Bar(name="reference", x=labels, y=ref), go.Bar(name="current", x=labels, y=cur)]
        )
        figure.update_layout(
            title=f"{c.column}: {c.method} {c.statistic:.4g} (threshold {c.threshold:g})",
            barmode="group",
            yaxis_title="share",
            height=360,
        )
        charts.append(figure.to_html(full_html=False, include_plotlyjs=False))
    verdict = "dataset drift" if report.dataset_drift else "no dataset drift"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Keel drift report</title>
<script>{get_plotlyjs()}</script>
<style>body{{font-family:system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}tr.drift td{{background:#fde2e1}}</style></head>
<body><h1>Drift report: {verdict}</h1>
<p>{sum(c.drifted for c in report.columns)} of {len(report.columns)} columns drifted
(share {report.drifted_share:.2f}; dataset drift at {report.drift_share:.2f}).
Reference sketch {html.escape(report.reference_digest)}.</p>
<table><tr><th>column</th><th>type</th><th>method</th><th>statistic</th><th>threshold</th>
<th>decision</th><th>from</th></tr>{rows}</table>
{"<h2>Not tested</h2><ul>" + problems + "</ul>" if problems else ""}
<h2>Drifted columns</h2>{"".join(charts) or "<p>none</p>"}
</body></html>
"""
