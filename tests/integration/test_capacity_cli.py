"""keel capacity as a user runs it: tables, JSON, the backtest's verdict, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import keel

from daily_cycle import daily_cycle


def test_history_and_forecast_print_tables_and_json(tmp_path: Path) -> None:
    trace = daily_cycle(tmp_path, 21, seed=3)
    shown = keel("capacity", "history", str(trace), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "web" in shown.stdout and "PEAK/MEAN" in shown.stdout
    data = json.loads(keel("capacity", "history", str(trace), "-o", "json", cwd=tmp_path).stdout)
    (web,) = data["classes"]
    assert data["steps"] == 21 * 24 and web["arrivals"] == 21 * 24
    assert 19 < web["mean_devices"] < 21 and web["peak_devices"] > 28
    ahead = keel(
        "capacity", "forecast", str(trace), "--horizon", "24h", "--windows", "3", "-o", "json",
        cwd=tmp_path,
    )  # fmt: skip
    assert ahead.returncode == 0, ahead.stderr
    found = json.loads(ahead.stdout)
    (cls,) = found["classes"]
    assert len(cls["mean_devices"]) == 24 and cls["backtest_points"] == 3 * 24
    assert found["first"] == "2024-01-22T00:00:00Z"
    assert cls["autoets_mase"] < cls["naive_mase"]
    table = keel("capacity", "forecast", str(trace), "--windows", "2", cwd=tmp_path).stdout
    assert "AutoETS beats seasonal naive (lower MASE) in 1 of 1" in table


def test_bad_traces_and_options_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("start,class,devices,duration_s\n2024-01-01T00:00Z,a,1,-5\n")
    refused = keel("capacity", "history", str(bad), cwd=tmp_path)
    assert refused.returncode == 2 and "E-TRACE" in refused.stderr
    assert f"{bad}:2" in refused.stderr and "duration_s" in refused.stderr
    trace = daily_cycle(tmp_path, 3)
    odd = keel("capacity", "forecast", str(trace), "--horizon", "90m", cwd=tmp_path)
    assert odd.returncode == 2 and "whole number of steps" in odd.stderr
    short = keel("capacity", "forecast", str(trace), "--windows", "4", cwd=tmp_path)
    assert short.returncode == 2 and "needs 144 steps" in short.stderr
    unknown = keel("capacity", "history", str(trace), "--format", "slurm", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown trace format" in unknown.stderr
