"""The lineage graph in the store: nodes, edges, runs and the digests of events already seen."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from keel.store.schema import lineage_edges, lineage_events, lineage_nodes, lineage_runs

NodeKey = tuple[str, str, str]
"""``(kind, namespace, name)``."""

Edge = tuple[int, int, str]
"""``(source id, target id, kind)``."""

CHUNK = 5_000
"""Most ids in one ``IN`` list (SQLite allows 32,766 variables)."""


@dataclass(frozen=True, slots=True)
class Node:
    """A stored lineage node.

    Attributes:
        id: Its id.
        kind: ``dataset``, ``job``, ``model`` or ``workload``.
        namespace: Its namespace.
        name: Its name.
        origin: Who made it: ``openlineage`` (an event), ``keel`` (the estate or registry) or
            ``external`` (an event named it without describing it).
        facets: Its facets (blank once erased).
        erased_at: When it was erased, or ``None``.
        erased_reason: Why.
    """

    id: int
    kind: str
    namespace: str
    name: str
    origin: str
    facets: dict[str, Any]
    erased_at: datetime | None
    erased_reason: str | None

    @property
    def key(self) -> NodeKey:
        """``(kind, namespace, name)``."""
        return (self.kind, self.namespace, self.name)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def merge_facets(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Facets after an event: new facets replace old ones; ``_deleted: true`` removes one.

    Args:
        old: The stored facets.
        new: The event's facets.

    Returns:
        The merged facets.
    """
    merged = dict(old)
    for name, facet in new.items():
        if isinstance(facet, dict) and facet.get("_deleted") is True:
            merged.pop(name, None)
        else:
            merged[name] = facet
    return merged


