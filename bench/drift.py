"""Benchmark: drift on large windows, Keel against Evidently's DataDriftPreset, in one run.

Generates a reference and a current window (``--rows`` x ``--columns``: 70% numerical columns
of several shapes, 30% categorical; a fifth of the columns drift, some barely), writes them as
Parquet, then runs, each in its own process so that peak memory is its own:

* **Keel**: ``keel.service.monitoring.drift`` on the two files (streamed in 65,536-row chunks,
  the reference kept as a sketch);
* **Evidently 0.7**: ``Report([DataDriftPreset()])`` on the same data loaded with pandas (how
  Evidently is used).

Prints wall time, peak RSS, their ratios, and the share of per-column decisions (and methods)
that agree. Writes ``bench/results/drift-<rows>x<columns>.json``.

``--family heavy`` uses heavy-tailed columns instead (``tests/heavy_tails.py``: Pareto,
lognormal with sigma 3, Cauchy, rare huge values; moved and stretched around the 0.1 threshold;
40 columns) over ``--seeds`` seeds, and also reports the largest relative gap of the statistic
where Evidently's is near the threshold (0.05-0.2).

Usage::

    python bench/drift.py [--rows 1000000] [--columns 100] [--keel-only]
    python bench/drift.py --family heavy --rows 300000 --seeds 10
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def column(rng: np.random.Generator, index: int, rows: int, shift: float) -> np.ndarray:  # type: ignore[type-arg]
    shape = index % 10
    if shape < 7:  # numerical
        if shape in (0, 1):
            return rng.normal(shift, 1.0, rows)
        if shape in (2, 3):
            return rng.lognormal(0.0 + shift, 0.6, rows)
        if shape == 4:
            return rng.uniform(0, 1 + shift, rows)
        if shape == 5:
            return rng.integers(0, 500, rows).astype(np.float64) + np.round(shift * 50)
        return rng.gamma(2.0, 1.0 + shift, rows)
    categories = [f"c{i}" for i in range(3 + 5 * (shape - 7))]
    weights = np.ones(len(categories))
    weights[0] += shift * 3
    return rng.choice(categories, rows, p=weights / weights.sum())


def generate(
    folder: Path, rows: int, columns: int, seed: int
) -> tuple[Path, Path, dict[str, float]]:
    rng = np.random.default_rng(seed)
    shifts = {}
    for i in range(columns):
        drift = i % 5 == 0
        shifts[f"x{i:04d}"] = float(rng.choice([0.01, 0.03, 0.08, 0.2])) if drift else 0.0
    paths = []
    for name, is_current in (("reference", False), ("current", True)):
        path = folder / f"{name}.parquet"
        writer = None
        done = 0
        block = 200_000
        while done < rows:
            n = min(block, rows - done)
            data = {
                c: column(rng, i, n, shifts[c] if is_current else 0.0) for i, c in enumerate(shifts)
            }
            table = pa.table(data)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            done += n
        assert writer is not None
        writer.close()
        paths.append(path)
    return paths[0], paths[1], shifts


def generate_heavy(folder: Path, rows: int, seed: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from heavy_tails import windows

    paths = (folder / "reference.parquet", folder / "current.parquet")
    for frame, path in zip(windows(seed, rows), paths, strict=True):
        frame.to_parquet(path)
    return paths


def run_keel(reference: str, current: str) -> dict[str, Any]:
    from keel.service import monitoring

    started = time.perf_counter()
    report, _, _ = monitoring.drift(reference, current)
    wall = time.perf_counter() - started
    decisions = {c.column: [c.method, c.statistic, c.drifted] for c in report.columns}
    return {"wall_s": wall, "decisions": decisions, "problems": report.problems}


def run_evidently(reference: str, current: str) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from evidently_baseline import evidently_decisions

    started = time.perf_counter()
    ref = pd.read_parquet(reference)
    cur = pd.read_parquet(current)
    loaded = time.perf_counter()
    decisions = evidently_decisions(ref, cur)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "load_s": loaded - started, "decisions": decisions}


def child(engine: str, reference: str, current: str) -> None:
    result = run_keel(reference, current) if engine == "keel" else run_evidently(reference, current)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(engine: str, reference: Path, current: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", engine, str(reference), str(current)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_one(keel: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Agreement of one run: decisions, methods, and the statistic's relative gaps."""
    ours = keel["decisions"]
    total = len(theirs["decisions"])
    gaps: dict[str, float] = {}
    near = 0.0
    disagree = []
    for c, (method, value, drifted) in sorted(theirs["decisions"].items()):
        if ours[c][0] == method:
            gap = abs(ours[c][1] - value) / max(abs(value), 1e-12)
            gaps[method] = max(gaps.get(method, 0.0), gap)
            if method == "wasserstein" and 0.05 <= value <= 0.2:
                near = max(near, gap)
        if ours[c][2] != drifted:
            disagree.append(
                f"{c}: evidently {method} {value:.5g} {drifted}, keel {ours[c][0]} {ours[c][1]:.5g} {ours[c][2]}"
            )
    return {
        "same_decision": sum(ours[c][2] == theirs["decisions"][c][2] for c in theirs["decisions"]),
        "same_method": sum(ours[c][0] == theirs["decisions"][c][0] for c in theirs["decisions"]),
        "total": total,
        "max_relative_statistic_gap": gaps,
        "max_relative_gap_near_threshold": near,
        "disagree": disagree,
    }


