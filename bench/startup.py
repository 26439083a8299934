"""Benchmark: how long a ``keel`` process takes to start and answer, against ``python -c pass``.

Each command runs as a fresh process, as a user's shell runs it, ``--runs`` times; the table
shows the median and the fastest wall-clock time and the median's ratio to the baseline, the
interpreter starting and doing nothing (``python -c pass``) in the same run. ``keel get`` and
``keel ledger verify`` run in a workspace made by ``keel init`` and ``keel apply`` beforehand.

The target (issue 16): ``keel --help`` and a usage error under 0.5 s of start-up.

Usage::

    python bench/startup.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEEL = str(Path(sys.executable).with_name("keel"))

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass (baseline)", [sys.executable, "-c", "pass"]),
    ("keel --version", [KEEL, "--version"]),
    ("keel --help", [KEEL, "--help"]),
    ("keel plan --help", [KEEL, "plan", "--help"]),
    ("keel get (usage error)", [KEEL, "get"]),
    ("keel get sites", [KEEL, "get", "sites"]),
    ("keel ledger verify", [KEEL, "ledger", "verify"]),
]


def _seconds(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {**os.environ, "KEEL_PRINCIPAL": "user:root-ops"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run([KEEL, "init", "."], cwd=root, env=env, check=True, capture_output=True)
        subprocess.run(
            [KEEL, "apply", "-f", "."], cwd=root, env=env, check=True, capture_output=True
        )
        rows = []
        for label, argv in COMMANDS:
            _seconds(argv, root, env)  # one warm-up: the OS's file cache, not Keel's
            times = [_seconds(argv, root, env) for _ in range(args.runs)]
            rows.append(
                {"command": label, "median_s": statistics.median(times), "min_s": min(times)}
            )
    base = rows[0]["median_s"]
    print(f"{'command':<28} {'median s':>9} {'min s':>7} {'x baseline':>11}")
    for row in rows:
        row["ratio"] = row["median_s"] / base
        print(
            f"{row['command']:<28} {row['median_s']:>9.3f} {row['min_s']:>7.3f} {row['ratio']:>10.1f}x"
        )
    help_s = next(r["median_s"] for r in rows if r["command"] == "keel --help")
    print(f"\nkeel --help start-up beyond the interpreter: {help_s - base:.3f} s (target < 0.5 s)")
    out = Path(__file__).with_name("results") / "startup.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"runs": args.runs, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
