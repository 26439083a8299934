"""``keel ledger``: verify, show, checkpoint, pubkey, prove, verify-proof, rotate-key, erase."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from keel.cli.context import state
from keel.errors import UserError
from keel.service import access, ledger

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
    output: Annotated[str, typer.Option("--output", "-o", help="text or json.")] = "text",
) -> None:
    """Recompute the tree, check every checkpoint against trusted keys and the last run."""
    workspace = state(ctx).workspace()
    report = ledger.verify(workspace, _keys(key) or None, pin=pin)
    if output == "json":
        fields = ("size", "checkpoints", "previous_size", "trust", "origin", "pinned")
        typer.echo(json.dumps({f: getattr(report, f) for f in fields} | {"ok": True}))
        return
    since = (
        f"; consistent with the checkpoint of size {report.previous_size} verified before"
        if report.previous_size is not None
        else ""
    )
    typer.echo(f"ok: {report.size} entries, {report.checkpoints} checkpoints verified{since}")
    typer.echo(f"trusted: {TRUST[report.trust]}", err=report.trust == "unpinned")
    if report.pinned:
        typer.echo(f"pinned: {report.origin} in {workspace.settings.known_logs}")
    if report.latest_note:
        typer.echo(report.latest_note, nl=False)


@app.command()
def show(
    ctx: typer.Context,
    start: Annotated[int, typer.Option("--from", min=0, help="First index.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most entries.")] = 50,
) -> None:
    """Print entries as JSON lines, personal values opened unless erased (not over --server)."""
    remote = state(ctx).remote()
    if remote is not None:
        for shown in remote.entries(start, min(limit, 1000)):
            typer.echo(json.dumps(shown, ensure_ascii=False, separators=(",", ":")))
        return
    for item in ledger.show(state(ctx).workspace(), start, limit):
        line = {
            "index": item.index,
            "created_at": item.created_at.isoformat(),
            "entry": item.entry,
            "personal": item.personal,
        }
        typer.echo(json.dumps(line, ensure_ascii=False, separators=(",", ":")))


@app.command()
def checkpoint(ctx: typer.Context) -> None:
    """Sign a checkpoint of the log as it is now and print it."""
    typer.echo(ledger.checkpoint(state(ctx).workspace()), nl=False)


@app.command()
def pubkey(ctx: typer.Context) -> None:
    """Print the log's public key (what an auditor needs to verify proofs offline)."""
    typer.echo(ledger.signer(state(ctx).workspace()).verifier.encode())


@app.command("rotate-key")
def rotate_key(ctx: typer.Context) -> None:
    """Replace the signing key; checkpoints signed with the old key keep verifying."""
    cli = state(ctx)
    actor = cli.actor()
    access.authorize(cli.workspace(), actor, [("admin", "Ledger")])
    typer.echo(ledger.rotate_key(cli.workspace(), actor=actor.principal).encode())


@app.command()
def prove(
    ctx: typer.Context,
    index: Annotated[int, typer.Argument(min=0, help="Entry index.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the proof.")],
) -> None:
    """Write a C2SP tlog-proof that the entry is in the latest signed checkpoint."""
    proof = ledger.prove(state(ctx).workspace(), index)
    output.write_text(proof.encode(), encoding="utf-8")
    typer.echo(f"wrote {output}: entry {index}, {len(proof.path)} hashes")


@app.command("verify-proof")
def verify_proof(
    proof_file: Annotated[Path, typer.Argument(help="A .tlog-proof file.")],
    key: KeyOption = None,
) -> None:
    """Check a proof offline, with nothing but the log's public key (no database)."""
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


@app.command()
def erase(
    ctx: typer.Context,
    commitment: Annotated[str, typer.Argument(help="The sha256:... commitment to erase.")],
    reason: Annotated[str, typer.Option(help="Why; recorded in the ledger.")],
) -> None:
    """Erase a personal value; entries, checkpoints and proofs stay valid."""
    cli = state(ctx)
    actor = cli.actor()
    access.authorize(cli.workspace(), actor, [("admin", "Ledger")])
    ledger.erase(cli.workspace(), commitment, reason, actor=actor.principal)
    typer.echo(f"erased {commitment}")
