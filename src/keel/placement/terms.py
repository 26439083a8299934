"""Cost terms computed on access: a workloads x options matrix that is never stored whole.

Most of a plan's cost terms are products of a per-workload and a per-option factor (compute,
energy, carbon) or a per-site value gathered per option (egress, transfer time, latency).
Stored whole, each is 80 MB at 10,000 workloads x 1,000 options; a plan reads a few thousand
cells of them. A :class:`Term` keeps the factors and computes what is indexed, with numpy's
indexing rules, by the same operations in the same order as a whole matrix would be built, so
every value is bit for bit what the whole matrix would hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

Cells = Callable[[Any, Any], Any]
"""The values at workload and option indices (integers or broadcastable integer arrays)."""


class Term:
    """A lazily computed workloads x options matrix.

    Args:
        shape: Workloads x options.
        cells: Computes the values at given indices.
    """

    def __init__(self, shape: tuple[int, int], cells: Cells) -> None:
        self.shape = shape
        self._cells = cells

    @classmethod
    def dense(cls, values: npt.NDArray[np.float64]) -> Term:
        """A term over a stored matrix (small problems, tests)."""
        return cls((int(values.shape[0]), int(values.shape[1])), lambda w, o: values[w, o])

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, tuple) and _scalar(key[0]) and _scalar(key[1]):
            return self._cells(key[0], key[1])  # one cell: what explanations read, most often
        rows, cols = key if isinstance(key, tuple) else (key, slice(None))
        w, o = self._index(rows, 0), self._index(cols, 1)
        crossed = isinstance(rows, slice) or isinstance(cols, slice)
        if crossed and np.ndim(w) == 1 and np.ndim(o) == 1:
            w = w[:, None]  # a slice with an array selects every pair, as numpy does
        return self._cells(w, o)

    def _index(self, index: Any, axis: int) -> Any:
        """Positions along an axis: a slice as an array, a mask as its positions."""
        if isinstance(index, slice):
            return np.arange(self.shape[axis])[index]
        found = np.asarray(index)
        if found.dtype == bool:
            return np.flatnonzero(found)
        return index if found.ndim == 0 else found

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[np.float64]:
        whole = np.asarray(self[:, :], dtype=np.float64)
        return whole if dtype is None else whole.astype(dtype)


def _scalar(index: Any) -> bool:
    return isinstance(index, int | np.integer)
