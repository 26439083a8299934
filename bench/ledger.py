"""Benchmark: ledger appends, proofs and checkpoint signing, against pymerkle in the same run.

Measured, on SQLite and (when a URL is given) PostgreSQL:

* durable appends per second with 1 KB entries, batch sizes 1, 64 and 256 (one transaction and
  one signed checkpoint per batch; SQLite in WAL mode with synchronous=FULL, PostgreSQL with
  fsync on);
* building a log of ``--proof-size`` entries (default 1,000,000), then inclusion-proof
  generation per second (from the database, with the number of node rows read per proof) and
  proof verification per second;
* checkpoint signing per second (Ed25519).

Baseline: ``pymerkle`` (a peer Python Merkle-tree library), building the same tree in memory
and proving and verifying the same leaves. Both trees must have the same root (RFC 9162), which
the script checks.

Usage::

    python bench/ledger.py [--proof-size 1000000] [--postgres URL] [--pg-proof-size N]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pymerkle import InmemoryTree
from pymerkle import verify_inclusion as pymerkle_verify

from keel.ledger import (
    Checkpoint,
    Signer,
    canonical_entry,
    inclusion_ranges,
    leaf_hash,
    proof_keys,
    verify_inclusion,
)
from keel.service import Workspace, ledger
from keel.store.ledger import LedgerRepository
from pgschema import postgres_schema, postgres_url

PAD = "x" * 900


def entry(n: int) -> dict[str, Any]:
    """A ~1 KB decision record."""
    return {
        "type": "bench.decision",
        "n": n,
        "workload": f"work-{n}",
        "site": "fra-dc1",
        "pad": PAD,
    }


def appends_per_second(ws: Workspace, batch: int, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        ledger.append(ws, [entry(count + i) for i in range(batch)])
        count += batch
    return count / (time.perf_counter() - started)


def build(ws: Workspace, size: int) -> float:
    started = time.perf_counter()
    chunk = 10_000
    for start in range(0, size, chunk):
        ledger.append(ws, [entry(n) for n in range(start, min(start + chunk, size))])
    return time.perf_counter() - started


def proofs(ws: Workspace, indices: list[int]) -> dict[str, float]:
    started = time.perf_counter()
    single = [ledger.prove(ws, i) for i in indices[:200]]
    single_s = time.perf_counter() - started
    started = time.perf_counter()
    made = ledger.prove_many(ws, indices)
    generate_s = time.perf_counter() - started
    assert [p.path for p in made[:200]] == [p.path for p in single]
    checkpoint = Checkpoint.parse_text(made[0].checkpoint_note.split("\n\n")[0] + "\n")
    with ws.database.read() as conn:
        repo = LedgerRepository(conn)
        for index in indices[:100]:
            repo.nodes(proof_keys(inclusion_ranges(index, checkpoint.size)))
        reads = repo.node_reads / 100
    leaves = [leaf_hash(p.entry) for p in made]
    rounds = max(1, 50_000 // len(made))
    started = time.perf_counter()
    for _ in range(rounds):
        for proof, leaf in zip(made, leaves, strict=True):
            assert verify_inclusion(proof.index, checkpoint.size, leaf, proof.path, checkpoint.root)
    verify_s = time.perf_counter() - started
    return {
        "prove_per_s": len(made) / generate_s,
        "prove_one_call_per_s": len(single) / single_s,
        "verify_per_s": rounds * len(made) / verify_s,
        "node_rows_per_proof": reads,
        "root": checkpoint.root.hex(),
    }


def pymerkle_baseline(size: int, indices: list[int]) -> dict[str, Any]:
    tree = InmemoryTree(algorithm="sha256")
    encoded = [canonical_entry(entry(n)) for n in range(size)]
    started = time.perf_counter()
    for data in encoded:
        tree.append_entry(data)
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    made = [tree.prove_inclusion(i + 1, size) for i in indices]
    generate_s = time.perf_counter() - started
    root = tree.get_root(size)
    bases = [tree.get_leaf(i + 1) for i in indices]
    started = time.perf_counter()
    for proof, base in zip(made, bases, strict=True):
        pymerkle_verify(base, root, proof)
    verify_s = time.perf_counter() - started
    return {
        "build_s": build_s,
        "prove_per_s": len(made) / generate_s,
        "verify_per_s": len(made) / verify_s,
        "root": root.hex(),
    }


def signing_per_second(count: int = 2000) -> float:
    signer = Signer.generate("bench.example/log")
    started = time.perf_counter()
    for size in range(count):
        Checkpoint(signer.name, size, bytes(32)).sign(signer)
    return count / (time.perf_counter() - started)


def run_backend(name: str, url: str, root: Path, proof_size: int, seconds: float) -> dict[str, Any]:
    ws_dir = root / name
    ws_dir.mkdir()
    result: dict[str, Any] = {"backend": name}
    ws = Workspace.open(ws_dir, database_url=url)
    for batch in (1, 64, 256):
        print(f"[{name}] appends, batch {batch} ...", file=sys.stderr)
        result[f"appends_per_s_batch_{batch}"] = appends_per_second(ws, batch, seconds)
    ws.close()
    if proof_size:
        proofs_url = url.replace("keel.db", "proofs.db")
        if proofs_url != url:  # SQLite: a log of its own
            ws_dir = root / f"{name}-proofs"
            ws_dir.mkdir()
        # PostgreSQL: the same schema, so the same workspace and key, the log grown further
        ws = Workspace.open(ws_dir, database_url=proofs_url)
        print(f"[{name}] building a log of {proof_size} entries ...", file=sys.stderr)
        result["build_s"] = build(ws, proof_size)
        result["proof_size"] = proof_size
        rng = random.Random(7)
        indices = [rng.randrange(proof_size) for _ in range(2000)]
        result |= proofs(ws, indices)
        ws.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proof-size", type=int, default=1_000_000)
    parser.add_argument("--pg-proof-size", type=int, default=None, help="default: --proof-size")
    parser.add_argument("--seconds", type=float, default=4.0, help="per append measurement")
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--out", default="bench/results/ledger.json")
    args = parser.parse_args()
    pg_url = postgres_url(args.postgres)
    root = Path(tempfile.mkdtemp(prefix="keel-bench-ledger-"))
    results: list[dict[str, Any]] = []
    try:
        results.append(
            run_backend(
                "sqlite", f"sqlite:///{root / 'keel.db'}", root, args.proof_size, args.seconds
            )
        )
        if pg_url:
            with postgres_schema(pg_url) as (_schema, url):
                pg_size = args.proof_size if args.pg_proof_size is None else args.pg_proof_size
                results.append(run_backend("postgresql", url, root, pg_size, args.seconds))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    indices = [random.Random(7).randrange(args.proof_size) for _ in range(2000)]
    print("[pymerkle] building the same tree ...", file=sys.stderr)
    baseline = pymerkle_baseline(args.proof_size, indices)
    signing = signing_per_second()

    print(
        f"{'backend':<11} {'append/s b=1':>12} {'b=64':>9} {'b=256':>9} {'log size':>9}"
        f" {'build s':>8} {'prove/s':>8} {'rows/proof':>10} {'verify/s':>9}"
    )
    for r in results:
        print(
            f"{r['backend']:<11} {r['appends_per_s_batch_1']:>12,.0f}"
            f" {r['appends_per_s_batch_64']:>9,.0f} {r['appends_per_s_batch_256']:>9,.0f}"
            f" {r.get('proof_size', 0):>9,}"
            f" {r.get('build_s', 0):>8.1f} {r.get('prove_per_s', 0):>8,.0f}"
            f" {r.get('node_rows_per_proof', 0):>10} {r.get('verify_per_s', 0):>9,.0f}"
        )
    print(
        f"{'pymerkle':<11} {'-':>12} {'-':>9} {'-':>9} {args.proof_size:>9,}"
        f" {baseline['build_s']:>8.1f}"
        f" {baseline['prove_per_s']:>8,.0f} {'(memory)':>10} {baseline['verify_per_s']:>9,.0f}"
    )
    keel_sqlite = results[0]
    for r in results:
        if "prove_one_call_per_s" in r:
            print(f"{r['backend']}: {r['prove_one_call_per_s']:,.0f} proofs/s, one call per proof")
    print(
        f"\nproof generation: Keel from SQLite / pymerkle in memory = "
        f"{keel_sqlite['prove_per_s'] / baseline['prove_per_s']:.1f}x"
    )
    print(
        f"proof verification: Keel / pymerkle = "
        f"{keel_sqlite['verify_per_s'] / baseline['verify_per_s']:.1f}x"
    )
    print(f"checkpoint signing: {signing:,.0f}/s (Ed25519 signed notes)")
    same = keel_sqlite["root"] == baseline["root"]
    print(f"same root as pymerkle for the same {args.proof_size:,} entries: {same}")
    if not same:
        raise SystemExit("roots differ: Keel and pymerkle disagree on RFC 9162")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"keel": results, "pymerkle": baseline, "signing_per_s": signing}, indent=2)
    )


if __name__ == "__main__":
    main()
