"""Benchmark: CPU instructions per decision record and per SDK call, counted by callgrind.

This shared machine's speed drifts by a quarter within minutes and by 3x between days, so a
wall-clock comparison of two versions that differ by less than about 20% is noise here.
Valgrind's callgrind counts the instructions that a piece of work executes: the same, to about
2%, on every run and whatever the load. Instructions are not time (a cache miss or an fsync
costs none), so this complements ``decisions.py``; it does not replace it.

Each figure is the difference between a run that does the work N times and the same run that
does not (imports, setup and warm-up cancel out), divided by N:

* **intake**: ``decisions.record`` of ``--batches`` batches of 1,000 records on SQLite (checks,
  registry and duplicate checks, leaves, rows, commits), per record; baseline: ``ledger.append``
  of as many leaves shaped as a decision's (``decisions.floor_leaf``), per leaf: the floor every
  record pays;
* **sdk**: a ``Recorder.decides``-wrapped call with a 21-field input, per call; baseline: the
  model alone.

Usage::

    python bench/instructions.py [--batches 3] [--calls 2000] [--out bench/results/instructions.json]

Compare two versions by running it with each on ``PYTHONPATH`` (``PYTHONPATH=/old/src``).
Needs ``valgrind`` (Debian: ``apt-get install valgrind``); about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from decisions import Discard, features, floor_leaf, model, record, setup
from keel.decisions import Recorder
from keel.service import decisions, ledger

BATCH = 1_000
COLLECTED = re.compile(r"Collected : (\d+)")
NOISE = 10_000
"""Instructions per unit below which a baseline is not told apart from the runs' noise."""


def _intake(work: str, batches: int, do: bool) -> None:
    """Record (or append the leaves of) ``batches`` batches after a warm-up batch, if ``do``.

    The batches are built either way, so that only the work differs between the two runs.
    """
    root = Path(tempfile.mkdtemp(prefix="keel-instructions-"))
    try:
        ws = setup(root, f"sqlite:///{root / 'keel.db'}")
        now = datetime.now(UTC)
        raws = [[record(b * BATCH + i, now) for i in range(BATCH)] for b in range(batches + 1)]
        leaf = floor_leaf(now)
        leaves = [[leaf | {"id": f"l-{b}-{i}"} for i in range(BATCH)] for b in range(batches + 1)]
        decisions.record(ws, raws[0], actor="user:bench")
        ledger.append(ws, leaves[0])
        for b in range(1, batches + 1 if do else 1):
            if work == "intake":
                decisions.record(ws, raws[b], actor="user:bench")
            else:
                ledger.append(ws, leaves[b])
        ws.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _sdk(work: str, calls: int, do: bool) -> None:
    """Call the model, decorated or not, ``calls`` times after a warm-up call, if ``do``."""
    recorder = Recorder(Discard(), model="scorer@1", flush_s=3600, batch=10_000)
    decided = recorder.decides(subject=lambda application: application["id"])(model)
    inputs = [features(n) for n in range(calls + 1)]
    decided(inputs[0])
    call = decided if work == "sdk" else model
    for item in inputs[1 : calls + 1 if do else 1]:
        call(item)
    recorder.close()


def _count(work: str, n: int, do: bool) -> int:
    """Instructions of a child process set up for ``work`` ``n`` times, doing it if ``do``."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--child", work, str(n), str(int(do)),
    ]  # fmt: skip
    env = os.environ | {"PYTHONHASHSEED": "0"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run of {work} x {n} failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3, help="1,000-record batches timed")
    parser.add_argument("--calls", type=int, default=2_000, help="SDK calls counted")
    parser.add_argument("--out", default="bench/results/instructions.json")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # WORK N DO
    args = parser.parse_args()
    if args.child:
        work, n, do = args.child[0], int(args.child[1]), args.child[2] == "1"
        if work in ("intake", "append"):
            _intake(work, n // BATCH, do)
        else:
            _sdk(work, n, do)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    records = args.batches * BATCH
    work = {"intake": records, "append": records, "sdk": args.calls, "model": args.calls}
    runs = [(w, n, do) for w, n in work.items() for do in (True, False)]
    print(f"counting instructions in {len(runs)} callgrind runs ...", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        counts = dict(zip(runs, pool.map(lambda run: _count(*run), runs), strict=True))
    per = {w: (counts[(w, n, True)] - counts[(w, n, False)]) / n for w, n in work.items()}
    rows = [
        ("intake, per record", per["intake"], "ledger.append, per leaf", per["append"]),
        ("SDK decorated call", per["sdk"], "the model alone", per["model"]),
    ]
    print(
        f"{'work':<20} {'instructions':>13} {'baseline':<24} {'instructions':>13}"
        f" {'added':>13} {'ratio':>6}"
    )
    for name, value, baseline, floor in rows:
        # A baseline of a few thousand instructions is within the runs' noise (about 2,000
        # per unit here): no ratio then.
        ratio = f"{value / floor:>6.1f}" if floor > NOISE else f"{'-':>6}"
        print(
            f"{name:<20} {value:>13,.0f} {baseline:<24} {floor:>13,.0f} {value - floor:>13,.0f}"
            f" {ratio}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"per_unit": per, "batches": args.batches, "calls": args.calls}))


if __name__ == "__main__":
    main()
