"""A reference for lineage walks: shortest-path distances by relaxing every edge until stable."""

from __future__ import annotations

from collections.abc import Iterable


def distances(edges: Iterable[tuple[int, int, str]], start: int, forward: bool) -> dict[int, int]:
    """Shortest distance from ``start`` to every node it reaches.

    Args:
        edges: ``(source, target, kind)``.
        start: The node to start from.
        forward: Follow edges the way they point (else against them).

    Returns:
        Node -> distance (the start at 0).
    """
    listed = list(edges)
    dist = {start: 0}
    changed = True
    while changed:
        changed = False
        for s, d, _ in listed:
            a, b = (s, d) if forward else (d, s)
            if a in dist and dist[a] + 1 < dist.get(b, 1 << 30):
                dist[b] = dist[a] + 1
                changed = True
    return dist
