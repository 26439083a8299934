"""Evidently's ``DataDriftPreset``, per column: the baseline Keel's drift tests are held to.

Used by ``tests/unit/test_drift.py`` (agreement) and ``bench/drift.py`` (speed, memory,
agreement). Evidently is a dev dependency; it is imported only when called.
"""

from __future__ import annotations

import warnings

import pandas as pd

EVIDENTLY_METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
}
"""Evidently's method names, as Keel names them."""


def evidently_decisions(
    reference: pd.DataFrame, current: pd.DataFrame
) -> dict[str, tuple[str, float, bool]]:
    """Run Evidently's ``DataDriftPreset`` with its defaults.

    Args:
        reference: The reference window.
        current: The current window.

    Returns:
        ``column -> (method, statistic, drifted)``, with Evidently's own comparison direction
        per method (``<=`` for KS, ``<`` for chi-square and Z, ``>=`` for distances).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        report = Report([DataDriftPreset()]).run(
            current_data=Dataset.from_pandas(current, data_definition=DataDefinition()),
            reference_data=Dataset.from_pandas(reference, data_definition=DataDefinition()),
        )
    found = {}
    for metric in report.dict()["metrics"]:
        config = metric["config"]
        if not config.get("type", "").endswith("ValueDrift"):
            continue
        method = EVIDENTLY_METHODS[config["method"]]
        value, threshold = float(metric["value"]), float(config["threshold"])
        if method == "ks":
            drifted = value <= threshold
        elif method in ("chisquare", "z"):
            drifted = value < threshold
        else:
            drifted = value >= threshold
        found[config["column"]] = (method, value, drifted)
    return found
