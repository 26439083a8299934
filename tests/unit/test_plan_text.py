"""What the plan's last line says about its bound, its gap and the replicas left out."""

from __future__ import annotations

from typing import Any

from keel import wire
from keel.cli.plan import gap_text


def plan(**fields: Any) -> wire.Plan:
    base: dict[str, Any] = {
        "placements": [],
        "unplaced": [],
        "totals": {},
        "solver": "fast",
        "objective": "balanced",
        "objective_usd": 100.0,
        "bound": 99.0,
        "gap": 0.01,
        "bound_method": "lp",
        "solve_s": 0.1,
        "estate_digest": "",
        "policy_digest": "",
        "placed_replicas": 10,
    }
    return wire.Plan.model_validate(base | fields)


def test_the_gap_is_among_plans_placing_as_many_replicas() -> None:
    text = gap_text(plan())
    assert text == (
        "at most 1.00% above the cheapest plan placing as many replicas (a lower bound from the"
        " LP relaxation)"
    )


def test_replicas_left_out_are_named_beside_the_gap_never_in_it() -> None:
    text = gap_text(plan(unplaceable=3, placeable_at_most=12))
    assert text.endswith(
        "; 3 replica(s) no option can take; up to 2 more replica(s) might be placeable"
    )
    assert "1.00%" in text
    proven = gap_text(plan(unplaceable=3, placeable_at_most=10))
    assert proven.endswith("; 3 replica(s) no option can take")


def test_an_exact_plan_says_so_and_a_missing_bound_gives_no_figure() -> None:
    assert gap_text(plan(gap=0.0, bound=100.0, bound_method="milp")) == (
        "optimal: no plan placing as many replicas costs less (the exact solver's search)"
    )
    assert gap_text(plan(gap=None, bound=None, bound_method="none")).startswith(
        "optimality gap unknown: no lower bound was computed"
    )


def test_counts_over_every_workload_are_withheld_from_a_reader_of_some() -> None:
    """Three unplaceable replicas, two of a workload the caller may not read: no count at all."""
    from keel.service.planning import redact_plan

    unplaced = [
        wire.Unplaced(workload=name, replicas=n, reasons=["accelerator"], relaxations=[])
        for name, n in (("visible", 1), ("secret", 2))
    ]
    full = plan(unplaced=unplaced, unplaceable=3, placeable_at_most=12)
    assert redact_plan(full, lambda names: [True] * len(names)) is full
    seen = redact_plan(full, lambda names: [n != "Workload/secret" for n in names])
    assert [u.workload for u in seen.unplaced] == ["visible"]
    assert seen.unplaceable is None and seen.placeable_at_most is None
    assert "no option can take" not in gap_text(seen)
    assert "might be placeable" not in gap_text(seen)
