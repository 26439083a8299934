"""Benchmark: validate and apply a large estate on SQLite and PostgreSQL, against the driver floor.

The estate: 1,000 sites x 4 pools, 10,000 datasets and 50,000 workloads (61,000 resources),
written as manifest files. For each backend the script times, in one run:

* ``validate`` of the files (parse, per-resource validation, cross-references);
* the first ``apply`` into an empty store (everything above, plus planning and writing);
* a no-change re-``apply`` of the same files;
* ``keel get`` of one resource, in process and as a CLI process;
* the **floor**: a plain ``executemany`` INSERT of the very rows the apply wrote, through the
  same driver (sqlite3 / psycopg 3) into a table of the same shape, in one transaction.

Targets (issue 2): first apply within 5x of the floor; re-apply faster than the first apply.
The ratio is printed twice: end to end (files to committed rows, what a user waits for) and for
the store phase only (apply time minus validate time: planning, diffing and writing).

Usage::

    python bench/apply.py [--scale 1.0] [--postgres URL]

PostgreSQL is used when ``--postgres`` or ``KEEL_BENCH_DATABASE_URL`` or
``KEEL_TEST_DATABASE_URL`` is set; each run works in a fresh schema that it drops afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from keel.service import Workspace, apply_manifests, get_resources, validate_manifests
from keel.service.actor import Actor
from pgschema import postgres_schema, postgres_url

ACCELERATORS = ["H100-SXM", "A100-SXM-80GB", "L40S", "L4"]
KINDS = ["on_prem", "private_cloud", "public_cloud", "edge"]
COUNTRIES = [("DE", 50.1, 8.7), ("FR", 48.9, 2.3), ("US", 40.7, -74.0), ("SG", 1.3, 103.8)]

SYSTEM = Actor.system("tests")
"""Trusted: these tests exercise the store, not access control."""


def generate(folder: Path, sites: int, datasets: int, workloads: int) -> None:
    """Write the estate as manifest files (sites, datasets, workloads in chunks)."""
    folder.mkdir(parents=True)
    lines = []
    for i in range(sites):
        country, lat, lon = COUNTRIES[i % 4]
        pools = ", ".join(
            f"{{name: p{j}, accelerator: {acc}, count: {8 * (j + 1)}, usd_per_hour: {1.0 + j}}}"
            for j, acc in enumerate(ACCELERATORS)
        )
        lines.append(
            f"kind: Site\nname: site-{i}\nspec: {{kind: {KINDS[i % 4]}, provider: bench,"
            f" region: r{i}, country: {country},"
            f" location: {{latitude: {lat}, longitude: {lon}}}, max_classification: restricted,"
            f" pools: [{pools}]}}\n"
        )
    (folder / "00-sites.yaml").write_text("---\n".join(lines))
    lines = [
        "kind: Model\nname: m\nspec: {risk_tier: minimal, purpose: bench,"
        " versions: [{version: '1', parameters_billion: 7}]}\n"
    ]
    for i in range(datasets):
        lines.append(
            f"kind: Dataset\nname: data-{i}\nspec: {{classification: internal,"
            f" size_gb: {i % 5000}, replicas: [site-{i % sites}, site-{(i + 1) % sites}]}}\n"
        )
    (folder / "01-datasets.yaml").write_text("---\n".join(lines))
    chunk = 10_000
    for start in range(0, workloads, chunk):
        lines = [
            f"kind: Workload\nname: work-{i}\nspec: {{kind: batch_inference, model: m,"
            f" inputs: [data-{i % datasets}], compute: {{accelerators: [{ACCELERATORS[i % 4]}],"
            f" count: {1 + i % 8}, hours: {1 + i % 24}}}}}\n"
            for i in range(start, min(start + chunk, workloads))
        ]
        (folder / f"02-workloads-{start // chunk:02}.yaml").write_text("---\n".join(lines))


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


FLOOR_DDL = """CREATE TABLE floor_resources (
    kind VARCHAR(32) NOT NULL, name VARCHAR(63) NOT NULL, labels {json} NOT NULL,
    spec {json} NOT NULL, resolved {json}, spec_digest VARCHAR(71) NOT NULL,
    generation INTEGER NOT NULL, created_at {ts} NOT NULL, updated_at {ts} NOT NULL,
    PRIMARY KEY (kind, name))"""


def stored_rows(url: str) -> list[tuple[Any, ...]]:
    """The rows the apply wrote, serialised as the driver receives them."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT kind, name, labels, spec, resolved, spec_digest, generation,"
                " created_at, updated_at FROM resources"
            )
        ).all()
    engine.dispose()
    return [
        (
            r[0],
            r[1],
            json.dumps(r[2]) if not isinstance(r[2], str) else r[2],
            json.dumps(r[3]) if not isinstance(r[3], str) else r[3],
            None if r[4] is None else (json.dumps(r[4]) if not isinstance(r[4], str) else r[4]),
            r[5],
            r[6],
            r[7],
            r[8],
        )
        for r in rows
    ]


