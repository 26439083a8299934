"""Drift tests on sketches, with Evidently's defaults.

The default test per column reproduces Evidently's ``DataDriftPreset`` (0.7): with at most
1,000 reference values, Kolmogorov-Smirnov for numerical columns (p <= 0.05), chi-square for
categorical ones and numerical ones with 3-5 values (p < 0.05), a Z-test for two values
(p < 0.05); with more, the normed Wasserstein distance for numerical columns (>= 0.1) and the
Jensen-Shannon distance for categorical ones and numerical ones with at most 5 values (>= 0.1).
The dataset drifts when the share of drifted columns reaches 0.5. PSI and Hellinger are
available as overrides.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from keel.monitor.sketch import (
    CategoricalSketch,
    ColumnSketch,
    DatasetSketch,
    Floats,
    NumericSketch,
)

Method = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "hellinger"]
METHODS: tuple[str, ...] = (
    "ks",
    "chisquare",
    "z",
    "wasserstein",
    "jensenshannon",
    "psi",
    "hellinger",
)
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "hellinger": 0.1,
}
SMALL_REFERENCE = 1000
"""Up to this many reference values, p-value tests; above, distances (as in Evidently)."""
DRIFT_SHARE = 0.5
"""Share of drifted columns at which the dataset drifts."""


class DriftError(ValueError):
    """A test that cannot run on a column (a method that does not fit its type)."""


@dataclass(frozen=True, slots=True)
class ColumnDrift:
    """One column's result.

    Attributes:
        column: The column.
        type: ``numerical`` or ``categorical``.
        method: The test used.
        statistic: The p-value (ks, chisquare, z) or the distance.
        threshold: The threshold it is compared with.
        drifted: The decision.
        exact: Whether it was computed from raw values on both sides (else from a sketch).
        reference_rows: Values in the reference (missing ones excluded).
        current_rows: Values in the window.
    """

    column: str
    type: str
    method: str
    statistic: float
    threshold: float
    drifted: bool
    exact: bool
    reference_rows: int
    current_rows: int


@dataclass
class DriftReport:
    """Drift of every column between a reference and a window.

    Attributes:
        columns: Per-column results, in the reference's column order.
        problems: Columns that could not be tested, with why.
        reference_digest: Digest of the reference sketch.
        drift_share: Share of drifted columns at which the dataset drifts.
    """

    columns: list[ColumnDrift]
    problems: dict[str, str] = field(default_factory=dict)
    reference_digest: str = ""
    drift_share: float = DRIFT_SHARE

    @property
    def drifted_share(self) -> float:
        """Share of tested columns that drifted."""
        return sum(c.drifted for c in self.columns) / len(self.columns) if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        """Whether the share of drifted columns reaches :attr:`drift_share`."""
        return bool(self.columns) and self.drifted_share >= self.drift_share

    def to_json(self) -> dict[str, Any]:
        """The report as JSON."""
        return {
            "reference_digest": self.reference_digest,
            "dataset_drift": self.dataset_drift,
            "drifted_columns": sum(c.drifted for c in self.columns),
            "tested_columns": len(self.columns),
            "drifted_share": round(self.drifted_share, 6),
            "drift_share": self.drift_share,
            "columns": [asdict(c) for c in self.columns],
            "problems": self.problems,
        }


def _nunique(reference: ColumnSketch, current: ColumnSketch) -> int:
    """Distinct values in both windows (more than 20 means "many")."""
    if isinstance(reference, CategoricalSketch) and isinstance(current, CategoricalSketch):
        return len(set(reference.counts) | set(current.counts))
    assert isinstance(reference, NumericSketch)
    assert isinstance(current, NumericSketch)
    if reference.distinct is None or current.distinct is None:
        return 21
    return len(set(reference.distinct) | set(current.distinct))


def default_method(reference: ColumnSketch, current: ColumnSketch) -> Method:
    """Evidently's default test for a column.

    Args:
        reference: The reference column.
        current: The window's column.

    Returns:
        The method name.
    """
    n_values = _nunique(reference, current)
    numeric = isinstance(reference, NumericSketch)
    if reference.n <= SMALL_REFERENCE:
        if numeric and n_values > 5:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if numeric and n_values > 5:
        return "wasserstein"
    return "jensenshannon"


def _counts(sketch: ColumnSketch) -> dict[str, int]:
    if isinstance(sketch, CategoricalSketch):
        return dict(sketch.counts)
    assert sketch.distinct is not None, "counts of a column with many values"
    return {repr(k): v for k, v in sketch.distinct.items()}


def _keyed(reference: ColumnSketch, current: ColumnSketch) -> tuple[Floats, Floats, list[str]]:
    ref, cur = _counts(reference), _counts(current)
    keys = sorted(set(ref) | set(cur))
    return (
        np.array([ref.get(k, 0) for k in keys], dtype=np.float64),
        np.array([cur.get(k, 0) for k in keys], dtype=np.float64),
        keys,
    )


def _chisquare(reference: ColumnSketch, current: ColumnSketch) -> float:
    from scipy import stats

    ref, cur, _ = _keyed(reference, current)
    expected = ref * (cur.sum() / ref.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(cur, expected)[1])


def _z(reference: ColumnSketch, current: ColumnSketch) -> float:
    from scipy import stats

    ref, cur, keys = _keyed(reference, current)
    if len(keys) == 1:
        return 1.0
    n1, n2 = ref.sum(), cur.sum()
    p1 = (n1 - ref[0]) / n1
    p2 = (n2 - cur[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _ks(reference: NumericSketch, current: NumericSketch) -> float:
    from scipy import stats

    if reference.exact and current.exact:
        return float(stats.ks_2samp(reference.values(), current.values())[1])
    points = np.unique(np.concatenate([_support(reference), _support(current)]))
    d = float(np.max(np.abs(reference.cdf(points) - current.cdf(points))))
    m, n = sorted([float(reference.n), float(current.n)], reverse=True)
    return float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def _support(sketch: NumericSketch) -> Floats:
    if sketch.exact:
        return sketch.values()
    assert sketch.summary is not None
    return np.concatenate([sketch.summary[0], [sketch.minimum, sketch.maximum]])


def _wasserstein(reference: NumericSketch, current: NumericSketch) -> float:
    from scipy import stats

    norm = max(reference.std, 0.001)
    if reference.exact and current.exact:
        return float(stats.wasserstein_distance(reference.values(), current.values())) / norm
    # Both sides as discrete distributions: exact tails, a fine quantile grid between them.
    # SciPy then integrates |F - G| over the whole range, extremes included.
    (u, u_weights), (v, v_weights) = reference.distribution(), current.distribution()
    return float(stats.wasserstein_distance(u, v, u_weights, v_weights)) / norm


def _binned(
    reference: ColumnSketch, current: ColumnSketch, fill_zeroes: bool
) -> tuple[Floats, Floats]:
    """Evidently's ``get_binned_data``: shares per bin or per category.

    Numerical columns with more than 20 reference values get Sturges bins over both windows;
    the others, one share per value.
    """
    if isinstance(reference, NumericSketch) and (
        reference.nunique is None or reference.nunique > 20
    ):
        assert isinstance(current, NumericSketch)
        low = min(reference.minimum, current.minimum)
        high = max(reference.maximum, current.maximum)
        bins = int(np.ceil(np.log2(reference.n + current.n) + 1))
        edges = np.linspace(low, high, bins + 1)
        ref = _histogram(reference, edges)
        cur = _histogram(current, edges)
    else:
        ref, cur, _ = _keyed(reference, current)
        ref, cur = ref / reference.n, cur / current.n
    if fill_zeroes:
        for shares in (ref, cur):
            smallest = shares[shares != 0].min()
            shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return ref, cur


def _histogram(sketch: NumericSketch, edges: Floats) -> Floats:
    if sketch.exact:
        return np.histogram(sketch.values(), edges)[0] / sketch.n
    below = sketch.cdf(edges)
    below[0] = 0.0
    below[-1] = 1.0
    return np.diff(below)


def _jensenshannon(reference: ColumnSketch, current: ColumnSketch) -> float:
    from scipy.spatial import distance

    ref, cur = _binned(reference, current, fill_zeroes=False)
    return float(distance.jensenshannon(ref, cur))


def _psi(reference: ColumnSketch, current: ColumnSketch) -> float:
    ref, cur = _binned(reference, current, fill_zeroes=True)
    return float(np.sum((ref - cur) * np.log(ref / cur)))


def _hellinger(reference: ColumnSketch, current: ColumnSketch) -> float:
    if isinstance(reference, CategoricalSketch):
        ref, cur, _ = _keyed(reference, current)
        overlap = float(np.sum(np.sqrt(ref / ref.sum() * cur / cur.sum())))
    else:
        assert isinstance(current, NumericSketch)
        low = min(reference.minimum, current.minimum)
        high = max(reference.maximum, current.maximum)
        # Evidently bins the distinct values; past 20 they are unknown here, so the counts stand in.
        distinct = _nunique(reference, current)
        bins = int(np.ceil(np.log2(distinct if distinct <= 20 else reference.n + current.n) + 1))
        edges = np.linspace(low, high, bins + 1)
        overlap = float(np.sum(np.sqrt(_histogram(reference, edges) * _histogram(current, edges))))
    return math.sqrt(1 - float(np.clip(overlap, 0, 1)))


def check_column(
    name: str,
    reference: ColumnSketch,
    current: ColumnSketch,
    method: str | None = None,
    threshold: float | None = None,
) -> ColumnDrift:
    """Test one column for drift.

    Args:
        name: The column.
        reference: Its reference sketch.
        current: Its window sketch (same type).
        method: A method of :data:`METHODS`; Evidently's default when ``None``.
        threshold: The threshold; the method's default when ``None``.

    Returns:
        The result.

    Raises:
        DriftError: If the method does not fit the column.
    """
    chosen = method or default_method(reference, current)
    if chosen not in METHODS:
        raise DriftError(f"unknown method {chosen!r} (use {', '.join(METHODS)})")
    limit = DEFAULT_THRESHOLDS[chosen] if threshold is None else threshold
    numeric = isinstance(reference, NumericSketch) and isinstance(current, NumericSketch)
    if chosen in ("ks", "wasserstein") and not numeric:
        raise DriftError(f"{chosen} needs a numerical column")
    if chosen in ("chisquare", "z") and numeric and _nunique(reference, current) > 20:
        raise DriftError(f"{chosen} needs a categorical column or one with few values")
    value: float
    if chosen == "ks":
        value = _ks(reference, current)  # type: ignore[arg-type]
    elif chosen == "wasserstein":
        value = _wasserstein(reference, current)  # type: ignore[arg-type]
    elif chosen == "chisquare":
        value = _chisquare(reference, current)
    elif chosen == "z":
        value = _z(reference, current)
    elif chosen == "jensenshannon":
        value = _jensenshannon(reference, current)
    elif chosen == "psi":
        value = _psi(reference, current)
    else:
        value = _hellinger(reference, current)
    if chosen == "ks":
        drifted = value <= limit
    elif chosen in P_VALUE_METHODS:
        drifted = value < limit
    else:
        drifted = value >= limit
    exact = not numeric or (reference.exact and current.exact)  # type: ignore[union-attr]
    return ColumnDrift(
        name,
        reference.kind,
        chosen,
        value,
        limit,
        bool(drifted),
        bool(exact),
        reference.n,
        current.n,
    )


def compare(
    reference: DatasetSketch,
    current: DatasetSketch,
    *,
    problems: dict[str, str] | None = None,
    overrides: dict[str, tuple[str | None, float | None]] | None = None,
    drift_share: float = DRIFT_SHARE,
) -> DriftReport:
    """Test every column of the reference that the window has.

    Args:
        reference: The reference sketch.
        current: The window's sketch.
        problems: Columns already known to be untestable (from reading the window).
        overrides: ``column -> (method, threshold)``; ``None`` parts keep the default.
        drift_share: Share of drifted columns at which the dataset drifts.

    Returns:
        The report; untestable columns are in ``problems`` with the reason.
    """
    report = DriftReport([], dict(problems or {}), reference.digest, drift_share)
    report.problems.update({k: f"not tested: {v}" for k, v in reference.skipped.items()})
    for name, ref in reference.columns.items():
        if name in report.problems:
            continue
        cur = current.columns.get(name)
        if cur is None:
            report.problems[name] = "missing from the current window"
            continue
        method, threshold = (overrides or {}).get(name, (None, None))
        try:
            report.columns.append(check_column(name, ref, cur, method, threshold))
        except DriftError as error:
            report.problems[name] = str(error)
    return report
