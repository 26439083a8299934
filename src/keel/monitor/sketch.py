"""Column sketches: what a drift test needs to know about a column, built chunk by chunk.

A **numeric** sketch keeps the exact count, mean and variance (Welford), minimum and maximum,
the distinct values while there are at most :data:`DISTINCT_LIMIT`, and either the raw values
(up to :data:`RAW_LIMIT` of them: every test on them is exact) or, beyond that, a weighted
quantile summary of :data:`SUMMARY_POINTS` points plus the exact :data:`TAIL_VALUES` smallest
and largest values. Merging chunk summaries and compacting them costs rank accuracy: each
compaction moves a quantile by at most ``1 / (2 x SUMMARY_POINTS)`` of the rank (0.024%);
``docs/monitors.md`` shows what that does to each test. The tails are exact because heavy tails
(Pareto, lognormal, Cauchy, rare huge values) carry most of a Wasserstein distance in their
extremes, where a quantile summary is coarsest.

A **categorical** sketch keeps the count of every category (exact), up to
:data:`CATEGORY_LIMIT` categories.

Values that are null, NaN or infinite are counted and left out of every test, as Evidently does.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import orjson

RAW_LIMIT = 10_000
"""Raw values kept per numeric column before switching to a quantile summary."""
SUMMARY_POINTS = 2048
"""Points in a quantile summary."""
TAIL_VALUES = 1024
"""Smallest and largest values kept exactly, each, beside a quantile summary."""
BULK_POINTS = 20_000
"""Equal-weight quantiles that stand for the values between the tails in a distance."""
DISTINCT_LIMIT = 20
"""Distinct numeric values tracked (tests switch method at 2, 5 and 20 distinct values)."""
CATEGORY_LIMIT = 100_000
"""Most categories a categorical column may have."""
INTEGER_CARDINALITY_LIMIT = 10
"""An integer column with at most this many distinct values is categorical (as in Evidently)."""

Floats = npt.NDArray[np.float64]
ColumnKind = Literal["numerical", "categorical"]


class SketchError(ValueError):
    """A column that cannot be sketched (too many categories, an unsupported type)."""


def _centres(weights: Floats) -> Floats:
    """The rank in [0, 1] at the middle of each point's weight (points in value order)."""
    return np.asarray((np.cumsum(weights) - weights / 2) / weights.sum(), np.float64)


def _compact(values: Floats, weights: Floats, points: int) -> tuple[Floats, Floats]:
    """Equal-weight quantiles of a sorted weighted summary."""
    targets = (np.arange(points) + 0.5) / points
    picked = np.interp(targets, _centres(weights), values)
    return picked, np.full(points, weights.sum() / points)


def _chunk_quantiles(values: Floats, points: int) -> tuple[Floats, Floats]:
    """Equal-weight quantiles of one chunk (a sort, no weights to carry)."""
    ordered = np.sort(values)
    if ordered.size <= points:
        return ordered, np.ones(ordered.size)
    ranks = (np.arange(points) + 0.5) / points * ordered.size - 0.5
    picked = np.interp(ranks, np.arange(ordered.size), ordered)
    return picked, np.full(points, ordered.size / points)


def _tails(values: Floats) -> tuple[Floats, Floats]:
    """The :data:`TAIL_VALUES` smallest and largest values, each sorted."""
    if values.size <= TAIL_VALUES:
        ordered = np.sort(values)
        return ordered, ordered.copy()
    low = np.sort(np.partition(values, TAIL_VALUES - 1)[:TAIL_VALUES])
    high = np.sort(np.partition(values, values.size - TAIL_VALUES)[-TAIL_VALUES:])
    return low, high


