"""Model quality and serving metrics over a window, read in chunks (only the columns needed).

Classification: accuracy, F1 (binary, positive class 1; macro over classes otherwise) and ROC
AUC (binary, from scores). Regression: MAE and RMSE. Serving: latency percentiles, error rate and
throughput.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from keel.monitor.sketch import Floats
from keel.monitor.window import WindowError, batches


def _columns(source: Any, names: list[str]) -> dict[str, list[pa.Array]]:
    found: dict[str, list[pa.Array]] = {name: [] for name in names}
    for batch in batches(source):
        for name in names:
            index = batch.schema.get_field_index(name)
            if index < 0:
                raise WindowError(f"column '{name}' is missing from the window")
            found[name].append(batch.column(index))
    return found


def _floats(chunks: list[pa.Array], name: str) -> Floats:
    try:
        parts = [pc.cast(c, pa.float64()).to_numpy(zero_copy_only=False) for c in chunks]
    except pa.ArrowException:
        raise WindowError(f"column '{name}' is not numeric") from None
    return np.concatenate(parts) if parts else np.empty(0)


def classification(labels: Floats, predictions: Floats) -> dict[str, float]:
    """Accuracy, F1 and (for binary labels with scores) ROC AUC.

    Args:
        labels: True classes.
        predictions: Predicted classes, or scores in [0, 1] for binary labels (thresholded at
            0.5 for accuracy and F1).

    Returns:
        The metrics that apply.
    """
    from scipy import stats

    classes = np.unique(labels)
    binary = set(classes.tolist()) <= {0.0, 1.0}
    scores = binary and not set(np.unique(predictions).tolist()) <= {0.0, 1.0}
    predicted = (predictions >= 0.5).astype(np.float64) if scores else predictions
    metrics = {"accuracy": float(np.mean(predicted == labels))}
    if binary:
        metrics["f1"] = _f1(labels == 1, predicted == 1)
        positives = labels == 1
        if 0 < positives.sum() < labels.size:
            ranks = stats.rankdata(predictions)
            n_pos, n_neg = float(positives.sum()), float((~positives).sum())
            auc = (ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
            metrics["roc_auc"] = float(auc)
    else:
        metrics["f1"] = float(np.mean([_f1(labels == c, predicted == c) for c in classes]))
    return metrics


def _f1(truth: npt.NDArray[np.bool_], predicted: npt.NDArray[np.bool_]) -> float:
    tp = float(np.sum(truth & predicted))
    fp = float(np.sum(~truth & predicted))
    fn = float(np.sum(truth & ~predicted))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def regression(labels: Floats, predictions: Floats) -> dict[str, float]:
    """MAE and RMSE.

    Args:
        labels: True values.
        predictions: Predicted values.

    Returns:
        ``{"mae", "rmse"}``.
    """
    errors = predictions - labels
    return {"mae": float(np.mean(np.abs(errors))), "rmse": float(np.sqrt(np.mean(errors**2)))}


def model_metrics(source: Any, task: str, label: str, prediction: str) -> dict[str, float]:
    """Quality metrics of a window's labelled rows (rows missing either value are left out).

    Args:
        source: See :func:`keel.monitor.window.batches`.
        task: ``classification`` or ``regression``.
        label: The label column.
        prediction: The prediction (or score) column.

    Returns:
        The metrics, plus ``rows``.

    Raises:
        WindowError: If a column is missing or not numeric, or no row is labelled.
    """
    columns = _columns(source, [label, prediction])
    truth = _floats(columns[label], label)
    guess = _floats(columns[prediction], prediction)
    keep = np.isfinite(truth) & np.isfinite(guess)
    truth, guess = truth[keep], guess[keep]
    if truth.size == 0:
        raise WindowError(f"no row has both '{label}' and '{prediction}'")
    metrics = classification(truth, guess) if task == "classification" else regression(truth, guess)
    return {**metrics, "rows": float(truth.size)}


def serving_metrics(
    source: Any, latency: str, error: str | None = None, timestamp: str | None = None
) -> dict[str, float]:
    """Latency percentiles, error rate and throughput of a window of requests.

    Args:
        source: See :func:`keel.monitor.window.batches`.
        latency: Column of request latencies in milliseconds.
        error: Column that is true (or 1) for failed requests.
        timestamp: Column of request times, for throughput.

    Returns:
        ``p50``, ``p95``, ``p99`` (ms), ``requests``, and ``error_rate`` and
        ``requests_per_s`` when their columns are given.

    Raises:
        WindowError: If a column is missing or not numeric, or the window is empty.
    """
    names = [latency] + [c for c in (error, timestamp) if c is not None]
    columns = _columns(source, names)
    values = _floats(columns[latency], latency)
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise WindowError(f"column '{latency}' has no values")
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    metrics = {
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "requests": float(values.size),
    }
    if error is not None:
        failed = _floats(columns[error], error)
        metrics["error_rate"] = float(np.nanmean(failed > 0))
    if timestamp is not None:
        chunks = [
            pc.cast(c, pa.timestamp("us")) if not pa.types.is_timestamp(c.type) else c
            for c in columns[timestamp]
        ]
        times = np.concatenate(
            [
                c.to_numpy(zero_copy_only=False).astype("datetime64[us]").astype(np.int64)
                for c in chunks
            ]
        )
        span_s = (times.max() - times.min()) / 1e6
        metrics["requests_per_s"] = float(values.size / span_s) if span_s > 0 else float("nan")
    return metrics