def run_seed(args: argparse.Namespace, seed: int, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    if args.family == "heavy":
        reference, current = generate_heavy(folder, args.rows, seed)
        columns = len(pq.read_schema(reference).names)
    else:
        reference, current, _ = generate(folder, args.rows, args.columns, seed)
        columns = args.columns
    size_mb = (reference.stat().st_size + current.stat().st_size) / 1e6
    print(
        f"seed {seed}: generated {args.rows:,} x {columns} twice ({size_mb:,.0f} MB of Parquet)"
        f" in {time.perf_counter() - started:.0f} s"
    )
    keel = measure("keel", reference, current)
    result: dict[str, Any] = {"seed": seed, "rows": args.rows, "columns": columns, "keel": keel}
    print(f"  keel:      {keel['wall_s']:8.1f} s, peak {keel['peak_rss_mb']:8.0f} MB")
    if args.keel_only:
        return result
    theirs = measure("evidently", reference, current)
    result["evidently"] = theirs
    agreement = compare_one(keel, theirs)
    result.update(agreement)
    result["speedup"] = theirs["wall_s"] / keel["wall_s"]
    result["memory_ratio"] = theirs["peak_rss_mb"] / keel["peak_rss_mb"]
    print(
        f"  evidently: {theirs['wall_s']:8.1f} s (loading {theirs['load_s']:.1f} s),"
        f" peak {theirs['peak_rss_mb']:8.0f} MB"
    )
    print(
        f"  speed-up {result['speedup']:.1f}x, memory {result['memory_ratio']:.1f}x less,"
        f" decisions agree on {agreement['same_decision']}/{agreement['total']} columns,"
        f" methods on {agreement['same_method']}/{agreement['total']};"
        f" largest relative gap near the threshold {agreement['max_relative_gap_near_threshold']:.2%}"
    )
    print(
        "  largest relative gap of the statistic, per method:",
        {k: f"{v:.2e}" for k, v in agreement["max_relative_statistic_gap"].items()},
    )
    for line in agreement["disagree"]:
        print("  disagree", line)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=100)
    parser.add_argument("--family", choices=["standard", "heavy"], default="standard")
    parser.add_argument("--seed", type=int, default=11, help="the first seed")
    parser.add_argument("--seeds", type=int, default=1, help="how many seeds, from --seed")
    parser.add_argument("--keel-only", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("ENGINE", "REF", "CUR"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    runs = []
    for seed in range(args.seed, args.seed + args.seeds):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(run_seed(args, seed, Path(tmp)))
    if args.seeds > 1 and not args.keel_only:
        agree = sum(r["same_decision"] for r in runs)
        total = sum(r["total"] for r in runs)
        near = max(r["max_relative_gap_near_threshold"] for r in runs)
        keel_s = [r["keel"]["wall_s"] for r in runs]
        print(
            f"{args.seeds} seeds ({args.seed}-{args.seed + args.seeds - 1}): decisions agree on"
            f" {agree}/{total} columns; largest relative gap of the statistic near the threshold"
            f" {near:.2%}; Keel {min(keel_s):.1f}-{max(keel_s):.1f} s,"
            f" peak {max(r['keel']['peak_rss_mb'] for r in runs):.0f} MB"
        )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    name = f"drift-{args.family}-{args.rows}x{runs[0]['columns']}.json"
    (out / name).write_text(json.dumps(runs if args.seeds > 1 else runs[0], indent=2))


if __name__ == "__main__":
    main()
