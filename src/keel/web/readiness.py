"""Readiness drawn for people: the radar of sub-scores as SVG, and a standalone HTML report.

Both the dashboard page and ``keel readiness -o html`` use these, from the wire model, so a
report made over ``--server`` looks like one made locally. The SVG uses presentation
attributes only (no inline style), so the dashboard's content security policy allows it.
"""

from __future__ import annotations

import math
from html import escape

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from keel import wire

SIZE = 420
"""The radar's height in pixels."""

WIDTH = 760
"""Its width: room for the labels either side."""

_COLOURS = {"measured": "#1f6feb", "declared": "#d29922"}


def _point(index: int, count: int, radius: float) -> tuple[float, float]:
    angle = -math.pi / 2 + 2 * math.pi * index / count
    return WIDTH / 2 + radius * math.cos(angle), SIZE / 2 + radius * math.sin(angle)


def radar_svg(scores: list[wire.ReadinessScore]) -> Markup:
    """A radar of every sub-score (0-100); declared ones are drawn as their own series.

    Args:
        scores: The sub-scores, in the order to draw them clockwise from the top.

    Returns:
        SVG markup (safe to put in a page; labels are escaped).
    """
    count = len(scores)
    if count < 3:
        return Markup("")
    outer = SIZE / 2 - 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {SIZE}" width="{WIDTH}"'
        f' height="{SIZE}" role="img" aria-label="readiness radar">'
    ]
    for ring in (25, 50, 75, 100):
        corners = " ".join(
            f"{x:.1f},{y:.1f}"
            for x, y in (_point(i, count, outer * ring / 100) for i in range(count))
        )
        parts.append(f'<polygon points="{corners}" fill="none" stroke="#d0d7de"/>')
    for i, score in enumerate(scores):
        x, y = _point(i, count, outer)
        parts.append(
            f'<line x1="{WIDTH / 2}" y1="{SIZE / 2}" x2="{x:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>'
        )
        lx, ly = _point(i, count, outer + 18)
        anchor = "middle" if abs(lx - WIDTH / 2) < 10 else ("start" if lx > WIDTH / 2 else "end")
        value = "n/a" if score.value is None else f"{score.value:.0f}"
        parts.append(
            f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="11" text-anchor="{anchor}"'
            f' fill="{_COLOURS[score.source]}">{escape(score.label)} {value}</text>'
        )
    for source, colour in _COLOURS.items():
        corners = " ".join(
            f"{x:.1f},{y:.1f}"
            for x, y in (
                _point(i, count, outer * (s.value or 0) / 100 if s.source == source else 0)
                for i, s in enumerate(scores)
            )
        )
        if any(s.source == source and s.value is not None for s in scores):
            parts.append(
                f'<polygon points="{corners}" fill="{colour}" fill-opacity="0.25"'
                f' stroke="{colour}" stroke-width="2"><title>{source}</title></polygon>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


_ENV = Environment(
    loader=PackageLoader("keel.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def report_html(found: wire.Readiness) -> str:
    """A standalone HTML report of an assessment (no script, no external asset).

    Args:
        found: The assessment.

    Returns:
        The page.
    """
    template = _ENV.get_template("readiness_report.html")
    return template.render(r=found, radar=radar_svg(found.scores))
