"""Agents that duplicate each other: the same job done twice, with the same data and tools.

The report warns of duplicated agents doing the same task. Each pair of agents gets a score
from 0 to 1, a weighted sum of four pieces of evidence:

=================  ======  ==============================================================
evidence           weight  how it is measured
=================  ======  ==============================================================
model family       0.2     1 when both models are of one family: the name without its
                           version and size (``aurelia-assistant-70b@1.0`` is
                           ``aurelia-assistant``), else 0
tools              0.3     Jaccard overlap of the granted tools
datasets           0.2     Jaccard overlap of the granted datasets
purpose            0.3     cosine similarity of the purposes' TF-IDF vectors (words and
                           word pairs, fitted on every agent's purpose; scikit-learn); 0 when
                           either has none
=================  ======  ==============================================================

A pair at or above 0.6 is reported as a likely duplicate; the evidence says what they share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations

WEIGHTS = {"model": 0.2, "tools": 0.3, "datasets": 0.2, "purpose": 0.3}
LIKELY = 0.6
"""Score from which a pair is called a likely duplicate."""

_VERSION = re.compile(r"@.*$")
_SIZE = re.compile(r"-\d+(\.\d+)?[bmk]$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Profile:
    """What an agent is, for comparison."""

    model: str
    tools: frozenset[str]
    datasets: frozenset[str]
    purpose: str | None


@dataclass(frozen=True, slots=True)
class Pair:
    """Two agents compared.

    Attributes:
        first: One agent (the name that sorts first).
        second: The other.
        score: 0 to 1.
        parts: Each piece of evidence's similarity, 0 to 1, by name.
        shared_tools: Tools both may use.
        shared_datasets: Datasets both may read.
        family: The model family both use, or ``None``.
    """

    first: str
    second: str
    score: float
    parts: dict[str, float]
    shared_tools: list[str]
    shared_datasets: list[str]
    family: str | None

    @property
    def likely(self) -> bool:
        """Whether the pair is a likely duplicate."""
        return self.score >= LIKELY


def family(model: str) -> str:
    """A model's family: its name without version and parameter count."""
    return _SIZE.sub("", _VERSION.sub("", model.strip().lower()))


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _purposes(profiles: Mapping[str, Profile]) -> dict[tuple[str, str], float]:
    """Cosine similarity of every pair's purposes (TF-IDF on words and word pairs)."""
    named = [(name, p.purpose) for name, p in profiles.items() if p.purpose]
    if len(named) < 2:
        return {}
    from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]
    from sklearn.metrics.pairwise import cosine_similarity  # type: ignore[import-untyped]

    vectors = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit_transform(
        [text for _, text in named]
    )
    similar = cosine_similarity(vectors)
    return {
        (a, b): float(similar[i, j])
        for (i, (a, _)), (j, (b, _)) in combinations(enumerate(named), 2)
    }


def compare(profiles: Mapping[str, Profile]) -> list[Pair]:
    """Every pair of agents, highest score first."""
    purposes = _purposes(profiles)
    pairs = []
    for a, b in combinations(sorted(profiles), 2):
        pa, pb = profiles[a], profiles[b]
        same = family(pa.model) == family(pb.model)
        parts = {
            "model": 1.0 if same else 0.0,
            "tools": _jaccard(pa.tools, pb.tools),
            "datasets": _jaccard(pa.datasets, pb.datasets),
            "purpose": purposes.get((a, b), purposes.get((b, a), 0.0)),
        }
        score = sum(WEIGHTS[k] * v for k, v in parts.items())
        pairs.append(
            Pair(
                a,
                b,
                round(score, 3),
                {k: round(v, 3) for k, v in parts.items()},
                sorted(pa.tools & pb.tools),
                sorted(pa.datasets & pb.datasets),
                family(pa.model) if same else None,
            )
        )
    return sorted(pairs, key=lambda p: (-p.score, p.first, p.second))
