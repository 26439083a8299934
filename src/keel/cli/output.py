"""Printing for people and machines: aligned tables, JSON, YAML, and errors."""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import typer
import yaml

from keel.errors import KeelError, UserError


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Format rows as a plain aligned table.

    Args:
        headers: Column titles.
        rows: Cell values; each is shown with ``str``.

    Returns:
        The table text, without a trailing newline.
    """
    cells = [[str(h) for h in headers], *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None or value == "" else str(value)


def dump_json(value: Any) -> str:
    """JSON for machines: indented, keys in insertion order, dates as ISO 8601.

    Args:
        value: JSON-compatible data (datetimes allowed).

    Returns:
        The text.
    """
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def machine(value: Any, output: str, **dump: Any) -> str:
    """A result for machines, as ``-o json`` or ``-o yaml`` asked.

    Args:
        value: A wire model, or JSON-compatible data.
        output: ``json`` or ``yaml``.
        **dump: Options of the model's dump (``exclude``, ``by_alias``, ``exclude_none``).

    Returns:
        The text (JSON indented by two; YAML in block style, keys in the model's order).
    """
    data = value.model_dump(mode="json", **dump) if hasattr(value, "model_dump") else value
    if output == "yaml":
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100).rstrip("\n")
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def dump_yaml_documents(documents: Sequence[Any]) -> str:
    """Multi-document YAML.

    Args:
        documents: One value per document.

    Returns:
        The text.
    """
    return yaml.safe_dump_all(documents, sort_keys=False, allow_unicode=True, width=100)


def report_error(error: BaseException) -> int:
    """Print an error the way every command does, and choose the exit code.

    Args:
        error: What went wrong.

    Returns:
        2 for errors the user can fix, 1 for internal ones.
    """
    debug = os.environ.get("KEEL_DEBUG") == "1"
    if debug:
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, KeelError):
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"error[{error.code}]: {error.message}", err=True)
        if error.hint:
            typer.echo(f"  hint: {error.hint}", err=True)
        return error.exit_code
    typer.echo(f"error[E-INTERNAL]: {type(error).__name__}: {error}", err=True)
    if not debug:
        typer.echo(
            "  hint: this is a bug in Keel; rerun with KEEL_DEBUG=1 for a traceback", err=True
        )
    return 1


def duration_s(text: str, option: str) -> int:
    """``15m``, ``1h``, ``2d`` or ``3600`` (seconds) as seconds.

    Args:
        text: The duration as written.
        option: The option it came from (named in the error).

    Raises:
        UserError: If it is not a whole number of seconds, minutes, hours or days.
    """
    match = re.fullmatch(r"(\d{1,7})([smhd]?)", text.strip())
    if match is None:
        raise UserError(f"{option} {text!r}: write 15m, 1h, 2d or seconds")
    return int(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}[match[2]]
