"""Graph walks: breadth-first depths equal shortest-path distances; cycles end; limits hold."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph_reference import distances
from keel.lineage.graph import Edge, parse_node, walk


def _neighbours(edges: list[Edge], forward: bool) -> Callable[[list[int]], list[Edge]]:
    def step(frontier: list[int]) -> list[Edge]:
        wanted = set(frontier)
        return [e for e in edges if (e[0] if forward else e[1]) in wanted]

    return step


graphs = st.lists(
    st.tuples(st.integers(0, 30), st.integers(0, 30), st.sampled_from(["input", "output"])),
    max_size=120,
)


@settings(max_examples=200, deadline=None)
@given(graphs, st.integers(0, 30), st.booleans(), st.one_of(st.none(), st.integers(0, 6)))
def test_depths_are_shortestdistances(
    edges: list[Edge], start: int, forward: bool, depth: int | None
) -> None:
    direction = "downstream" if forward else "upstream"
    result = walk([start], _neighbours(edges, forward), direction=direction, max_depth=depth)
    expected = {
        node: d
        for node, d in distances(edges, start, forward).items()
        if depth is None or d <= depth
    }
    assert result.depth == expected
    assert not result.truncated


def test_a_cycle_ends_the_walk() -> None:
    edges = [(1, 2, "input"), (2, 3, "output"), (3, 1, "input")]
    calls = []

    def step(frontier: list[int]) -> list[Edge]:
        calls.append(frontier)
        return _neighbours(edges, True)(frontier)

    result = walk([1], step, direction="downstream", max_depth=None)
    assert result.depth == {1: 0, 2: 1, 3: 2}
    assert len(calls) == 3  # the third level finds only node 1, already seen: no fourth


def test_node_limit_cuts_and_says_so() -> None:
    edges = [(0, i, "output") for i in range(1, 50)]
    result = walk(
        [0], _neighbours(edges, True), direction="downstream", max_depth=None, max_nodes=10
    )
    assert len(result.depth) == 10
    assert result.truncated


def test_edges_are_kept_only_when_asked() -> None:
    edges = [(0, 1, "output"), (1, 2, "input")]
    kept = walk([0], _neighbours(edges, True), direction="downstream", max_depth=None)
    assert kept.edges == edges
    bare = walk(
        [0], _neighbours(edges, True), direction="downstream", max_depth=None, keep_edges=False
    )
    assert bare.edges == [] and bare.depth == kept.depth


def test_node_references() -> None:
    assert parse_node("dataset:eu-profiles").namespace is None
    assert parse_node("dataset:raw", "s3://bucket").namespace == "s3://bucket"
    assert parse_node("model:credit-scoring@3.2").namespace == "keel"
    for bad in ("eu-profiles", "table:x", "dataset:"):
        with pytest.raises(ValueError, match="KIND:NAME"):
            parse_node(bad)
    with pytest.raises(ValueError, match="namespace"):
        parse_node("workload:w", "elsewhere")
