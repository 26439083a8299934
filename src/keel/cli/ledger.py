"""``keel ledger``: verify, show, checkpoint, pubkey, prove, verify-proof, rotate-key, erase."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine
from keel.errors import UserError

app = typer.Typer(help="The trust ledger: a verifiable record of every change and decision.")

KeyOption = Annotated[
    list[str] | None,
    typer.Option("--key", help="Trusted public key, or a file holding keys (repeatable)."),
]


def _keys(items: list[str] | None) -> list[str]:
    keys: list[str] = []
    for item in items or []:
        path = Path(item)
        try:
            keys += path.read_text().split() if path.is_file() else [item]
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read {path}: {exc}") from exc
    return keys


TRUST = {
    "given": "the keys given with --key",
    "pinned": "the keys pinned for this log",
    "unpinned": "the workspace's own key, NOT pinned: whoever can write .keel/ could have"
    " replaced it; pin it now with --pin, or verify with --key",
}


@app.command()
def verify(
    ctx: typer.Context,
    key: KeyOption = None,
    pin: Annotated[
        bool,
        typer.Option(help="Trust the keys used here for this log from now on (known_logs)."),
    ] = False,
    output: Out = Format.table,
) -> None:
    """Recompute the tree, check every checkpoint against trusted keys and the last run."""
    report = state(ctx).ops().verify(_keys(key), pin=pin)
    if output is not Format.table:
        typer.echo(machine(report, output, exclude={"latest_note"}))
        return
    since = (
        f"; consistent with the checkpoint of size {report.previous_size} verified before"
        if report.previous_size is not None
        else ""
    )
    typer.echo(f"ok: {report.size} entries, {report.checkpoints} checkpoints verified{since}")
    typer.echo(f"trusted: {TRUST[report.trust]}", err=report.trust == "unpinned")
    if report.pinned:
        typer.echo(f"pinned: {report.origin} in {state(ctx).workspace().settings.known_logs}")
    if report.latest_note:
        typer.echo(report.latest_note, nl=False)


@app.command()
def show(
    ctx: typer.Context,
    start: Annotated[int, typer.Option("--from", min=0, help="First index.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most entries.")] = 50,
) -> None:
    """Print entries as JSON lines (personal values opened on a local workspace only)."""
    for item in state(ctx).ops().entries(start, limit).entries:
        typer.echo(item.model_dump_json(exclude_none=True))


@app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Sign a checkpoint of the log as it is now and print it."""
    typer.echo(state(ctx).ops().checkpoint(), nl=False)


@app.command()
def pubkey(ctx: typer.Context) -> None:
    """Print the log's public key (what an auditor needs to verify proofs offline)."""
    typer.echo(state(ctx).ops().pubkey().strip())


@app.command("rotate-key")
def rotate_key(ctx: typer.Context) -> None:
    """Replace the signing key (an admin); checkpoints signed with the old key keep verifying."""
    typer.echo(state(ctx).ops().rotate_key().strip())


@app.command()
def prove(
    ctx: typer.Context,
    index: Annotated[int, typer.Argument(min=0, help="Entry index.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the proof.")],
) -> None:
    """Write a C2SP tlog-proof that the entry is in the latest signed checkpoint."""
    proof = state(ctx).ops().prove(index)
    out.write_text(proof, encoding="utf-8")
    hashes = len(proof.split("\n\n", 1)[0].splitlines()) - 3
    typer.echo(f"wrote {out}: entry {index}, {max(hashes, 0)} hashes")


@app.command("verify-proof")
def verify_proof(
    ctx: typer.Context,
    proof_file: Annotated[Path, typer.Argument(help="A .tlog-proof file.")],
    key: KeyOption = None,
    opening: Annotated[
        Path | None,
        typer.Option(help="A decision record's opening (keel decisions prove --opening)."),
    ] = None,
) -> None:
    """Check a proof offline, with nothing but the log's public key (no database).

    With ``--opening``, also check that the opening's content is what the proved entry
    committed to, and print it.
    """
    from keel.service import ledger

    state(ctx).local("ledger verify-proof")
    keys = _keys(key)
    if not keys:
        raise UserError("give the log's public key: --key FILE")
    try:
        text = proof_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {proof_file}: {exc}") from exc
    checkpoint, proof = ledger.verify_proof(text, keys)
    typer.echo(
        f"ok: entry {proof.index} is in {checkpoint.origin} at size {checkpoint.size}\n"
        f"{proof.entry.decode()}"
    )
    if opening is None:
        return
    try:
        opened = json.loads(opening.read_text(encoding="utf-8"))
        salt, content = str(opened["salt"]), str(opened["content"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{opening}: not an opening (JSON with salt and content): {exc}") from exc
    field = ledger.open_commitment(proof.entry, salt, content)
    typer.echo(f"ok: the opening opens the entry's {field} commitment\n{content}")


@app.command()
def erase(
    ctx: typer.Context,
    commitment: Annotated[str, typer.Argument(help="The sha256:... commitment to erase.")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the ledger.")],
) -> None:
    """Erase a personal value (an admin); entries, checkpoints and proofs stay valid."""
    state(ctx).ops().erase_personal(commitment, reason)
    typer.echo(f"erased {commitment}")
