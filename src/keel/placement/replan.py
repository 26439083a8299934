"""Re-planning after an estate change: a churn penalty against the incumbent plan, and a diff.

The incumbent is the last committed plan. Every option a workload did not use before costs an
extra ``CHURN_SHARE`` of that workload's cheapest feasible objective, so a small change in
prices or carbon does not reshuffle everything, while a site going down or a real saving still
moves work. The diff says, for every workload that moved, appeared or disappeared, why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from keel.placement.problem import Problem
from keel.placement.reasons import reason_codes

CHURN_SHARE = 0.05
"""Extra cost of moving a workload, as a share of its cheapest placement."""


def incumbent_options(problem: Problem, previous: dict[str, Any]) -> dict[int, set[int]]:
    """Options each workload used in a previous plan, by workload and option index.

    Args:
        problem: The new problem.
        previous: The previous plan's JSON.

    Returns:
        Option indices per workload index (only options that still exist).
    """
    index = _option_index(problem)
    workloads = {name: w for w, name in enumerate(problem.workloads)}
    used: dict[int, set[int]] = {}
    for placement in previous.get("placements", []):
        w = workloads.get(placement["workload"])
        o = index.get(f"{placement['site']}/{placement['pool']}")
        if w is not None and o is not None:
            used.setdefault(w, set()).add(o)
    return used


def add_churn_penalty(
    problem: Problem, previous: dict[str, Any], share: float = CHURN_SHARE
) -> None:
    """Make leaving a workload's previous options cost extra (in place).

    Args:
        problem: The new problem; its ``objective`` is changed.
        previous: The previous plan's JSON.
        share: Penalty as a share of the workload's cheapest feasible objective.
    """
    for w, options in incumbent_options(problem, previous).items():
        row = problem.objective[w]
        finite = row[np.isfinite(row)]
        if finite.size == 0:
            continue
        penalty = share * float(finite.min())
        others = np.ones(row.shape, dtype=bool)
        others[list(options)] = False
        row[others & np.isfinite(row)] += penalty


@dataclass(frozen=True, slots=True)
class Move:
    """What happened to one workload between two plans, and why."""

    workload: str
    change: str
    before: list[str]
    after: list[str]
    why: str

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "workload": self.workload,
            "change": self.change,
            "before": self.before,
            "after": self.after,
            "why": self.why,
        }


def _places(plan: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in plan.get("placements", []):
        out.setdefault(p["workload"], []).append(f"{p['site']}/{p['pool']}")
    return {k: sorted(v) for k, v in out.items()}


def _objective_by_workload(plan: dict[str, Any]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for p in plan.get("placements", []):
        totals[p["workload"]] = totals.get(p["workload"], 0.0) + float(p["objective_usd"])
    return totals


def _option_index(problem: Problem) -> dict[str, int]:
    pairs = zip(problem.option_site.tolist(), problem.option_pool, strict=True)
    return {f"{problem.sites[s]}/{pool}": o for o, (s, pool) in enumerate(pairs)}


def diff(problem: Problem, previous: dict[str, Any], current: dict[str, Any]) -> list[Move]:
    """Compare two plans and explain each difference.

    Args:
        problem: The problem the current plan was computed from.
        previous: The previous plan's JSON.
        current: The current plan's JSON.

    Returns:
        One move per workload whose placement changed.
    """
    before, after = _places(previous), _places(current)
    index = _option_index(problem)
    workloads = {name: w for w, name in enumerate(problem.workloads)}
    cost_now = _objective_by_workload(current)
    cost_then = _objective_by_workload(previous)
    moves = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, []), after.get(name, [])
        if old == new:
            continue
        if not old:
            moves.append(Move(name, "placed", old, new, "new workload, or capacity freed"))
            continue
        w = workloads.get(name)
        if not new:
            why = "removed from the estate" if w is None else "no feasible option with room"
            moves.append(Move(name, "unplaced", old, new, why))
            continue
        blocked = []
        for option in old:
            o = index.get(option)
            if o is None:
                blocked.append(f"{option}: gone")
            elif w is not None and problem.reasons[w, o]:
                blocked.append(f"{option}: {', '.join(reason_codes(int(problem.reasons[w, o])))}")
        if blocked:
            why = "previous option no longer allowed (" + "; ".join(blocked) + ")"
        else:
            delta = cost_then.get(name, 0.0) - cost_now.get(name, 0.0)
            why = (
                f"cheaper by {delta:,.2f} USD (per run or month), more than the churn penalty"
                if delta > 0
                else "its capacity went to other workloads"
            )
        moves.append(Move(name, "moved", old, new, why))
    return moves
