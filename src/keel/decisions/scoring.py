"""The demo's credit model: trained on synthetic traffic, served by an ASGI app that records.

:func:`train` fits a scikit-learn logistic regression of default on an applicant's income, age
and card (from :func:`keel.monitor.synthetic.credit_traffic`); :func:`scoring_app` serves it at
``POST /score`` as a FastAPI app whose decisions :class:`~keel.decisions.DecisionMiddleware`
records: the application's digest, the decision with its probability of default, the reason
codes (the features that pushed the score most, as a lender's adverse-action notice names them)
and the customer from the ``X-Customer`` header.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.decisions.middleware import DecisionMiddleware
from keel.decisions.recorder import Recorder

if TYPE_CHECKING:
    import pandas as pd

FEATURES = ("log_income", "age", "has_card")
APPROVE_BELOW = 0.15
"""Probability of default below which an application is approved."""
DECLINE_ABOVE = 0.35
"""Probability of default above which it is declined; between the two it is referred."""
REASONS = {
    "log_income": "R01 income",
    "age": "R02 age",
    "has_card": "R03 existing card",
}


@dataclass(frozen=True, slots=True)
class CreditModel:
    """A fitted logistic regression, as plain numbers (what the app needs to score)."""

    intercept: float
    weights: tuple[float, ...]
    means: tuple[float, ...]

    def features(self, application: dict[str, Any]) -> tuple[float, ...]:
        """An application's features, in :data:`FEATURES` order."""
        return (
            math.log(max(float(application["income"]), 1.0)),
            float(application["age"]),
            1.0 if application.get("has_card") else 0.0,
        )

    def score(self, application: dict[str, Any]) -> dict[str, Any]:
        """The decision on one application, with the reasons that weighed most towards risk."""
        values = self.features(application)
        logit = self.intercept + sum(w * v for w, v in zip(self.weights, values, strict=True))
        risk = 1 / (1 + math.exp(-logit))
        pushes = sorted(
            (
                (w * (v - m), name)
                for w, v, m, name in zip(self.weights, values, self.means, FEATURES, strict=True)
            ),
            reverse=True,
        )
        if risk < APPROVE_BELOW:
            decision = "approve"
        elif risk > DECLINE_ABOVE:
            decision = "decline"
        else:
            decision = "refer"
        return {
            "decision": decision,
            "probability_of_default": round(risk, 4),
            "reasons": [REASONS[name] for push, name in pushes if push > 0][:2],
        }


def train(rows: int = 20_000, seed: int = 1) -> CreditModel:
    """Fit the demo's model on a synthetic window.

    Args:
        rows: Training rows.
        seed: The window's seed (the demo's versions differ by it).

    Returns:
        The fitted model.
    """
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    from keel.monitor.synthetic import credit_traffic

    frame = credit_traffic(rows, seed=seed)
    table = _table(frame)
    fitted = LogisticRegression(max_iter=1000).fit(table, frame["defaulted"].to_numpy())
    return CreditModel(
        float(fitted.intercept_[0]),
        tuple(float(w) for w in fitted.coef_[0]),
        tuple(float(m) for m in table.mean(axis=0)),
    )


def _table(frame: pd.DataFrame) -> Any:
    import numpy as np

    return np.column_stack(
        [np.log(frame["income"].clip(lower=1.0)), frame["age"], frame["has_card"].astype(float)]
    )


def scoring_app(
    models: dict[str, CreditModel], recorder: Recorder, served: Callable[[], str]
) -> Any:
    """The model server: ``POST /score`` with an application, decisions recorded.

    It answers with the version Keel says the workload serves (``served``, asked at each
    request: a monitor's rollback swaps it), and names that version in the answer and record.

    Args:
        models: The fitted models, by ``name@version``.
        recorder: Where its decisions go.
        served: The ``name@version`` to serve now.

    Returns:
        The ASGI app.
    """
    from fastapi import FastAPI, HTTPException

    app = FastAPI(title="credit-decision-api (Keel demo)")

    @app.post("/score")
    def score(application: dict[str, Any]) -> dict[str, Any]:
        ref = served()
        model = models.get(ref)
        if model is None:
            raise HTTPException(503, f"{ref} is not loaded here")
        return {**model.score(application), "model": ref}

    app.add_middleware(
        DecisionMiddleware,
        recorder=recorder,
        paths={"/score"},
        subject=lambda body, headers: headers.get("x-customer"),
        explanation=lambda answer: {"reason_codes": answer["reasons"]},
        model=lambda answer: answer["model"],
    )
    return app
