"""One router per capability; each route is one operation behind one guard (action on resource).

A route reads its body, asks the caller's operations (acting as the authenticated principal,
lists filtered by its reads) for one thing, and returns the wire model it got.
"""

from keel.api.routers import (
    agents,
    capacity,
    decisions,
    estate,
    ledger,
    lineage,
    meta,
    models,
    monitors,
    plans,
    readiness,
    runs,
    tokens,
)

ROUTERS = [
    meta.router,
    estate.router,
    plans.router,
    ledger.router,
    decisions.router,
    lineage.router,
    models.router,
    monitors.router,
    runs.router,
    capacity.router,
    agents.router,
    readiness.router,
    tokens.router,
]
"""Every router of the API, in the order the OpenAPI document lists them."""

__all__ = ["ROUTERS"]