class LineageRepository:
    """Reads and writes the lineage graph on one connection.

    Args:
        conn: An open connection (in a write transaction for the writing methods).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _insert(self, table: sa.Table) -> Any:
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def _node(self, row: Any) -> Node:
        return Node(
            int(row.id),
            row.kind,
            row.namespace,
            row.name,
            row.origin,
            dict(row.facets),
            row.erased_at,
            row.erased_reason,
        )

    def find(self, kind: str, name: str, namespace: str | None = None) -> list[Node]:
        """Nodes of a kind with a name, in any namespace or in one.

        Args:
            kind: The kind.
            name: The name.
            namespace: The namespace, or ``None`` for every namespace.

        Returns:
            The matching nodes, by namespace.
        """
        query = sa.select(lineage_nodes).where(
            lineage_nodes.c.kind == kind, lineage_nodes.c.name == name
        )
        if namespace is not None:
            query = query.where(lineage_nodes.c.namespace == namespace)
        rows = self.conn.execute(query.order_by(lineage_nodes.c.namespace))
        return [self._node(row) for row in rows]

    def nodes(self, ids: Iterable[int]) -> dict[int, Node]:
        """Nodes by id.

        Args:
            ids: Node ids.

        Returns:
            Id -> node, for the ids that exist.
        """
        found: dict[int, Node] = {}
        for chunk in _chunks(sorted(set(ids))):
            query = sa.select(lineage_nodes).where(lineage_nodes.c.id.in_(chunk))
            for row in self.conn.execute(query):
                found[int(row.id)] = self._node(row)
        return found

    def count(self) -> tuple[int, int]:
        """How many nodes and edges the graph has."""
        nodes = self.conn.execute(sa.select(sa.func.count()).select_from(lineage_nodes)).scalar()
        edges = self.conn.execute(sa.select(sa.func.count()).select_from(lineage_edges)).scalar()
        return int(nodes or 0), int(edges or 0)

    def ensure_nodes(
        self,
        keys: Iterable[NodeKey],
        origin: str,
        now: datetime,
        facets: dict[NodeKey, dict[str, Any]] | None = None,
    ) -> dict[NodeKey, int]:
        """Create the nodes that do not exist yet; merge facets into those given some.

        Args:
            keys: The nodes wanted.
            origin: Who makes the new ones.
            now: The time.
            facets: New facets per node (merged with :func:`merge_facets`).

        Returns:
            Key -> node id for every key.
        """
        facets = facets or {}
        wanted = list(dict.fromkeys(keys))
        existing = self.lookup(wanted)
        missing = [key for key in wanted if key not in existing]
        if missing:
            rows = [
                {
                    "kind": kind,
                    "namespace": namespace,
                    "name": name,
                    "origin": origin,
                    "facets": merge_facets({}, facets.get((kind, namespace, name), {})),
                    "created_at": now,
                    "updated_at": now,
                }
                for kind, namespace, name in missing
            ]
            self.conn.execute(self._insert(lineage_nodes).on_conflict_do_nothing(), rows)
            existing.update(self.lookup(missing))
        for key, new in facets.items():
            if key in existing and key not in missing and new:
                self._merge_node_facets(existing[key], new, origin, now)
        return existing

    def _merge_node_facets(
        self, node_id: int, new: dict[str, Any], origin: str, now: datetime
    ) -> None:
        row = self.conn.execute(
            sa.select(
                lineage_nodes.c.facets, lineage_nodes.c.origin, lineage_nodes.c.erased_at
            ).where(lineage_nodes.c.id == node_id)
        ).one()
        if row.erased_at is not None:
            return  # an erased dataset keeps no payload, whatever arrives later
        values: dict[str, Any] = {"facets": merge_facets(dict(row.facets), new), "updated_at": now}
        if row.origin == "external":
            values["origin"] = origin
        self.conn.execute(
            sa.update(lineage_nodes).where(lineage_nodes.c.id == node_id).values(**values)
        )

    def lookup(self, keys: Sequence[NodeKey]) -> dict[NodeKey, int]:
        """Ids of the nodes that exist among some keys.

        Args:
            keys: ``(kind, namespace, name)``.

        Returns:
            Key -> id, for the keys that exist.
        """
        found: dict[NodeKey, int] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            query = sa.select(
                lineage_nodes.c.id,
                lineage_nodes.c.kind,
                lineage_nodes.c.namespace,
                lineage_nodes.c.name,
            ).where(
                sa.tuple_(
                    lineage_nodes.c.kind, lineage_nodes.c.namespace, lineage_nodes.c.name
                ).in_(chunk)
            )
            for row in self.conn.execute(query):
                found[(row.kind, row.namespace, row.name)] = int(row.id)
        return found

    def add_edges(
        self, edges: Iterable[Edge], origin: str, now: datetime, run_id: str | None = None
    ) -> None:
        """Add edges; an edge that exists keeps its origin and takes the newest run.

        Args:
            edges: ``(source, target, kind)``.
            origin: Who makes them.
            now: The time.
            run_id: The run that showed them, if any.
        """
        rows = [
            {"src": s, "dst": d, "kind": k, "origin": origin, "run_id": run_id, "updated_at": now}
            for s, d, k in dict.fromkeys(edges)
        ]
        if not rows:
            return
        statement = self._insert(lineage_edges)
        statement = statement.on_conflict_do_update(
            index_elements=["src", "dst", "kind"],
            set_={"run_id": statement.excluded.run_id, "updated_at": statement.excluded.updated_at},
        )
        self.conn.execute(statement, rows)

    def replace_edges(self, origin: str, edges: Iterable[Edge], now: datetime) -> None:
        """Replace every edge of one origin (the estate's edges after an apply).

        Args:
            origin: The origin whose edges go.
            edges: The new edges.
            now: The time.
        """
        self.conn.execute(sa.delete(lineage_edges).where(lineage_edges.c.origin == origin))
        self.add_edges(edges, origin, now)

    def edges_from(self, ids: Sequence[int]) -> list[Edge]:
        """Edges leaving some nodes.

        Args:
            ids: Node ids.

        Returns:
            ``(source, target, kind)``.
        """
        return self._edges(lineage_edges.c.src, ids)

    def edges_to(self, ids: Sequence[int]) -> list[Edge]:
        """Edges arriving at some nodes.

        Args:
            ids: Node ids.

        Returns:
            ``(source, target, kind)``.
        """
        return self._edges(lineage_edges.c.dst, ids)

    def _edges(self, column: sa.Column[Any], ids: Sequence[int]) -> list[Edge]:
        found: list[Edge] = []
        for chunk in _chunks(ids):
            query = sa.select(lineage_edges.c.src, lineage_edges.c.dst, lineage_edges.c.kind)
            found.extend((s, d, k) for s, d, k in self.conn.execute(query.where(column.in_(chunk))))
        return found

    def seen(
        self, digest: str, kind: str, event_type: str | None, event_time: datetime, now: datetime
    ) -> bool:
        """Record an event's digest; whether it had been seen before.

        Args:
            digest: The event's digest.
            kind: ``run``, ``dataset`` or ``job``.
            event_type: Its type, for run events.
            event_time: When it happened.
            now: When it arrived.

        Returns:
            ``True`` if the same event was stored before (nothing else is to be done).
        """
        statement = (
            self._insert(lineage_events).on_conflict_do_nothing().returning(lineage_events.c.digest)
        )
        result = self.conn.execute(
            statement,
            {
                "digest": digest,
                "kind": kind,
                "event_type": event_type,
                "event_time": event_time,
                "received_at": now,
            },
        )
        return result.first() is None

    def upsert_run(
        self,
        run_id: str,
        job_id: int,
        *,
        state: str | None,
        event_time: datetime,
        facets: dict[str, Any],
        now: datetime,
    ) -> None:
        """Create or update a run: the latest event decides its state; facets merge.

        Args:
            run_id: The run's UUID.
            job_id: Its job's node id.
            state: The event type.
            event_time: When it happened.
            facets: The run facets it carried.
            now: The time.
        """
        row = self.conn.execute(
            sa.select(lineage_runs.c.facets, lineage_runs.c.event_time).where(
                lineage_runs.c.run_id == run_id
            )
        ).first()
        if row is None:
            self.conn.execute(
                sa.insert(lineage_runs).values(
                    run_id=run_id,
                    job_id=job_id,
                    state=state,
                    event_time=event_time,
                    facets=merge_facets({}, facets),
                    updated_at=now,
                )
            )
            return
        values: dict[str, Any] = {
            "facets": merge_facets(dict(row.facets), facets),
            "updated_at": now,
        }
        stored_time = (
            row.event_time
            if row.event_time.tzinfo
            else row.event_time.replace(tzinfo=event_time.tzinfo)
        )
        if event_time >= stored_time:
            values |= {"state": state, "event_time": event_time}
        self.conn.execute(
            sa.update(lineage_runs).where(lineage_runs.c.run_id == run_id).values(**values)
        )

    def runs_of(self, job_id: int, limit: int = 10) -> list[dict[str, Any]]:
        """A job's latest runs.

        Args:
            job_id: The job's node id.
            limit: Most runs.

        Returns:
            ``{run_id, state, event_time}`` per run, newest first.
        """
        rows = self.conn.execute(
            sa.select(lineage_runs.c.run_id, lineage_runs.c.state, lineage_runs.c.event_time)
            .where(lineage_runs.c.job_id == job_id)
            .order_by(lineage_runs.c.event_time.desc())
            .limit(limit)
        )
        return [dict(row._mapping) for row in rows]

    def erase(self, node_id: int, reason: str, now: datetime) -> None:
        """Blank a node's facets and mark it erased; its edges stay.

        Args:
            node_id: The node.
            reason: Why.
            now: The time.
        """
        self.conn.execute(
            sa.update(lineage_nodes)
            .where(lineage_nodes.c.id == node_id)
            .values(facets={}, erased_at=now, erased_reason=reason, updated_at=now)
        )
