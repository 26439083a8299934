"""Heavy-tailed windows near the Wasserstein threshold: where a quantile summary is weakest.

Used by ``tests/unit/test_drift.py`` (agreement with Evidently) and ``bench/drift.py --family
heavy``. Four shapes (Pareto with tail index 1.5, lognormal with sigma 3, Cauchy, a normal with
rare huge values), each changed two ways: moved by a share of the reference's standard
deviation, and stretched so that the distance moves by about that share. The shares sit around
Evidently's 0.1 threshold, so a few percent of error in the statistic flips a decision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SHAPES = ("pareto", "lognormal", "cauchy", "rare_huge")
CHANGES = ("move", "stretch")
LEVELS = (0.0, 0.09, 0.1, 0.11, 0.2)
"""Intended normed distance of each change (0.1 is the threshold)."""


def sample(rng: np.random.Generator, shape: str, rows: int) -> np.ndarray:
    """Draw one heavy-tailed column."""
    if shape == "pareto":
        return rng.pareto(1.5, rows) + 1.0
    if shape == "lognormal":
        return rng.lognormal(0.0, 3.0, rows)
    if shape == "cauchy":
        return rng.standard_cauchy(rows)
    values = rng.normal(0.0, 1.0, rows)
    rare = rng.random(rows) < 1e-4
    values[rare] = rng.normal(1e4, 1e3, int(rare.sum()))
    return values


def windows(seed: int, rows: int, every_level: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current window of heavy-tailed columns.

    Args:
        seed: The random seed.
        rows: Rows of each window.
        every_level: One column per shape, change and level (40); otherwise one per shape and
            change (8), the level turning with the seed so that ten seeds try each level twice.

    Returns:
        The two windows.
    """
    rng = np.random.default_rng(seed)
    reference: dict[str, np.ndarray] = {}
    current: dict[str, np.ndarray] = {}
    pairs = [(s, c) for s in SHAPES for c in CHANGES]
    combos = (
        [(s, c, lv) for s, c in pairs for lv in LEVELS]
        if every_level
        else [(s, c, LEVELS[(seed + i) % len(LEVELS)]) for i, (s, c) in enumerate(pairs)]
    )
    for shape, change, level in combos:
        name = f"{shape}_{change}_{level:g}"
        before, after = sample(rng, shape, rows), sample(rng, shape, rows)
        spread = float(np.std(before))
        if change == "move":
            after = after + level * spread
        else:  # W1(X, cX) = |c - 1| E|X|
            after = after * (1.0 + level * spread / float(np.mean(np.abs(before))))
        reference[name], current[name] = before, after
    return pd.DataFrame(reference), pd.DataFrame(current)
