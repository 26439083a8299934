"""Lineage nodes and walks, impacts, erasures and ingests."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from keel.wire.base import JsonObject, Wire


class Node(Wire):
    """A dataset, job, model version or workload in the lineage graph."""

    kind: str
    namespace: str
    name: str
    origin: str = Field(description="openlineage, keel or external.")
    erased: bool
    facets: JsonObject
    depth: int | None = Field(default=None, description="Edges from the walk's start.")


class Edge(Wire):
    """An edge followed by a walk."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: str = Field(alias="from")
    to: str
    kind: str


class LineageView(Wire):
    """The neighbourhood of a node, without what the caller may not read."""

    root: Node
    nodes: list[Node]
    edges: list[Edge]
    truncated: bool


class ImpactPlacement(Wire):
    """A placement in the latest committed plan of a workload an impact reached."""

    workload: str
    site: str
    pool: str
    plan_id: int


class Impact(Wire):
    """Everything downstream of a dataset."""

    dataset: Node
    derived_datasets: list[str]
    model_versions: list[str]
    workloads: list[str]
    placements: list[ImpactPlacement]
    truncated: bool
    next_page: str | None = Field(
        default=None,
        description="A paged answer's cursor: pass it as `page` for the next page; null on the"
        " last page and when the answer is not paged.",
    )


class Erasure(Impact):
    """An erasure: its impact, what to retrain and stop, and its ledger entry."""

    retrain: list[str]
    stop: list[str]
    ledger_index: int


class Ingested(Wire):
    """What an OpenLineage ingest stored."""

    accepted: int
    duplicates: int
    external: list[str]
