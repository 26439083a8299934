"""Grid signals read from real excerpts and from hostile files: located errors, no invention."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from keel.energy import grid
from keel.errors import GridError

FIXTURES = Path(__file__).parents[1] / "fixtures" / "grid"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_electricity_maps_export_reads_as_location_based_intensity() -> None:
    series = grid.read(FIXTURES / "DE-LU_2024_hourly.csv")
    assert (series.zone, series.signal, series.unit) == ("DE-LU", "carbon_location", "gCO2e/kWh")
    assert series.start == datetime(2024, 1, 1, tzinfo=UTC) and series.step_s == 3600
    assert len(series.values) == 48
    assert series.values[0] == 133.1  # the direct figure, not the life-cycle one (177.74)
    assert series.summary().missing == 0


def test_prices_lets_wait_awhile_and_moer_formats() -> None:
    price = grid.read(FIXTURES / "DE-LU_electricity_prices_2024.csv")
    assert (price.signal, price.unit, len(price.values)) == ("price", "USD/MWh", 48)
    german = grid.read(FIXTURES / "DE_lets_wait_awhile.csv")
    assert german.step_s == 900 and german.zone == "DE"
    hourly = german.hourly()
    assert hourly.step_s == 3600 and len(hourly.values) == 2
    assert hourly.values[0] == pytest.approx(german.values[:4].mean())
    moer = grid.read(FIXTURES / "CAISO-PGE_moer.csv", zone="US-CAL-CISO")
    assert moer.signal == "carbon_marginal" and moer.step_s == 300
    assert moer.values[0] == pytest.approx(663.75)  # 0.66375 kg/kWh in grams


def test_keel_format_flags_estimates_and_leaves_gaps_missing(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "GB_2024.csv",
        "time,carbon_marginal_gco2e_per_kwh,estimated\n"
        "2024-03-01T00:00:00Z,300,false\n"
        "2024-03-01T01:00:00+00:00,310,true\n"
        "2024-03-01T05:00:00+02:00,320,false\n"  # 03:00 UTC: 02:00 is absent
        "2024-03-01T04:00:00Z,,false\n",
    )
    series = grid.read(path)
    assert series.zone == "GB" and series.signal == "carbon_marginal"
    assert np.isnan(series.values[2]) and np.isnan(series.values[4])
    assert list(series.estimated) == [False, True, False, False, False]
    values, note = series.filled()
    assert values[2] == pytest.approx(310.0) and note is not None
    assert "2 of 5 step(s)" in note and "310.0 gCO2e/kWh" in note
    assert series.summary().missing == 2 and series.summary().estimated == 1


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        ("2024-01-01T01:00:00Z,1\n2024-01-01T00:00:00Z,2\n", 3, "times must increase"),
        ("2024-01-01T00:00:00Z,1\n2024-01-01T00:00:00Z,2\n", 3, "is repeated"),
        ("2024-01-01T00:00:00Z,1\n2024-01-01 01:00:00,2\n", 3, "has no UTC offset"),
        ("2024-01-01T00:00:00Z,1\nyesterday,2\n", 3, "Invalid isoformat"),
        ("2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,lots\n", 3, "could not convert"),
        ("2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,0.45e4\n", 3, "is the unit right"),
        ("2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,-3\n", 3, "outside 0..2000"),
        (
            "2024-01-01T00:00:00Z,1\n2024-01-01T01:00:00Z,2\n2024-01-01T02:00:00Z,2\n"
            "2024-01-01T02:00:07Z,3\n",
            5,
            "off the 3600 s step",
        ),
    ],
)
def test_bad_rows_are_located_and_refused(tmp_path: Path, body: str, line: int, says: str) -> None:
    path = write(tmp_path, "X_bad.csv", "time,carbon_location_gco2e_per_kwh\n" + body)
    with pytest.raises(GridError) as caught:
        grid.read(path)
    problems = caught.value.problems
    assert problems and problems[0].line == line and problems[0].path == str(path)
    assert says in problems[0].message


def test_times_far_apart_at_a_fine_step_are_refused_before_any_grid_is_built(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "X_span.csv",
        "time,price_usd_per_mwh\n2024-01-01T00:00:00Z,1\n2024-01-01T00:01:00Z,2\n"
        "9999-12-31T00:00:00Z,3\n",
    )
    with pytest.raises(GridError, match="over the 8,000,000 a series may have") as caught:
        grid.read(path)
    assert caught.value.problems[0].line == 4


def test_unknown_header_and_empty_file_are_refused(tmp_path: Path) -> None:
    with pytest.raises(GridError) as caught:
        grid.read(write(tmp_path, "X.csv", "when,kg\n2024-01-01T00:00:00Z,1\n"))
    assert "not a grid series" in caught.value.message
    assert caught.value.problems[0].field == "header"
    with pytest.raises(GridError, match="no values"):
        grid.read(write(tmp_path, "Y.csv", "time,price_usd_per_mwh\n"))
    with pytest.raises(GridError, match="cannot read"):
        grid.read(tmp_path / "absent.csv")


def test_window_outside_the_series_and_all_missing_are_errors(tmp_path: Path) -> None:
    series = grid.read(FIXTURES / "DE-LU_2024_hourly.csv")
    assert len(series.window(datetime(2024, 1, 1, 12, tzinfo=UTC), 24).values) == 24
    with pytest.raises(GridError, match="covers 2024-01-01T00:00:00Z to 2024-01-03"):
        series.window(datetime(2024, 1, 2, tzinfo=UTC), 48)
    hole = write(
        tmp_path,
        "Z_gap.csv",
        "time,price_usd_per_mwh\n2024-01-01T00:00:00Z,1\n2024-01-01T03:00:00Z,2\n"
        "2024-01-01T04:00:00Z,2\n",
    )
    gap = grid.read(hole).window(datetime(2024, 1, 1, 1, tzinfo=UTC), 2)
    assert all(math.isnan(v) for v in gap.values)
    with pytest.raises(GridError, match="has no value"):
        gap.filled()


def test_find_picks_the_zone_file_with_the_signal() -> None:
    assert grid.find(FIXTURES, "DE-LU", "price").signal == "price"
    assert grid.find(FIXTURES, "DE-LU", "carbon_location").values[0] == 133.1
    with pytest.raises(GridError, match="no carbon_marginal series for zone DE-LU"):
        grid.find(FIXTURES, "DE-LU", "carbon_marginal")


def test_shift_potential_is_the_mean_saving_of_waiting_for_the_best_start() -> None:
    values = np.array([100.0, 100.0, 10.0, 10.0, 100.0, 100.0])
    # 2-step jobs finishing within 4 steps: starts 0, 1, 2 (each has a whole look-ahead).
    # start 0: now 200, best 20 (start 2); start 1: now 110, best 20; start 2: 20 vs 20.
    expected = ((1 - 20 / 200) + (1 - 20 / 110) + 0) / 3
    assert grid.shift_potential(values, 2, 4) == pytest.approx(expected)
    assert grid.shift_potential(values, 2, 2) == 0.0  # no room to wait, nothing saved
    with pytest.raises(GridError, match="missing"):
        grid.shift_potential(np.array([1.0, math.nan, 1.0]), 1, 2)
    with pytest.raises(GridError, match="look-ahead"):
        grid.shift_potential(values, 5, 4)
    with pytest.raises(GridError, match="reaches 0"):
        grid.shift_potential(np.zeros(4), 1, 2)
    with pytest.raises(GridError, match="reaches 0"):  # a negative price: no share (was 346%)
        grid.shift_potential(np.array([50.0, 40.0, -140.0, 30.0]), 1, 4)


def test_keel_grid_show_summarises_a_zone(tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    keel = Path(sys.executable).parent / "keel"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(keel), "grid", "show", *args], cwd=tmp_path, env=env, capture_output=True,
            text=True, check=False,
        )  # fmt: skip

    done = run("DE-LU", "--data", str(FIXTURES), "--from", "2024-01-01T12:00Z", "--hours", "24",
               "--run-hours", "2", "--within-hours", "6", "-o", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    series = grid.read(FIXTURES / "DE-LU_2024_hourly.csv").window(
        datetime(2024, 1, 1, 12, tzinfo=UTC), 24
    )
    assert (found["steps"], found["start"]) == (24, "2024-01-01T12:00:00Z")
    assert found["mean"] == pytest.approx(float(series.values.mean()))
    assert found["shift_saving"] == pytest.approx(grid.shift_potential(series.values, 2, 6))
    table = run("DE-LU", "--data", str(FIXTURES), "--signal", "price")
    assert table.returncode == 0 and "DE-LU price (USD/MWh)" in table.stdout
    assert "48 hourly steps: 0 missing" in table.stdout
    negative = write(
        tmp_path,
        "NEG_prices.csv",
        "time,price_usd_per_mwh\n"
        + "".join(f"2024-05-12T{h:02d}:00:00Z,{-50 if h == 3 else 60}\n" for h in range(8)),
    )
    shown = run("NEG", "--data", str(negative.parent), "--signal", "price", "-o", "json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["shift_saving"] is None
    refused = run("DE-LU", "--data", str(FIXTURES), "--from", "2025-01-01", "--hours", "2")
    assert refused.returncode == 2 and "E-GRID" in refused.stderr and "covers" in refused.stderr
    assert "--data FOLDER" in run("DE-LU").stderr


def test_forecasts_are_read_beside_the_actuals_and_issued_per_step(tmp_path: Path) -> None:
    forecast = grid.read_forecast(FIXTURES / "CAISO-PGE_moer.csv", zone="US-CAL-CISO")
    assert forecast.ahead.shape == (12, 2)
    assert forecast.ahead[0, 0] == pytest.approx(660.6389940703731)  # f1 at 00:00, in grams
    # Issued at step 3 for 3 steps: step 3 by f1 of step 2, steps 4 and 5 by f1, f2 of step 3.
    issued = forecast.issued(3, 3)
    assert list(issued) == [forecast.ahead[2, 0], forecast.ahead[3, 0], forecast.ahead[3, 1]]
    with pytest.raises(GridError, match="cover 3 step"):
        forecast.issued(3, 4)
    with pytest.raises(GridError, match="no forecast columns"):
        grid.read_forecast(FIXTURES / "DE_lets_wait_awhile.csv")


def test_a_source_that_changes_resolution_reads_as_one_series(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "GB_mixed.csv",
        "time,carbon_location_gco2e_per_kwh\n"
        "2020-01-01T00:00:00Z,100\n2020-01-01T00:30:00Z,200\n"  # 30-minute steps
        "2020-01-01T01:00:00Z,10\n2020-01-01T01:15:00Z,20\n"  # then 15-minute ones
        "2020-01-01T01:30:00Z,30\n2020-01-01T01:45:00Z,40\n"
        "2020-01-01T03:00:00Z,50\n",  # and a missing hour
    )
    series = grid.read(path)
    assert series.step_s == 900 and len(series.values) == 13
    hourly = series.hourly()
    assert list(hourly.values[:2]) == [150.0, 25.0]
    assert np.isnan(hourly.values[2])


def test_binary_and_compressed_files(tmp_path: Path) -> None:
    import gzip

    junk = tmp_path / "Q_junk.csv"
    junk.write_bytes(b"\x8b\xff\x00\x01" * 50)
    with pytest.raises(GridError, match="cannot read"):
        grid.read(junk)
    packed = tmp_path / "DE-LU_2024.csv.gz"
    packed.write_bytes(gzip.compress((FIXTURES / "DE-LU_2024_hourly.csv").read_bytes()))
    assert grid.read(packed).values[0] == 133.1
    broken = tmp_path / "DE-LU_broken.csv.gz"
    broken.write_bytes(gzip.compress(b"time,price_usd_per_mwh\n")[:-6])
    with pytest.raises(GridError, match="cannot read"):
        grid.read(broken)
