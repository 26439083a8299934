"""Drift tests against Evidently itself, sketches, readers and bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from pyarrow import feather
from scipy import stats
from sklearn.metrics import f1_score, roc_auc_score

from evidently_baseline import evidently_decisions
from heavy_tails import SHAPES, sample
from heavy_tails import windows as heavy_windows
from keel.monitor.drift import DriftReport, compare
from keel.monitor.performance import classification, regression
from keel.monitor.sketch import (
    RAW_LIMIT,
    TAIL_VALUES,
    DatasetSketch,
    NumericSketch,
    SketchError,
)
from keel.monitor.synthetic import credit_traffic
from keel.monitor.window import WindowError, sketch_reference, sketch_window


def keel(reference: pd.DataFrame, current: pd.DataFrame) -> DriftReport:
    sketch = sketch_reference(reference, batch_rows=3000)
    window, problems = sketch_window(current, sketch, batch_rows=3000)
    return compare(sketch, window, problems=problems)


def frame(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "normal": rng.normal(shift, 1, rows),
            "skewed": rng.exponential(1 + shift, rows),
            "wide_int": rng.integers(0, 1000, rows).astype(float),
            "few_floats": rng.integers(0, 5, rows).astype(float),
            "code": rng.integers(0, 3, rows),
            "flag": rng.integers(0, 2, rows),
            "colour": rng.choice(
                ["red", "green", "blue"], rows, p=[0.34 + shift / 5, 0.33, 0.33 - shift / 5]
            ),
            "yes_no": rng.choice(["yes", "no"], rows),
        }
    )


@pytest.mark.parametrize(
    ("reference_rows", "current_rows"),
    [(400, 400), (900, 3000), (900, 25_000), (4000, 4000), (15_000, 20_000)],
)
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
def test_decisions_and_methods_agree_with_evidently(
    reference_rows: int, current_rows: int, shift: float
) -> None:
    rng = np.random.default_rng(reference_rows + current_rows + int(shift * 100))
    reference, current = frame(rng, reference_rows, 0.0), frame(rng, current_rows, shift)
    theirs = evidently_decisions(reference, current)
    ours = {c.column: c for c in keel(reference, current).columns}
    assert set(ours) == set(theirs)
    for column, (method, value, drifted) in theirs.items():
        mine = ours[column]
        assert (mine.method, mine.drifted) == (method, drifted), column
        if mine.exact:  # raw values on both sides: the same number
            assert mine.statistic == pytest.approx(value, rel=1e-9, abs=1e-12), column
        else:  # a sketch on one side at least: close
            assert mine.statistic == pytest.approx(value, rel=0.05, abs=0.005), column


@pytest.mark.parametrize("seed", range(10))
def test_heavy_tails_agree_with_evidently_near_the_threshold(seed: int) -> None:
    # 15,000 rows: past RAW_LIMIT, so both sides are quantile summaries with exact tails.
    reference, current = heavy_windows(seed, 15_000, every_level=False)
    theirs = evidently_decisions(reference, current)
    for column in keel(reference, current).columns:
        method, value, drifted = theirs[column.column]
        assert (column.method, column.drifted, column.exact) == (method, drifted, False)
        if 0.05 <= value <= 0.2:
            assert column.statistic == pytest.approx(value, rel=0.02), column.column


@pytest.mark.parametrize("shape", SHAPES)
def test_wasserstein_from_sketches_keeps_the_extremes(shape: str) -> None:
    # 300,000 values in 40 chunks per side: summaries merged and compacted many times. The
    # extremes of a heavy tail carry most of the distance; a rank grid alone was 19-89% low.
    rng = np.random.default_rng(SHAPES.index(shape))
    before = sample(rng, shape, 300_000)
    spread = float(np.std(before))
    for level in (0.08, 0.1, 0.12):
        for after in (
            sample(rng, shape, 300_000) + level * spread,
            sample(rng, shape, 300_000) * (1 + level * spread / float(np.mean(np.abs(before)))),
        ):
            ref, cur = NumericSketch(), NumericSketch()
            for part in np.array_split(before, 40):
                ref.update(part)
            for part in np.array_split(after, 40):
                cur.update(part)
            exact = stats.wasserstein_distance(before, after) / spread
            from keel.monitor.drift import check_column

            got = check_column("x", ref, cur, method="wasserstein").statistic
            assert got == pytest.approx(exact, rel=0.02), (level, exact)


def test_dataset_drift_follows_the_share() -> None:
    rng = np.random.default_rng(1)
    reference, current = frame(rng, 2000, 0.0), frame(rng, 2000, 0.0)
    current["normal"] += 3
    current["skewed"] *= 4
    report = keel(reference, current)
    assert [c.column for c in report.columns if c.drifted] == ["normal", "skewed"]
    assert not report.dataset_drift and report.drifted_share == 0.25
    report.drift_share = 0.25
    assert report.dataset_drift


def test_exact_sketches_and_summaries() -> None:
    rng = np.random.default_rng(2)
    data = rng.normal(size=RAW_LIMIT)
    small = NumericSketch()
    for part in np.array_split(data, 7):
        small.update(part)
    assert small.exact and small.n == RAW_LIMIT
    assert small.std == pytest.approx(float(np.std(data)), rel=1e-12)
    assert small.mean == pytest.approx(float(np.mean(data)), rel=1e-9)
    big = NumericSketch()
    many = rng.lognormal(size=300_000)
    for part in np.array_split(many, 40):
        big.update(part)
    assert not big.exact
    ranks = np.linspace(0.01, 0.99, 99)
    got = big.quantiles(ranks)
    # Each quantile sits within 0.2% of rank of the truth.
    achieved = np.searchsorted(np.sort(many), got) / many.size
    assert np.max(np.abs(achieved - ranks)) < 0.002
    assert big.minimum == many.min() and big.maximum == many.max()
    # The tails are exact: the smallest and largest TAIL_VALUES, and the quantiles and shares
    # there are those of the data itself.
    ordered = np.sort(many)
    assert big.low is not None and big.high is not None
    assert np.array_equal(big.low, ordered[:TAIL_VALUES])
    assert np.array_equal(big.high, ordered[-TAIL_VALUES:])
    tail_ranks = np.array([0.0, 10 / many.size, 1 - 10 / many.size, 1 - 1e-9])
    exact_index = np.floor(tail_ranks * many.size).astype(int)
    assert np.array_equal(big.quantiles(tail_ranks), ordered[exact_index])
    points = ordered[[3, -4]]
    assert np.array_equal(big.cdf(points), [4 / many.size, 1 - 3 / many.size])
    # A sketch saved before tails were kept still reads and answers from its summary.
    saved = big.to_json()
    del saved["tails"]
    old = NumericSketch.from_json(saved)
    assert old.low is None and old.quantiles(ranks) == pytest.approx(got)


def test_sketch_round_trip_and_tampering(tmp_path: Path) -> None:
    sketch = sketch_reference(credit_traffic(30_000, seed=4))
    data = sketch.to_json()
    again = DatasetSketch.from_json(json.loads(json.dumps(data)))
    assert again.digest == sketch.digest
    assert len(json.dumps(data)) < 400_000  # 30,000 rows x 8 columns kept in under 400 kB
    data["columns"]["income"]["n"] += 1
    with pytest.raises(SketchError, match="digest does not match"):
        DatasetSketch.from_json(data)


def test_every_reader_gives_the_same_sketch(tmp_path: Path) -> None:
    data = credit_traffic(5000, seed=5)
    data.to_parquet(tmp_path / "w.parquet", index=False)
    data.to_csv(tmp_path / "w.csv", index=False)
    feather.write_feather(pa.Table.from_pandas(data, preserve_index=False), tmp_path / "w.arrow")
    sources: list[Any] = [
        data,
        pl.from_pandas(data),
        str(tmp_path / "w.parquet"),
        str(tmp_path / "w.csv"),
        str(tmp_path / "w.arrow"),
    ]
    digests = {sketch_reference(s, batch_rows=777).digest for s in sources}
    assert len(digests) == 1


def test_bad_windows_are_named_per_column_never_silent() -> None:
    reference = pd.DataFrame(
        {
            "kept": np.arange(200.0),
            "gone": np.arange(200.0),
            "retyped": np.arange(200.0),
            "emptied": np.arange(200.0),
            "constant": np.ones(200),
        }
    )
    current = pd.DataFrame(
        {
            "kept": np.r_[np.arange(198.0), np.nan, np.inf],
            "retyped": ["x"] * 200,
            "emptied": [np.nan] * 200,
            "constant": np.ones(200),
            "extra": np.zeros(200),
        }
    )
    report = keel(reference, current)
    assert report.problems == {
        "gone": "missing from the current window",
        "retyped": "numerical in the reference, string here (mixed types)",
        "emptied": "every value is missing in the current window",
    }
    tested = {c.column: c for c in report.columns}
    assert set(tested) == {"kept", "constant"}
    assert tested["kept"].current_rows == 198  # NaN and inf are counted out, not tested
    assert not tested["constant"].drifted


def test_unreadable_sources_are_errors(tmp_path: Path) -> None:
    with pytest.raises(WindowError, match="no such file"):
        sketch_reference(str(tmp_path / "missing.parquet"))
    (tmp_path / "data.xlsx").write_text("x")
    with pytest.raises(WindowError, match="unknown format"):
        sketch_reference(str(tmp_path / "data.xlsx"))
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(WindowError, match=r"broken\.parquet"):
        sketch_reference(str(tmp_path / "broken.parquet"))


def test_text_and_identifier_columns_are_skipped_with_a_reason() -> None:
    frame_ = pd.DataFrame({"id": [f"user-{i}" for i in range(500)], "x": np.arange(500.0)})
    sketch = sketch_reference(frame_)
    assert "id" not in sketch.columns
    assert sketch.skipped["id"].startswith("text")


def test_quality_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(6)
    labels = (rng.random(3000) < 0.3).astype(float)
    scores = np.clip(labels * 0.3 + rng.random(3000) * 0.7, 0, 1)
    got = classification(labels, scores)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), rel=1e-12)
    assert got["f1"] == pytest.approx(f1_score(labels, scores >= 0.5), rel=1e-12)
    assert got["accuracy"] == pytest.approx(float(np.mean((scores >= 0.5) == labels)))
    classes = rng.integers(0, 3, 3000).astype(float)
    guesses = np.where(rng.random(3000) < 0.7, classes, rng.integers(0, 3, 3000)).astype(float)
    multi = classification(classes, guesses)
    assert multi["f1"] == pytest.approx(f1_score(classes, guesses, average="macro"), rel=1e-12)
    truth, predicted = rng.normal(size=100), rng.normal(size=100)
    errors = regression(truth, predicted)
    assert errors["mae"] == pytest.approx(float(np.mean(np.abs(predicted - truth))))
    assert errors["rmse"] == pytest.approx(float(np.sqrt(np.mean((predicted - truth) ** 2))))


def test_ks_from_a_sketch_matches_the_exact_test_closely() -> None:
    rng = np.random.default_rng(7)
    reference, current = rng.normal(size=800), rng.normal(0.03, 1, 60_000)
    ref, cur = NumericSketch(), NumericSketch()
    ref.update(reference)
    for part in np.array_split(current, 10):
        cur.update(part)
    from keel.monitor.drift import check_column

    result = check_column("x", ref, cur)
    exact = stats.ks_2samp(reference, current)[1]
    assert result.method == "ks" and not result.exact
    assert result.statistic == pytest.approx(exact, rel=0.05)
