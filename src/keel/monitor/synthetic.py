"""Synthetic traffic of a credit-decision service, for the demo, tests and benchmarks.

One row per scored application: applicant features, the model's score, the later outcome and
the request's latency. ``drifted=True`` shifts income and regions (a new market), raises
latency and weakens the score's link to the outcome, as a real incident would.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

REGIONS = ["north", "south", "east", "west"]


def credit_traffic(rows: int, *, seed: int, drifted: bool = False) -> pd.DataFrame:
    """A window of scored applications.

    Args:
        rows: Rows to generate.
        seed: Random seed (the same seed gives the same window).
        drifted: Whether the world has changed.

    Returns:
        Columns ``income`` (EUR), ``age``, ``region``, ``has_card``, ``score``, ``defaulted``,
        ``latency_ms`` and ``failed``.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    shift = 1.0 if drifted else 0.0
    income = rng.lognormal(10.4 + 0.4 * shift, 0.45, rows)
    age = rng.integers(18, 80, rows)
    region = rng.choice(REGIONS, rows, p=[0.4 - 0.25 * shift, 0.3, 0.2, 0.1 + 0.25 * shift])
    has_card = rng.random(rows) < 0.6
    risk = 1 / (1 + np.exp((np.log(income) - 10.4) * 2 + (age - 45) / 30))
    defaulted = (rng.random(rows) < risk * 0.5).astype(np.int64)
    noise = rng.normal(0, 0.15 + 0.35 * shift, rows)
    score = np.clip(risk * 0.5 + noise * (0.5 if drifted else 0.2), 0, 1)
    latency = rng.gamma(4, 3.5 + 6 * shift, rows)
    failed = rng.random(rows) < (0.005 + 0.04 * shift)
    return pd.DataFrame(
        {
            "income": income,
            "age": age,
            "region": region,
            "has_card": has_card,
            "score": score,
            "defaulted": defaulted,
            "latency_ms": latency,
            "failed": failed,
        }
    )


def write_demo_windows(folder: Path, *, drifted: bool = False) -> tuple[Path, Path]:
    """Write the demo monitor's reference and current windows (Parquet).

    Args:
        folder: The ``data`` folder next to the demo manifests.
        drifted: Whether the current window is drifted.

    Returns:
        The reference and current files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    reference = folder / "credit-decision-reference.parquet"
    current = folder / "credit-decision-current.parquet"
    if not reference.exists():
        credit_traffic(20_000, seed=1).to_parquet(reference, index=False)
    credit_traffic(5_000, seed=2 if not drifted else 3, drifted=drifted).to_parquet(
        current, index=False
    )
    return reference, current
