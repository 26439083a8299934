"""Did-you-mean suggestions for misspelt keys, kinds and references."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A suggestion suffix for an unknown word, or ``""`` when nothing is close.

    Args:
        word: What the user wrote.
        candidates: The words that would have been valid.

    Returns:
        ``"; did you mean 'x'?"`` for the closest candidate, or ``""``.
    """
    pool = list(candidates)
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in pool}
        hit = lowered.get(word.lower())
        matches = [hit] if hit else []
    return f"; did you mean '{matches[0]}'?" if matches else ""
