"""Withholding the inputs a caller may not read from messages: whole names only."""

from __future__ import annotations

from keel.service.operations import withheld

MASK = "<an input you may not read>"


def test_whole_names_are_withheld_and_nothing_else() -> None:
    message = "restricted data (eu-cards, eu-cards-archive) only at on_prem sites; pii stays"
    assert withheld(message, ["eu-cards"]) == (
        f"restricted data ({MASK}, eu-cards-archive) only at on_prem sites; pii stays"
    )
    assert withheld(message, ["eu-cards-archive", "eu-cards"]) == (
        f"restricted data ({MASK}, {MASK}) only at on_prem sites; pii stays"
    )
    assert withheld("piie and pii.v2", ["pii"]) == "piie and pii.v2"  # parts of other words
    assert withheld("a (b.c) here", ["b.c"]) == f"a ({MASK}) here"  # dots are literal
    assert withheld("it reads pii.", ["pii"]) == f"it reads {MASK}."  # a full stop ends it
