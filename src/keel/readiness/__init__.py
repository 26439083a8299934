"""Readiness and maturity computed from the estate and its records, with evidence.

:func:`assess` turns :class:`~keel.readiness.facts.Facts` (gathered by the service layer) into
an :class:`Assessment`: every sub-score with its components and evidence, the measured
readiness and maturity indices, the declared index kept apart, the ordinal level, the
capability tiers, the next steps and a scorecard per site. Pure computation; docs/readiness.md
has every formula and its source in the report.
"""

from __future__ import annotations

from dataclasses import dataclass

from keel.readiness.facts import Facts
from keel.readiness.guide import Step, Tier, level, reached, steps, tiers
from keel.readiness.index import Score, mean_of, scores
from keel.readiness.scorecard import SiteCard, site_cards

__all__ = ["Assessment", "Facts", "assess"]


@dataclass(frozen=True, slots=True)
class Assessment:
    """One readiness assessment.

    Attributes:
        readiness: Measured readiness index, 0-100 (``None``: nothing measurable).
        maturity: Measured maturity index, 0-100.
        declared: The declared maturity index (talent, partnerships, centre of excellence),
            never mixed into the measured ones.
        level: The ordinal level on the lower measured index.
        tier: The highest capability tier reached, or ``None``.
    """

    scores: tuple[Score, ...]
    readiness: float | None
    maturity: float | None
    declared: float | None
    level: str
    tier: str | None
    tiers: tuple[Tier, ...]
    steps: tuple[Step, ...]
    sites: tuple[SiteCard, ...]


def assess(facts: Facts) -> Assessment:
    """Score an estate.

    Args:
        facts: What the estate and its records show.

    Returns:
        The assessment.
    """
    found = scores(facts)
    readiness = mean_of(found, "readiness", "measured")
    maturity = mean_of(found, "maturity", "measured")
    placed = tiers(found)
    tier = reached(placed)
    return Assessment(
        scores=tuple(found),
        readiness=readiness,
        maturity=maturity,
        declared=mean_of(found, "maturity", "declared"),
        level=level(readiness, maturity),
        tier=tier,
        tiers=tuple(placed),
        steps=tuple(steps(found, tier)),
        sites=tuple(site_cards(facts)),
    )
