"""Demand forecasts against the seasonal-naive baseline, on real traces (issue 19).

For each trace: hourly devices in use per class (the largest 8 classes, the rest as
``other``), a rolling-origin backtest of AutoETS and SeasonalNaive (statsforecast) at
``--windows`` daily origins, 24 hours ahead each. Prints per class the MASE of both (below 1
beats the in-sample naive scale; the ratio AutoETS / naive below 1 beats the baseline), the
90% interval's coverage of the held-out points, and the time taken.

    python bench/capacity_forecast.py [--windows 7] [--step 1h]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from keel.capacity import demand, forecast

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
TRACES = {
    "genai-2026 (image requests)": (
        DATA / "alibaba-genai-v2026" / "lora_request_trace.csv",
        "alibaba-genai-2026",
    ),
    "gpu-2025 (DLRM inference)": (
        DATA / "alibaba-gpu-v2025" / "disaggregated_DLRM_trace.csv",
        "alibaba-gpu-2025",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--windows", type=int, default=7)
    parser.add_argument("--horizon", type=int, default=24, help="steps ahead")
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    results = {}
    for label, (path, fmt) in TRACES.items():
        began = time.perf_counter()
        found = demand.demand(demand.read_trace(path, fmt), 3600, top=args.top)
        read_s = time.perf_counter() - began
        began = time.perf_counter()
        tested = forecast.backtest(found, args.horizon, args.windows)
        backtest_s = time.perf_counter() - began
        print(
            f"\n{label}: {len(found.classes)} classes x {found.in_use.shape[1]:,} hourly steps;"
            f" read {read_s:.1f} s, backtest {backtest_s:.1f} s"
        )
        print(
            f"  {'class':<12} {'AutoETS MASE':>12} {'naive MASE':>10} {'ratio':>6}"
            f" {'AutoETS cover':>13} {'naive cover':>11}"
        )
        rows = []
        for scored in tested:
            ets, naive = scored.scores["AutoETS"], scored.scores["SeasonalNaive"]
            ratio = ets.mase / naive.mase if naive.mase > 0 else float("nan")
            print(
                f"  {scored.name:<12} {ets.mase:>12.3f} {naive.mase:>10.3f} {ratio:>6.2f}"
                f" {ets.coverage:>13.1%} {naive.coverage:>11.1%}"
            )
            rows.append(
                {
                    "class": scored.name,
                    "points": scored.points,
                    "autoets_mase": ets.mase,
                    "naive_mase": naive.mase,
                    "autoets_coverage": ets.coverage,
                    "naive_coverage": naive.coverage,
                }
            )
        ratios = np.array([r["autoets_mase"] / r["naive_mase"] for r in rows])
        cover = np.array([r["autoets_coverage"] for r in rows])
        print(
            f"  AutoETS beats seasonal naive in {(ratios < 1).sum()} of {len(rows)} classes"
            f" (median MASE ratio {np.median(ratios):.2f}); its 90% interval covers"
            f" {cover.mean():.1%} of held-out points on average"
            f" ({(np.abs(cover - 0.9) <= 0.05).sum()} classes within 85-95%)"
        )
        results[label] = {"backtest_s": backtest_s, "classes": rows}
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "capacity_forecast.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
