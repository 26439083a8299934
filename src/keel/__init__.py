"""Keel: the control plane for hybrid AI infrastructure.

Keel decides where AI workloads run across on-premises data centres, private clouds, public
clouds and edge sites, enforces the rules on data and models, and records every decision.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from keel.client import Client
    from keel.placement.plan import Plan

__all__ = ["Client", "__version__", "plan"]


def plan(
    workspace: str | Path | None = None,
    *,
    objective: str = "balanced",
    solver: str = "fast",
    commit: bool = False,
    principal: str = "",
    budget_s: float | None = None,
) -> Plan:
    """Plan where every workload of a workspace's estate runs.

    Args:
        workspace: Workspace folder; the configured one when ``None``.
        objective: ``cost``, ``carbon``, ``latency`` or ``balanced``.
        solver: ``fast`` or ``exact``.
        commit: Store the plan and record it in the ledger.
        principal: Who commits it (``user:NAME``); ``KEEL_PRINCIPAL`` when empty.
        budget_s: The fast solver returns its best plan after this many seconds (``None``:
            no budget; with one, the plan depends on the machine's speed).

    Returns:
        The plan (``plan.to_json()`` is what ``keel plan -o json`` prints).
    """
    from keel.service import Workspace, access, planning

    ws = Workspace.open(workspace)
    try:
        result = planning.compute_plan(ws, objective=objective, solver=solver, budget_s=budget_s)
        if commit:
            actor = access.local_actor(ws, principal or ws.settings.principal)
            planning.commit_plan(ws, result, actor=actor)
        return result.plan
    finally:
        ws.close()


def __getattr__(name: str) -> object:
    """``keel.Client`` loads the HTTP client only when asked for."""
    if name == "Client":
        from keel.client import Client

        return Client
    raise AttributeError(f"module 'keel' has no attribute {name!r}")