@dataclass
class NumericSketch:
    """A numeric column (see the module docstring)."""

    n: int = 0
    missing: int = 0
    mean: float = 0.0
    m2: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    distinct: dict[float, int] | None = field(default_factory=dict)
    raw: list[Floats] | None = field(default_factory=list)
    summary: tuple[Floats, Floats] | None = None
    low: Floats | None = None
    """The :data:`TAIL_VALUES` smallest values, sorted (with a summary)."""
    high: Floats | None = None
    """The :data:`TAIL_VALUES` largest values, sorted (with a summary)."""
    _sorted: Floats | None = field(default=None, repr=False)

    kind: ColumnKind = "numerical"

    def update(self, values: Floats) -> None:
        """Add a chunk of values (NaN and infinities are counted as missing).

        Args:
            values: The chunk, as float64.
        """
        finite = values[np.isfinite(values)]
        self.missing += int(values.size - finite.size)
        if finite.size == 0:
            return
        self._sorted = None
        count = finite.size
        chunk_mean = float(finite.mean())
        chunk_m2 = float(((finite - chunk_mean) ** 2).sum())
        delta = chunk_mean - self.mean
        total = self.n + count
        self.mean += delta * count / total
        self.m2 += chunk_m2 + delta * delta * self.n * count / total
        self.n = total
        self.minimum = min(self.minimum, float(finite.min()))
        self.maximum = max(self.maximum, float(finite.max()))
        if self.distinct is not None:
            uniques, counts = np.unique(finite, return_counts=True)
            if uniques.size > DISTINCT_LIMIT:
                self.distinct = None
            else:
                for value, c in zip(uniques.tolist(), counts.tolist(), strict=True):
                    self.distinct[value] = self.distinct.get(value, 0) + c
                if len(self.distinct) > DISTINCT_LIMIT:
                    self.distinct = None
        if self.raw is not None:
            self.raw.append(finite.astype(np.float64, copy=True))
            if self.n > RAW_LIMIT:
                every = np.concatenate(self.raw)
                self.raw = None
                self.summary = _chunk_quantiles(every, SUMMARY_POINTS)
                self.low, self.high = _tails(every)
            return
        assert self.summary is not None
        self._merge_tails(finite)
        part = _chunk_quantiles(finite, SUMMARY_POINTS)
        merged_v = np.concatenate([self.summary[0], part[0]])
        order = np.argsort(merged_v, kind="stable")
        merged = (merged_v[order], np.concatenate([self.summary[1], part[1]])[order])
        # The summary stays in value order, so queries never sort it.
        self.summary = (
            _compact(*merged, SUMMARY_POINTS) if order.size > 4 * SUMMARY_POINTS else merged
        )

    def _merge_tails(self, values: Floats) -> None:
        low, high = _tails(values)
        if self.low is not None and self.high is not None:
            low, _ = _tails(np.concatenate([self.low, low]))
            _, high = _tails(np.concatenate([self.high, high]))
        self.low, self.high = low, high

    @property
    def exact(self) -> bool:
        """Whether the raw values are kept (every test on them is exact)."""
        return self.raw is not None

    @property
    def std(self) -> float:
        """Population standard deviation (``np.std``, ``ddof=0``)."""
        return math.sqrt(self.m2 / self.n) if self.n else 0.0

    @property
    def nunique(self) -> int | None:
        """Distinct values, or ``None`` when more than :data:`DISTINCT_LIMIT`."""
        return None if self.distinct is None else len(self.distinct)

    def values(self) -> Floats:
        """The raw values, sorted (only while :attr:`exact`)."""
        assert self.raw is not None
        if self._sorted is None:
            self._sorted = np.sort(np.concatenate(self.raw)) if self.raw else np.empty(0)
            self.raw = [self._sorted]
        return self._sorted

    def quantiles(self, ranks: Floats) -> Floats:
        """The quantile function at ranks in [0, 1].

        Args:
            ranks: Ranks.

        Returns:
            Values (exact from raw values, interpolated from the summary otherwise).
        """
        if self.raw is not None:
            data = self.values()
            index = np.clip(np.floor(ranks * data.size).astype(np.int64), 0, data.size - 1)
            return data[index]
        assert self.summary is not None
        values, weights = self.summary
        inner = np.clip(np.interp(ranks, _centres(weights), values), self.minimum, self.maximum)
        if self.low is None or self.high is None:
            return inner
        index = np.clip(np.floor(ranks * self.n).astype(np.int64), 0, self.n - 1)
        top = index - (self.n - self.high.size)
        inner = np.where(
            index < self.low.size, self.low[np.minimum(index, self.low.size - 1)], inner
        )
        return np.where(top >= 0, self.high[np.maximum(top, 0)], inner)

    def distribution(self) -> tuple[Floats, Floats | None]:
        """The column as a discrete distribution: values and their weights.

        Returns:
            The raw values (no weights) while :attr:`exact`; otherwise the exact tails (weight 1
            each) and :data:`BULK_POINTS` equal-weight quantiles of what lies between them.
        """
        if self.raw is not None:
            return self.values(), None
        assert self.summary is not None
        if self.low is None or self.high is None:  # a sketch saved before tails were kept
            ranks = (np.arange(BULK_POINTS) + 0.5) / BULK_POINTS
            return self.quantiles(ranks), np.full(BULK_POINTS, self.n / BULK_POINTS)
        bulk = self.n - self.low.size - self.high.size
        ranks = (self.low.size + (np.arange(BULK_POINTS) + 0.5) * bulk / BULK_POINTS) / self.n
        values, weights = self.summary
        inner = np.clip(np.interp(ranks, _centres(weights), values), self.low[-1], self.high[0])
        return (
            np.concatenate([self.low, inner, self.high]),
            np.concatenate(
                [
                    np.ones(self.low.size),
                    np.full(BULK_POINTS, bulk / BULK_POINTS),
                    np.ones(self.high.size),
                ]
            ),
        )

    def cdf(self, points: Floats) -> Floats:
        """Share of values at or below each point.

        Args:
            points: Where to evaluate.

        Returns:
            Shares in [0, 1].
        """
        if self.raw is not None:
            data = self.values()
            return np.searchsorted(data, points, side="right") / data.size
        assert self.summary is not None
        values, weights = self.summary
        grid = np.concatenate([[self.minimum], values, [self.maximum]])
        ranks = np.concatenate([[0.0], _centres(weights), [1.0]])
        shares = np.interp(points, grid, ranks, left=0.0, right=1.0)
        shares = np.where(points >= self.maximum, 1.0, shares)
        if self.low is None or self.high is None:
            return shares
        below = np.searchsorted(self.low, points, side="right") / self.n
        above = (
            self.n - self.high.size + np.searchsorted(self.high, points, side="right")
        ) / self.n
        shares = np.where(points < self.low[-1], below, shares)
        return np.where(points >= self.high[0], above, shares)

    def to_json(self) -> dict[str, Any]:
        """The sketch as JSON."""
        data: dict[str, Any] = {
            "kind": self.kind,
            "n": self.n,
            "missing": self.missing,
            "mean": self.mean,
            "m2": self.m2,
            "min": self.minimum if self.n else None,
            "max": self.maximum if self.n else None,
            "distinct": None
            if self.distinct is None
            else [[k, v] for k, v in sorted(self.distinct.items())],
        }
        if self.raw is not None:
            data["raw"] = self.values().tolist()
        else:
            assert self.summary is not None
            data["summary"] = [self.summary[0].tolist(), self.summary[1].tolist()]
            if self.low is not None and self.high is not None:
                data["tails"] = [self.low.tolist(), self.high.tolist()]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NumericSketch:
        """Read a sketch written by :meth:`to_json`.

        Args:
            data: The JSON object.

        Returns:
            The sketch.
        """
        sketch = cls(
            n=int(data["n"]),
            missing=int(data["missing"]),
            mean=float(data["mean"]),
            m2=float(data["m2"]),
            minimum=math.inf if data["min"] is None else float(data["min"]),
            maximum=-math.inf if data["max"] is None else float(data["max"]),
            distinct=None
            if data["distinct"] is None
            else {float(k): int(v) for k, v in data["distinct"]},
        )
        if "raw" in data:
            sketch.raw = [np.asarray(data["raw"], dtype=np.float64)]
        else:
            sketch.raw = None
            values, weights = (np.asarray(part, np.float64) for part in data["summary"])
            order = np.argsort(values, kind="stable")
            sketch.summary = (values[order], weights[order])
            if "tails" in data:  # sketches saved before tails were kept have none
                low, high = (np.sort(np.asarray(part, np.float64)) for part in data["tails"])
                sketch.low, sketch.high = low, high
        return sketch


