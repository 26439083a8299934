"""Benchmark: decision record intake, the SDK's cost to the caller, and subject lookups.

Measured, on SQLite and (when a URL is given) PostgreSQL:

* **intake**: durable decision records per second through the service (checking, registry
  checks, one ledger leaf, one content commitment and one row per record, one transaction and
  one signed checkpoint per batch), against the ledger's own batched appends of the same leaves
  in the same run (``ledger.append``: the floor any record intake pays), alternating batch by
  batch; also the process's CPU time per record and per append, which this shared machine's
  drifting speed disturbs less than the wall clock (the wall clock also counts the fsync at
  each commit, and on PostgreSQL the server's work);
* with ``--prefill N``, the intake runs into a workspace already holding N records' rows (written
  in bulk, without their leaves): what intake costs once the subject index no longer fits in
  SQLite's page cache, as in a workspace of a long-running model server;
* **lookup**: all records of one subject among ``--lookup-records`` records (rows written in
  bulk, as intake would leave them, ten records per subject; the lookup reads only that table),
  p50 and p95 over 200 subjects, against the same query without the subject index (a scan: what
  finding a person's records costs without Keel's keyed index), timed on 5 subjects.

And once, without a database: the Recorder's cost per ``record()`` call on the caller's thread
(digest of a 20-field input, a timestamp, a buffer append), against calling the model alone.

Usage::

    python bench/decisions.py [--seconds 4] [--batch 1000] [--lookup-records 1000000]
                              [--prefill 0] [--random-ids] [--postgres URL]
                              [--out bench/results/decisions.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from keel.decisions import Recorder, instant, subject_key
from keel.ledger import commit
from keel.service import Workspace, apply_manifests, decisions, ledger
from keel.service.actor import Actor
from keel.store.bulk import insert_rows, timestamp
from keel.store.decisions import DecisionRepository
from keel.store.schema import SUBJECT_PREFIX_CHARS, decision_ids, decision_subjects
from keel.store.schema import decisions as decisions_table
from pgschema import postgres_schema, postgres_url

MODEL = """\
kind: Model
name: scorer
spec:
  risk_tier: limited
  purpose: Benchmark scoring
  versions:
    - {version: "1", parameters_billion: 0.1, state: approved}