def sqlite_floor(path: Path, rows: list[tuple[Any, ...]]) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("DROP TABLE IF EXISTS floor_resources")
    conn.execute(FLOOR_DDL.format(json="JSON", ts="DATETIME"))
    conn.commit()
    started = time.perf_counter()
    conn.executemany("INSERT INTO floor_resources VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def postgres_floor(url: str, schema: str, rows: list[tuple[Any, ...]]) -> float:
    with psycopg.connect(url, options=f"-csearch_path={schema}") as conn:
        conn.execute("DROP TABLE IF EXISTS floor_resources")
        conn.execute(FLOOR_DDL.format(json="JSONB", ts="TIMESTAMPTZ"))
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO floor_resources VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows
            )
        conn.commit()
        return time.perf_counter() - started


REPEATS = 2
"""First applies (each on a fresh database), validations and re-applies are run this many times
and the fastest is kept; the floor is run three times. This machine's timings wander by about
20% from run to run, and the minimum is the least noisy estimate of what the code costs."""


def run_backend(
    name: str,
    fresh_urls: list[str],
    folder: Path,
    floor: Callable[[list[Any]], float],
    probe: str,
) -> dict[str, Any]:
    print(f"[{name}] validate ...", file=sys.stderr)
    validate_s, estate = min(
        timed(lambda: validate_manifests([str(folder)])) for _ in range(REPEATS)
    )
    applies = []
    for url in fresh_urls:
        print(f"[{name}] first apply into an empty store ...", file=sys.stderr)
        workspace = Workspace.open(folder.parent, database_url=url)
        applies.append(
            timed(
                lambda workspace=workspace: apply_manifests(workspace, [str(folder)], actor=SYSTEM)
            )[0]
        )
        workspace.close()
    apply_s = min(applies)
    url = fresh_urls[-1]
    workspace = Workspace.open(folder.parent, database_url=url)
    print(f"[{name}] re-apply ...", file=sys.stderr)
    reapplies = [
        timed(lambda: apply_manifests(workspace, [str(folder)], actor=SYSTEM))
        for _ in range(REPEATS)
    ]
    reapply_s = min(t for t, _ in reapplies)
    assert all(r.count("unchanged") == len(estate) for _, r in reapplies)
    get_s, _ = timed(lambda: get_resources(workspace, "Workload", probe))
    env = {**os.environ, "KEEL_DATABASE_URL": url}
    keel = str(Path(sys.executable).parent / "keel")
    cli_s, proc = timed(
        lambda: subprocess.run(
            [keel, "get", "workload", probe, "-o", "json"], env=env, capture_output=True
        )
    )
    assert proc.returncode == 0, proc.stderr
    workspace.close()
    rows = stored_rows(url)
    floor_s = min(floor(rows) for _ in range(3))
    return {
        "backend": name,
        "resources": len(estate),
        "validate_s": validate_s,
        "apply_s": apply_s,
        "apply_runs_s": applies,
        "reapply_s": reapply_s,
        "get_ms": get_s * 1000,
        "get_cli_ms": cli_s * 1000,
        "floor_s": floor_s,
        "apply_over_floor": apply_s / floor_s,
        "store_phase_over_floor": max(apply_s - validate_s, 0.0) / floor_s,
        "reapply_over_apply": reapply_s / apply_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full estate")
    parser.add_argument("--postgres", default=None, help="PostgreSQL URL")
    parser.add_argument("--out", default="bench/results/apply.json")
    args = parser.parse_args()
    pg_url = postgres_url(args.postgres)
    sites, datasets, workloads = (int(n * args.scale) for n in (1_000, 10_000, 50_000))
    root = Path(tempfile.mkdtemp(prefix="keel-bench-apply-"))
    results = []
    try:
        folder = root / "manifests"
        probe = f"work-{max(workloads, 1) // 2}"
        generate(folder, max(sites, 4), max(datasets, 1), max(workloads, 1))
        size_mb = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        print(
            f"estate: {sites} sites x 4 pools, {datasets} datasets, {workloads} workloads"
            f" ({size_mb:.1f} MB of YAML)",
            file=sys.stderr,
        )
        results.append(
            run_backend(
                "sqlite",
                [f"sqlite:///{root / f'keel-{i}.db'}" for i in range(REPEATS)],
                folder,
                lambda rows: sqlite_floor(root / "floor.db", rows),
                probe,
            )
        )
        if pg_url:
            with ExitStack() as stack:
                schemas = [stack.enter_context(postgres_schema(pg_url)) for _ in range(REPEATS)]
                last_schema = schemas[-1][0]
                results.append(
                    run_backend(
                        "postgresql",
                        [url for _, url in schemas],
                        folder,
                        lambda rows: postgres_floor(pg_url, last_schema, rows),
                        probe,
                    )
                )
        else:
            print("no PostgreSQL URL: PostgreSQL skipped", file=sys.stderr)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    header = (
        f"{'backend':<11} {'resources':>9} {'validate s':>10} {'apply s':>8} {'re-apply s':>10}"
        f" {'floor s':>8} {'apply/floor':>11} {'store/floor':>11} {'re/apply':>8}"
        f" {'get ms':>7} {'get cli ms':>10}"
    )
    print(header)
    for r in results:
        print(
            f"{r['backend']:<11} {r['resources']:>9} {r['validate_s']:>10.2f} {r['apply_s']:>8.2f}"
            f" {r['reapply_s']:>10.2f} {r['floor_s']:>8.2f} {r['apply_over_floor']:>10.1f}x"
            f" {r['store_phase_over_floor']:>10.1f}x {r['reapply_over_apply']:>7.2f}x"
            f" {r['get_ms']:>7.1f} {r['get_cli_ms']:>10.0f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
