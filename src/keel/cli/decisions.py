"""``keel decisions``: model decision records in, and what a regulator or a customer asks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from keel import progress
from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table
from keel.errors import UserError
from keel.operations import MAX_DECISIONS

if TYPE_CHECKING:
    from keel import wire

app = typer.Typer(help="Model decision records: record, find, prove, summarise, prune, erase.")

MAX_FILE_BYTES = 1 << 30
"""Largest records file read."""


def _records(path: Path) -> list[Any]:
    """The records of a JSON-lines file or of a JSON array."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise UserError(f"{path} is over {MAX_FILE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    if text.lstrip().startswith("["):
        try:
            found = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: not JSON: {exc}") from exc
        return list(found)
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{number}: not JSON: {exc.msg}") from exc
    return records


@app.command()
def record(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="Records: JSON lines, or one JSON array.")],
    output: Out = Format.table,
) -> None:
    """Store decision records from a file, in batches of up to 10,000 (each all or none)."""
    records = _records(path)
    if not records:
        raise UserError(f"{path} holds no records")
    ops = state(ctx).ops()
    stored = duplicates = 0
    last: wire.DecisionsRecorded | None = None
    with progress.step(f"sending {len(records):,} records", len(records)) as advance:
        for start in range(0, len(records), MAX_DECISIONS):
            chunk = records[start : start + MAX_DECISIONS]
            last = ops.record_decisions(chunk)
            stored, duplicates = stored + last.stored, duplicates + last.duplicates
            advance(len(chunk))
    assert last is not None
    if output is not Format.table:
        typer.echo(machine(last.model_copy(update={"stored": stored, "duplicates": duplicates}),
                           output))  # fmt: skip
        return
    typer.echo(
        f"stored {stored} records ({duplicates} already held); the ledger holds {last.size} entries"
    )


def _content(found: wire.Decision) -> str:
    if found.content is None:
        return f"<{found.gone or 'gone'}>"
    return json.dumps(found.content.output, separators=(",", ":"))[:60]


def _print(found: list[wire.Decision]) -> None:
    rows = [
        [d.id, d.model, d.workload or "-", d.decided_at.isoformat(timespec="seconds"),
         d.ledger_index, _content(d)]
        for d in found
    ]  # fmt: skip
    typer.echo(table(["ID", "MODEL", "WORKLOAD", "DECIDED AT", "LEDGER", "OUTPUT"], rows))


@app.command()
def show(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    output: Out = Format.table,
) -> None:
    """One record, its content opened while held (an admin's read)."""
    found = state(ctx).ops().decision_record(record_id)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    _print([found])
    if found.content is not None:
        typer.echo(f"explanation: {json.dumps(found.content.explanation)}")
    typer.echo(f"content kept until {found.expires_at.isoformat(timespec='seconds')}")


@app.command()
def sheet(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    output: Out = Format.table,
) -> None:
    """One decision in context: model version, approvals, training data, monitors then."""
    found = state(ctx).ops().decision_sheet(record_id)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    decision = found.decision
    _print([decision])
    typer.echo(
        f"model version {decision.model}: {found.state or 'not registered now'}, risk tier"
        f" {found.risk_tier or 'unknown'}"
    )
    approvals = (
        ", ".join(
            f"{a.by} ({'before Keel' if a.declared else a.at.date()})" for a in found.approvals
        )
        or "none"
    )
    typer.echo(f"approvals before the decision: {approvals}")
    typer.echo(f"trained on: {', '.join(found.trained_on) or 'not recorded'}")
    for m in found.monitors:
        when = m.checked_at.isoformat(timespec="seconds") if m.checked_at else "never"
        firing = f", firing: {', '.join(m.firing)}" if m.firing else ""
        typer.echo(f"monitor {m.monitor}: {m.status or 'not checked'} (checked {when}){firing}")
    if not found.monitors:
        typer.echo("monitors: none watched the deciding workload")
    if decision.content is not None:
        typer.echo(f"explanation: {json.dumps(decision.content.explanation)}")


@app.command()
def subject(
    ctx: typer.Context,
    who: Annotated[str, typer.Argument(help="The subject, as the model server named it.")],
    output: Out = Format.table,
) -> None:
    """Every record about one subject, newest first (an admin's read)."""
    answer = state(ctx).ops().decisions_of_subject(who)
    if output is not Format.table:
        typer.echo(machine(answer, output))
        return
    found = answer.decisions
    if not found:
        typer.echo("no decision record is about that subject")
        return
    _print(found)
    more = " (the newest; older ones were left out)" if answer.more else ""
    typer.echo(f"{len(found)} records{more}")


@app.command()
def prove(
    ctx: typer.Context,
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the tlog-proof.")],
    opening: Annotated[
        Path | None,
        typer.Option(help="Where to write the opening of the content (salt and content)."),
    ] = None,
) -> None:
    """Write a record's tlog-proof, and the opening that shows what it decided."""
    found = state(ctx).ops().decision_proof(record_id)
    out.write_text(found.proof, encoding="utf-8")
    typer.echo(f"wrote {out}: the record's ledger leaf and its inclusion proof")
    if opening is None:
        return
    if found.salt is None or found.content is None:
        raise UserError(f"record {record_id}'s content is gone (pruned or erased); no opening")
    opening.write_text(json.dumps({"salt": found.salt, "content": found.content}) + "\n")
    typer.echo(
        f"wrote {opening}: check both with keel ledger verify-proof {out} --opening {opening}"
        " --key keel.pub"
    )


def _outcomes(item: wire.ModelOutcomes, shown: int = 4) -> str:
    parts = [f"{k or '<none>'} {v}" for k, v in list(item.outcomes.items())[:shown]]
    more = f", +{len(item.outcomes) - shown} more" if len(item.outcomes) > shown else ""
    return ", ".join(parts) + more


@app.command()
def summary(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="name@version, or a name.")] = None,
    since: Annotated[str | None, typer.Option(help="RFC 3339 time (default: 30 days ago).")] = None,
    until: Annotated[str | None, typer.Option(help="RFC 3339 time (default: now).")] = None,
    output: Out = Format.table,
) -> None:
    """Decisions per model version and outcome in a time range."""
    found = state(ctx).ops().decision_summary(model, since, until)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [[m.model, m.count, _outcomes(m)] for m in found.models]
    typer.echo(table(["MODEL", "DECISIONS", "OUTCOMES"], rows))
    typer.echo(
        f"{found.total} decisions from {found.since.isoformat(timespec='seconds')}"
        f" to {found.until.isoformat(timespec='seconds')}"
    )


@app.command()
def prune(ctx: typer.Context, output: Out = Format.table) -> None:
    """Erase the contents of records whose retention ended (an admin); proofs stay valid."""
    found = state(ctx).ops().prune_decisions()
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    typer.echo(f"pruned {found.records} records")


@app.command()
def erase(
    ctx: typer.Context,
    who: Annotated[str, typer.Option("--subject", help="The subject whose records to erase.")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the ledger (not the subject).")],
    output: Out = Format.table,
) -> None:
    """Erase the contents of every record about one subject (an admin; GDPR Art. 17)."""
    found = state(ctx).ops().erase_subject(who, reason)
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    typer.echo(f"erased the contents of {found.records} records; leaves and proofs stay valid")