"""
FEATURES = 20
"""Fields of a benchmark input (a credit application's size)."""


def features(n: int) -> dict[str, Any]:
    return {f"f{i}": (n * 31 + i) % 997 / 7 for i in range(FEATURES)} | {"id": f"app-{n}"}


def record(n: int, now: datetime, random_ids: bool = False) -> dict[str, Any]:
    """A record as a model server sends it: ~300 bytes, a subject, reason codes.

    Its id is ``r-<n>`` (ids in sending order), or with ``random_ids`` a UUID-shaped hash of
    ``n``, as a server that names records with UUIDs sends them.
    """
    ident = f"r-{n}"
    if random_ids:
        ident = str(uuid.UUID(hashlib.sha256(ident.encode()).hexdigest()[:32]))
    return {
        "id": ident,
        "model": "scorer@1",
        "decided_at": instant(now - timedelta(milliseconds=n % 60_000)),
        "input_digest": "sha256:" + hashlib.sha256(str(n).encode()).hexdigest(),
        "output": {"decision": "approve" if n % 5 else "deny", "score": n % 1000 / 1000},
        "explanation": {"reason_codes": [f"R{n % 7}", f"R{n % 11}"]},
        "subject": f"customer-{n % 100_000}",
    }


def floor_leaf(now: datetime) -> dict[str, Any]:
    """A ledger leaf shaped as a decision's (the floor's appends; give each its own ``id``)."""
    return {
        "type": "decision",
        "id": "r-0",
        "model": "scorer@1",
        "decided_at": instant(now),
        "input": "sha256:" + "0" * 64,
        "content": commit({"output": 1}).digest,
        "workload": "credit-decision-api",
    }


class Discard:
    """An SDK sink that drops what it is sent (the SDK's cost alone)."""

    def record_decisions(self, records: list[dict[str, Any]]) -> None:
        """Drop the records."""


def model(application: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's model: one comparison."""
    return {"decision": "approve" if application["f0"] > 50 else "deny"}


def setup(root: Path, url: str) -> Workspace:
    ws = Workspace.open(root, database_url=url)
    manifest = root / "model.yaml"
    manifest.write_text(MODEL)
    apply_manifests(ws, [str(manifest)], actor=Actor.system("bench"))
    return ws


def intake(ws: Workspace, batch: int, seconds: float, random_ids: bool = False) -> dict[str, float]:
    """Records/s through the service, and the ledger's appends of the same leaves.

    The two alternate batch by batch, so that both see the same machine (this one's speed
    drifts by a quarter within minutes). Only the calls are timed, not building their batches
    (what a server's JSON parser hands over; synthesising a record here costs about a tenth
    of its intake).
    """
    now = datetime.now(UTC)
    leaf = floor_leaf(now)
    count, records_s, appends_s, records_cpu_s, appends_cpu_s = 0, 0.0, 0.0, 0.0, 0.0
    slowest_s = 0.0  # the slowest batch: one that merges the staged subject index entries
    while records_s < seconds or appends_s < seconds:
        records = [record(count + i, now, random_ids) for i in range(batch)]
        started, cpu = time.perf_counter(), time.process_time()
        decisions.record(ws, records, actor="user:bench")
        took_s = time.perf_counter() - started
        records_s += took_s
        slowest_s = max(slowest_s, took_s)
        records_cpu_s += time.process_time() - cpu
        leaves = [leaf | {"id": f"l-{count + i}"} for i in range(batch)]
        started, cpu = time.perf_counter(), time.process_time()
        ledger.append(ws, leaves)
        appends_s += time.perf_counter() - started
        appends_cpu_s += time.process_time() - cpu
        count += batch
    return {
        "records_per_s": count / records_s,
        "ledger_appends_per_s": count / appends_s,
        "record_cpu_us": records_cpu_s / count * 1e6,
        "append_cpu_us": appends_cpu_s / count * 1e6,
        "slowest_batch_ms": slowest_s * 1000,
        "batches": count // batch,
    }


FILLED_INDEX = 10**12
"""Ledger index of the first record written in bulk (they have no leaves; the intake's records
that follow get the ledger's own indices, which must not collide with theirs)."""


def fill_lookup(ws: Workspace, total: int, subjects: int) -> None:
    """``total`` records of ``subjects`` subjects, written in bulk.

    Rows, openings, subject index entries and (SQLite) id index entries (merged ones, as most
    of a long-running workspace's are).
    """
    now = datetime.now(UTC)
    chunk = 50_000
    with ws.database.write() as conn:
        key = DecisionRepository(conn).index_key()
    keys = [subject_key(key, f"customer-{s}") for s in range(subjects)]
    salt = os.urandom(16)
    for start in range(0, total, chunk):
        with ws.database.write() as conn:
            stamp = timestamp(conn, decisions_table.c.decided_at, now)
            rows = []
            for n in range(start, min(start + chunk, total)):
                content = json.dumps({"output": n, "subject": f"customer-{n % subjects}"})
                digest = "sha256:" + hashlib.sha256(salt + content.encode()).hexdigest()
                rows.append(
                    (f"b-{n}", FILLED_INDEX + n, "scorer@1", None, stamp, stamp, stamp,
                     "sha256:" + "0" * 64, digest, keys[n % subjects], str(n % 2), salt, content)
                )  # fmt: skip
            insert_rows(conn, decisions_table, (
                "id", "ledger_index", "model", "workload", "decided_at", "received_at",
                "expires_at", "input_digest", "content", "subject_key", "outcome", "salt",
                "opening",
            ), rows)  # fmt: skip
            entries = sorted((row[9][:SUBJECT_PREFIX_CHARS], row[1]) for row in rows)
            insert_rows(conn, decision_subjects, ("prefix", "ledger_index"), entries)
            if conn.dialect.name == "sqlite":  # PostgreSQL: its unique index on id
                entries = sorted((row[0], row[1]) for row in rows)
                insert_rows(conn, decision_ids, ("id", "ledger_index"), entries)
        print(f"  {min(start + chunk, total):,} / {total:,} records", file=sys.stderr)


def lookups(ws: Workspace, subjects: int) -> dict[str, float]:
    rng = random.Random(7)
    times = []
    found = 0
    for _ in range(200):
        who = f"customer-{rng.randrange(subjects)}"
        started = time.perf_counter()
        found += len(decisions.of_subject(ws, who)[0])
        times.append(time.perf_counter() - started)
    times.sort()
    result = {
        "lookup_p50_ms": statistics.median(times) * 1000,
        "lookup_p95_ms": times[int(len(times) * 0.95) - 1] * 1000,
        "records_per_subject": found / 200,
    }
    with ws.database.read() as conn:
        key = DecisionRepository(conn).index_key()
    scans = []
    for _ in range(5):  # the same records found without the subject index: a scan
        who = subject_key(key, f"customer-{rng.randrange(subjects)}")
        scan = (
            sa.select(decisions_table)
            .where(decisions_table.c.subject_key == who)
            .order_by(decisions_table.c.decided_at.desc(), decisions_table.c.id)
        )
        started = time.perf_counter()
        with ws.database.read() as conn:
            conn.execute(scan).all()
        scans.append(time.perf_counter() - started)
    result["scan_p50_ms"] = statistics.median(scans) * 1000
    return result


def sdk_cost(calls: int = 50_000) -> dict[str, float]:
    recorder = Recorder(
        Discard(), model="scorer@1", flush_s=3600, batch=10_000, max_buffered=calls + 1
    )
    decided = recorder.decides(subject=lambda application: application["id"])(model)
    inputs = [features(n) for n in range(calls)]
    started = time.perf_counter()
    for item in inputs:
        model(item)
    bare_s = time.perf_counter() - started
    started = time.perf_counter()
    for item in inputs:
        decided(item)
    recorded_s = time.perf_counter() - started
    recorder.close()
    return {
        "bare_us": bare_s / calls * 1e6,
        "recorded_us": recorded_s / calls * 1e6,
        "added_us": (recorded_s - bare_s) / calls * 1e6,
    }


def run_backend(name: str, url: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": name}
    folder = root / name
    folder.mkdir()
    ws = setup(folder, url)
    if args.prefill:
        print(f"[{name}] writing {args.prefill:,} records before the intake ...", file=sys.stderr)
        fill_lookup(ws, args.prefill, max(1, args.prefill // 10))
        result["prefilled"] = args.prefill
    print(f"[{name}] intake, batches of {args.batch} ...", file=sys.stderr)
    result |= intake(ws, args.batch, args.seconds, args.random_ids)
    ws.close()
    if args.lookup_records:
        folder = root / f"{name}-lookup"
        folder.mkdir()
        ws = setup(folder, url.replace("keel.db", "lookup.db"))
        subjects = max(1, args.lookup_records // 10)
        print(f"[{name}] writing {args.lookup_records:,} records ...", file=sys.stderr)
        started = time.perf_counter()
        fill_lookup(ws, args.lookup_records, subjects)
        result["fill_s"] = time.perf_counter() - started
        result["lookup_records"] = args.lookup_records
        result |= lookups(ws, subjects)
        ws.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per intake measurement")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--lookup-records", type=int, default=1_000_000)
    parser.add_argument(
        "--prefill",
        type=int,
        default=0,
        help="records written in bulk before the intake (rows only, as --lookup-records writes"
        " them): intake into a workspace that already holds that many",
    )
    parser.add_argument(
        "--random-ids",
        action="store_true",
        help="UUID-shaped record ids instead of ids in sending order (the id index's keys are"
        " then random, as the subject index's are)",
    )
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--out", default="bench/results/decisions.json")
    args = parser.parse_args()
    pg_url = postgres_url(args.postgres)
    root = Path(tempfile.mkdtemp(prefix="keel-bench-decisions-"))
    results: list[dict[str, Any]] = []
    try:
        results.append(run_backend("sqlite", f"sqlite:///{root / 'keel.db'}", root, args))
        if pg_url:
            with postgres_schema(pg_url) as (_schema, url):
                results.append(run_backend("postgresql", url, root, args))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    sdk = sdk_cost()
    print(
        f"{'backend':<11} {'records/s':>10} {'ledger appends/s':>17} {'ratio':>6}"
        f" {'CPU us/record':>14} {'/append':>8}"
        f" {'records':>11} {'lookup p50 ms':>14} {'p95 ms':>7} {'scan ms':>8}"
    )
    for r in results:
        if r.get("prefilled"):
            print(f"{r['backend']}: intake into {r['prefilled']:,} records already stored")
        print(
            f"{r['backend']:<11} {r['records_per_s']:>10,.0f} {r['ledger_appends_per_s']:>17,.0f}"
            f" {r['records_per_s'] / r['ledger_appends_per_s']:>6.2f}"
            f" {r['record_cpu_us']:>14.1f} {r['append_cpu_us']:>8.1f}"
            f" {r.get('lookup_records', 0):>11,} {r.get('lookup_p50_ms', 0):>14.2f}"
            f" {r.get('lookup_p95_ms', 0):>7.2f} {r.get('scan_p50_ms', 0):>8.0f}"
        )
    for r in results:
        print(
            f"{r['backend']}: slowest of {r['batches']} batches {r['slowest_batch_ms']:.0f} ms"
            f" (mean {args.batch / r['records_per_s'] * 1000:.0f} ms)"
        )
    print(
        f"SDK: {sdk['added_us']:.1f} us added per decided call"
        f" ({sdk['bare_us']:.1f} us the model alone, {sdk['recorded_us']:.1f} us recorded)"
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"backends": results, "sdk": sdk, "batch": args.batch}, indent=2))


if __name__ == "__main__":
    main()