@dataclass
class CategoricalSketch:
    """A categorical column: the count of every category."""

    n: int = 0
    missing: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    kind: ColumnKind = "categorical"

    def update(self, values: list[Any], counts: list[int], missing: int) -> None:
        """Add a chunk's value counts.

        Args:
            values: Distinct values of the chunk (``None`` and NaN are counted as missing).
            counts: How often each occurs.
            missing: Nulls in the chunk.

        Raises:
            SketchError: If the column passes :data:`CATEGORY_LIMIT` categories.
        """
        self.missing += missing
        for value, count in zip(values, counts, strict=True):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                self.missing += count
                continue
            self.n += count
            self.counts[_category(value)] += count
        if len(self.counts) > CATEGORY_LIMIT:
            raise SketchError(f"more than {CATEGORY_LIMIT:,} categories (an identifier or text?)")

    @property
    def nunique(self) -> int:
        """Distinct categories."""
        return len(self.counts)

    def to_json(self) -> dict[str, Any]:
        """The sketch as JSON."""
        return {
            "kind": self.kind,
            "n": self.n,
            "missing": self.missing,
            "counts": sorted(self.counts.items()),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CategoricalSketch:
        """Read a sketch written by :meth:`to_json`.

        Args:
            data: The JSON object.

        Returns:
            The sketch.
        """
        return cls(
            n=int(data["n"]),
            missing=int(data["missing"]),
            counts=Counter({str(k): int(v) for k, v in data["counts"]}),
        )


def _category(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


ColumnSketch = NumericSketch | CategoricalSketch


def as_categorical(sketch: NumericSketch) -> CategoricalSketch:
    """A numeric sketch with few distinct values, as categories (integer codes, flags).

    Args:
        sketch: A sketch whose distinct values are known.

    Returns:
        The categorical sketch.
    """
    assert sketch.distinct is not None
    counts = Counter({_category(k): v for k, v in sketch.distinct.items()})
    return CategoricalSketch(n=sketch.n, missing=sketch.missing, counts=counts)


@dataclass
class DatasetSketch:
    """Every column of a window.

    Attributes:
        rows: Rows read.
        columns: Sketch per column, in the data's column order.
        skipped: Columns left out, with why (text, unsupported types).
    """

    rows: int
    columns: dict[str, ColumnSketch]
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The sketch as JSON, with its digest."""
        body = {
            "format": "keel.sketch/1",
            "rows": self.rows,
            "columns": {name: s.to_json() for name, s in self.columns.items()},
            "skipped": self.skipped,
        }
        return {**body, "digest": _digest(body)}

    @property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON (what check results record)."""
        return str(self.to_json()["digest"])

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetSketch:
        """Read a sketch written by :meth:`to_json`, checking its digest.

        Args:
            data: The JSON object.

        Returns:
            The sketch.

        Raises:
            SketchError: If it is not a Keel sketch or its digest does not match.
        """
        if data.get("format") != "keel.sketch/1":
            raise SketchError("not a Keel sketch (format keel.sketch/1)")
        body = {k: v for k, v in data.items() if k != "digest"}
        if _digest(body) != data.get("digest"):
            raise SketchError("the sketch's digest does not match its content (edited?)")
        columns: dict[str, ColumnSketch] = {}
        for name, column in data["columns"].items():
            kind = column.get("kind")
            columns[name] = (
                NumericSketch.from_json(column)
                if kind == "numerical"
                else CategoricalSketch.from_json(column)
            )
        return cls(int(data["rows"]), columns, dict(data.get("skipped", {})))


def _digest(body: dict[str, Any]) -> str:
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return "sha256:" + hashlib.sha256(canonical).hexdigest()
