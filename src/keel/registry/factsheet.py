"""A model version's fact sheet, in the spirit of EU AI Act Annex IV technical documentation.

The service gathers the facts (registry, estate, lineage, ledger) into one JSON document; this
module renders it as Markdown or HTML. Rendering never invents a fact: a missing one prints as
"not recorded".
"""

from __future__ import annotations

import html
import json
from typing import Any

MISSING = "not recorded"

SECTIONS = (
    ("1. General description", "general"),
    ("2. Intended purpose and risk", "purpose"),
    ("3. Data and its lineage", "data"),
    ("4. Metrics and evaluations", "evaluations"),
    ("5. Human oversight and approvals", "oversight"),
    ("6. Lifecycle, with ledger entries", "lifecycle"),
)
"""The sheet's sections, after Annex IV's headings, and the JSON key of each."""


def _text(value: Any) -> str:
    if value is None or value in ("", [], {}):
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)


def _rows(
    section: dict[str, Any],
) -> tuple[list[str], list[list[str]]] | list[tuple[str, str]]:
    """A section's content: ``(columns, rows)`` for a table, ``(label, value)`` pairs else."""
    if "table" in section:
        return section["columns"], [[_text(c) for c in row] for row in section["table"]]
    return [(label, _text(value)) for label, value in section.items()]


def to_markdown(sheet: dict[str, Any]) -> str:
    """The fact sheet as Markdown.

    Args:
        sheet: The facts (see :func:`keel.service.registry.factsheet`).

    Returns:
        The Markdown text.
    """
    lines = [f"# Fact sheet: {sheet['model']}@{sheet['version']}", ""]
    lines.append(f"Generated {sheet['generated_at']} from the registry, lineage and ledger.")
    lines.append("")
    for title, key in SECTIONS:
        lines += [f"## {title}", ""]
        for part in _parts(sheet, key):
            rows = _rows(part)
            if isinstance(rows, tuple):
                columns, body = rows
                lines.append("| " + " | ".join(columns) + " |")
                lines.append("|" + "---|" * len(columns))
                lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in body]
            else:
                lines += [f"- **{label}**: {value}" for label, value in rows]
            lines.append("")
    lines += ["## Ledger checkpoint", "", "```", sheet["checkpoint"].rstrip(), "```", ""]
    return "\n".join(lines)


def _parts(sheet: dict[str, Any], key: str) -> list[Any]:
    section = sheet[key]
    return section if isinstance(section, list) else [section]


def to_html(sheet: dict[str, Any]) -> str:
    """The fact sheet as a standalone HTML page (no scripts, no external resources).

    Args:
        sheet: The facts.

    Returns:
        The HTML text.
    """
    esc = html.escape
    title = f"Fact sheet: {sheet['model']}@{sheet['version']}"
    body = [f"<h1>{esc(title)}</h1>", f"<p>Generated {esc(sheet['generated_at'])}.</p>"]
    for heading, key in SECTIONS:
        body.append(f"<h2>{esc(heading)}</h2>")
        for part in _parts(sheet, key):
            rows = _rows(part)
            if isinstance(rows, tuple):
                columns, cells = rows
                head = "".join(f"<th>{esc(c)}</th>" for c in columns)
                trs = "".join(
                    "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in cells
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{trs}</tbody></table>")
            else:
                items = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in rows)
                body.append(f"<dl>{items}</dl>")
    body.append(f"<h2>Ledger checkpoint</h2><pre>{esc(sheet['checkpoint'])}</pre>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
        "text-align:left}dt{font-weight:600}pre{background:#f4f4f4;padding:.5rem}"
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{esc(title)}</title><style>{style}</style></head><body>"
        + "".join(body)
        + "</body></html>\n"
    )


def to_json(sheet: dict[str, Any]) -> str:
    """The fact sheet as JSON.

    Args:
        sheet: The facts.

    Returns:
        Indented JSON text.
    """
    return json.dumps(sheet, indent=2, default=str) + "\n"
