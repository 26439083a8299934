"""The lineage graph's vocabulary and its traversal.

Nodes are datasets, jobs, model versions and workloads, each named by ``(kind, namespace,
name)``. Edges point the way data flows: ``dataset -input-> job -output-> dataset``,
``dataset -trained_on-> model``, ``model -serves-> workload``, ``dataset -reads-> workload`` and
``workload -produces-> model`` (a training run). Traversal walks breadth first, one level per
call of its ``neighbours`` function, and visits each node once, so a cycle ends the walk instead
of looping. (The store finds the nodes of a walk in one SQL statement; this walk then orders a
``show`` by distance over the edges among them, in memory.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

NODE_KINDS = ("dataset", "job", "model", "workload")
"""What a lineage node can be."""

EDGE_KINDS = ("input", "output", "trained_on", "serves", "reads", "produces")
"""How two nodes can be linked."""

KEEL_NAMESPACE = "keel"
"""The namespace of the estate's datasets, model versions and workloads."""

MODELS_NAMESPACE = "keel.models"
"""OpenLineage datasets in this namespace are model versions (``credit-scoring@3.2``): a training
job's output there links its input data to the registry's version."""

Direction = Literal["upstream", "downstream"]

REACHES_JOB: dict[Direction, str] = {"downstream": "input", "upstream": "output"}
"""The one edge kind by which a walk reaches a job, in each direction: a job is read by
``input`` edges and writes through ``output`` edges, and no other kind touches it."""


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node as a user names it: ``dataset:eu-customer-profiles``, ``model:credit-scoring@3.2``.

    Attributes:
        kind: One of :data:`NODE_KINDS`.
        name: The name.
        namespace: The namespace, or ``None`` to find it (the name must then be unique).
    """

    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_node(text: str, namespace: str | None = None) -> NodeRef:
    """Read ``KIND:NAME``.

    Args:
        text: What the user typed.
        namespace: The namespace given separately, if any.

    Returns:
        The reference.

    Raises:
        ValueError: If the kind is missing or unknown, or the name is empty.
    """
    kind, sep, name = text.partition(":")
    if not sep or kind not in NODE_KINDS or not name:
        raise ValueError(
            f"{text!r} is not a lineage node: write KIND:NAME with KIND one of "
            f"{', '.join(NODE_KINDS)} (dataset:eu-customer-profiles, model:credit-scoring@3.2)"
        )
    if kind in ("model", "workload") and namespace not in (None, KEEL_NAMESPACE):
        raise ValueError(f"{kind} nodes live in the {KEEL_NAMESPACE!r} namespace")
    return NodeRef(kind, name, KEEL_NAMESPACE if kind in ("model", "workload") else namespace)


Edge = tuple[int, int, str]
"""``(source id, target id, kind)``, pointing the way data flows."""


@dataclass(slots=True)
class Walk:
    """What a traversal reached.

    Attributes:
        depth: Node id -> how many edges from the start (the start nodes are at 0).
        edges: Every edge followed, pointing the way data flows.
        truncated: Whether the walk stopped at the node limit before it ran out of graph.
    """

    depth: dict[int, int] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    truncated: bool = False


def walk(
    start: Iterable[int],
    neighbours: Callable[[list[int]], list[Edge]],
    *,
    direction: Direction,
    max_depth: int | None,
    max_nodes: int = 1_000_000,
    keep_edges: bool = True,
) -> Walk:
    """Walk the graph breadth first from some nodes.

    Args:
        start: Node ids to start from.
        neighbours: Given a frontier of node ids, the edges that leave them in ``direction``
            (out-edges downstream, in-edges upstream).
        direction: ``downstream`` (where the data went) or ``upstream`` (where it came from).
        max_depth: Most edges from the start; ``None`` walks until the graph runs out.
        max_nodes: Most nodes to reach; the walk stops there and says so.
        keep_edges: Whether to keep the edges followed (an impact query needs only nodes).

    Returns:
        The nodes reached with their depth, and the edges followed.
    """
    result = Walk()
    frontier = list(dict.fromkeys(start))
    for node in frontier:
        result.depth[node] = 0
    level = 0
    while frontier and (max_depth is None or level < max_depth):
        level += 1
        following: list[int] = []
        for edge in neighbours(frontier):
            if keep_edges:
                result.edges.append(edge)
            target = edge[1] if direction == "downstream" else edge[0]
            if target in result.depth:
                continue
            if len(result.depth) >= max_nodes:
                result.truncated = True
                continue
            result.depth[target] = level
            following.append(target)
        frontier = following
    return result
