"""Demand history from traces, and forecasts judged against seasonal naive."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from daily_cycle import daily_cycle, write
from keel.capacity import demand, forecast
from keel.errors import TraceError

HEADER_2025 = (
    "instance_sn,role,app_name,cpu_request,cpu_limit,gpu_request,gpu_limit,rdma_request,"
    "rdma_limit,memory_request,memory_limit,disk_request,disk_limit,max_instance_per_node,"
    "creation_time,scheduled_time,deletion_time\n"
)


def test_devices_in_use_are_time_weighted_and_arrivals_counted(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "t.csv",
        "start,class,devices,duration_s\n"
        "2024-01-01T00:00:00Z,train,2,5400\n"
        "2024-01-01T00:30:00Z,serve,1,1800\n"
        "2024-01-01T01:15:00+00:00,serve,4,900\n",
    )
    trace = demand.read_trace(path, "keel")
    found = demand.demand(trace, 3600)
    assert found.epoch == datetime(2024, 1, 1, tzinfo=UTC)
    assert found.classes == ["train", "serve"]  # largest device-hours first: 3.0 and 1.5
    rows = dict(zip(found.classes, found.in_use, strict=True))
    np.testing.assert_allclose(rows["train"], [2.0, 1.0])  # 2 devices for 1.5 h
    np.testing.assert_allclose(rows["serve"], [0.5, 1.0])  # 1 for 30 min; 4 for 15 min
    assert found.arrivals.tolist() == [[1, 0], [1, 1]]
    grouped = demand.demand(trace, 3600, top=1)
    assert grouped.classes == ["train", "other"] and grouped.grouped == 1


def test_the_alibaba_formats_count_what_they_skip_and_clip(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "2025.csv",
        HEADER_2025
        + "i0,HN,app_0,12,12,1,1,25,25,120,120,640,800,8,,,\n"  # ran all along
        + "i1,HN,app_1,12,12,2,2,25,25,120,120,640,800,8,3600,3600,7200\n"
        + "i2,CN,app_2,64,64,0,0,1,1,320,320,255,300,-1,0,0,100\n",  # no GPU
    )
    trace = demand.read_trace(path, "alibaba-gpu-2025")
    assert trace.skipped == {"rows without GPUs (CPU nodes)": 1}
    assert trace.clipped == {"began before the trace": 1, "ran past the trace's end": 1}
    assert trace.start_s.tolist() == [3600.0, 3600.0] and trace.end_s.tolist() == [7200.0] * 2
    pods = write(
        tmp_path,
        "2023.csv",
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,"
        "deletion_time,scheduled_time\n"
        "p0,12000,16384,1,460,,LS,Running,0,3600,0\n"
        "p1,6000,12288,2,1000,,BE,Running,0,1800,0\n"
        "p2,6000,12288,0,0,,BE,Running,0,1800,0\n",
    )
    trace = demand.read_trace(pods, "alibaba-gpu-2023")
    assert trace.devices.tolist() == [0.46, 2.0]  # fractional GPUs
    assert trace.skipped == {"rows without GPUs": 1}
    requests = write(
        tmp_path,
        "genai.csv",
        "gmt_create,predict_type,predict_status,exec_time_seconds,groupId\n"
        "2024-11-15 16:57:50,TXT_2_IMG,SUCCEED,32.0,G0\n"
        "2024-11-15 16:58:00,TXT_2_IMG,FAILED,,G1\n",
    )
    trace = demand.read_trace(requests, "alibaba-genai-2026")
    assert trace.skipped == {"requests that never ran (no execution time)": 1}
    assert trace.end_s.tolist() == [32.0]


@pytest.mark.parametrize(
    ("text", "fmt", "where"),
    [
        ("start,class,devices,duration_s\n2024-01-01T00:00Z,a,1,-5\n", "keel", (2, "duration_s")),
        ("start,class,devices,duration_s\n2024-01-01T00:00,a,1,5\n", "keel", (2, "start")),
        (
            "start,class,devices,duration_s\n2024-01-01T01:00Z,a,1,5\n2024-01-01T00:00Z,a,1,5\n",
            "keel",
            (3, "start"),
        ),
        ("start,class,devices,duration_s\n2024-01-01T00:00Z,a,many,5\n", "keel", (2, "devices")),
        (
            HEADER_2025 + "i1,HN,app_1,12,12,1,1,25,25,120,120,640,800,8,7200,7200,3600\n",
            "alibaba-gpu-2025",
            (2, "deletion_time"),
        ),
    ],
)
def test_bad_rows_are_named_by_line_and_column(
    tmp_path: Path, text: str, fmt: str, where: tuple[int, str]
) -> None:
    with pytest.raises(TraceError) as caught:
        demand.read_trace(write(tmp_path, "bad.csv", text), fmt)
    (problem,) = caught.value.problems
    assert (problem.line, problem.field) == where


def test_a_series_too_large_to_hold_is_refused_before_it_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = demand.read_trace(daily_cycle(tmp_path, 2), "keel")
    assert demand.demand(trace, 3600).in_use.shape == (1, 48)
    monkeypatch.setattr(demand, "MAX_CELLS", 47)  # an API caller asking for a minute step
    with pytest.raises(TraceError, match="1 classes x 48 steps") as caught:
        demand.demand(trace, 3600)
    assert caught.value.hint == "use a longer step or a smaller --top"


def test_unknown_formats_and_columns_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "time,devices\n2024-01-01T00:00Z,1\n")
    with pytest.raises(TraceError, match="unknown trace format 'slurm'"):
        demand.read_trace(path, "slurm")
    with pytest.raises(TraceError, match="no column start, class, duration_s"):
        demand.read_trace(path, "keel")
    with pytest.raises(TraceError, match="at least 60 s"):
        demand.demand(demand.read_trace(daily_cycle(tmp_path, 3), "keel"), 30)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_backtest_scores_both_models_on_held_out_days(tmp_path: Path, seed: int) -> None:
    found = demand.demand(demand.read_trace(daily_cycle(tmp_path, 21, seed), "keel"), 3600)
    (scored,) = forecast.backtest(found, 24, 7)
    assert scored.points == 7 * 24
    ets, naive = scored.scores["AutoETS"], scored.scores["SeasonalNaive"]
    # On a stable daily cycle with noise, repeating yesterday doubles the noise's variance;
    # a smoothed season does better.
    assert ets.mase < naive.mase
    assert 0.8 <= ets.coverage <= 1.0
    history = found.in_use[0, : found.in_use.shape[1] - 7 * 24]
    scale = np.mean(np.abs(history[24:] - history[:-24]))
    assert ets.mase == pytest.approx(ets.mae / scale)


def test_a_forecast_needs_two_seasons_and_is_never_negative(tmp_path: Path) -> None:
    short = demand.demand(demand.read_trace(daily_cycle(tmp_path, 1), "keel"), 3600)
    with pytest.raises(TraceError, match="needs 48 steps"):
        forecast.forecast(short, 24)
    found = demand.demand(demand.read_trace(daily_cycle(tmp_path, 14), "keel"), 3600)
    (ahead,) = forecast.forecast(found, 24)
    assert len(ahead.mean) == 24 and (ahead.low >= 0).all()
    assert (ahead.low <= ahead.mean + 1e-9).all() and (ahead.mean <= ahead.high + 1e-9).all()
    assert 5 < float(ahead.mean.mean()) < 35  # near the cycle's level of 20
