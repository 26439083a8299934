"""The lineage graph in the store: nodes, edges, runs and the digests of events already seen."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from keel.lineage.graph import REACHES_JOB
from keel.memory import paused_gc
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

    def _node(self, row: Any, facets: bool = True) -> Node:
        # Positional: rows hold the table's columns in order, without facets when not asked.
        if facets:
            id_, kind, namespace, name, origin, found, erased_at, erased_reason = row[:8]
            return Node(id_, kind, namespace, name, origin, dict(found), erased_at, erased_reason)
        id_, kind, namespace, name, origin, erased_at, erased_reason = row[:7]
        return Node(id_, kind, namespace, name, origin, {}, erased_at, erased_reason)

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

    def count(self) -> tuple[int, int]:
        """How many nodes and edges the graph has."""
        nodes = self.conn.execute(sa.select(sa.func.count()).select_from(lineage_nodes)).scalar()
        edges = self.conn.execute(sa.select(sa.func.count()).select_from(lineage_edges)).scalar()
        return int(nodes or 0), int(edges or 0)

    def edge_origins(self, namespace: str) -> dict[tuple[str, str], set[str]]:
        """Who recorded the edges of each node of a namespace that has any.

        Args:
            namespace: The namespace (``keel`` for the estate's own nodes).

        Returns:
            ``(kind, name)`` -> origins of its edges (``keel``, ``openlineage``).
        """
        found: dict[tuple[str, str], set[str]] = {}
        for column in (lineage_edges.c.src, lineage_edges.c.dst):
            rows = self.conn.execute(
                sa.select(lineage_nodes.c.kind, lineage_nodes.c.name, lineage_edges.c.origin)
                .select_from(lineage_nodes.join(lineage_edges, column == lineage_nodes.c.id))
                .where(lineage_nodes.c.namespace == namespace)
                .distinct()
            )
            for kind, name, origin in rows:
                found.setdefault((kind, name), set()).add(origin)
        return found

    def ensure_nodes(
        self,
        keys: Iterable[NodeKey],
        origin: str,
        now: datetime,
        facets: dict[NodeKey, list[dict[str, Any]]] | None = None,
    ) -> dict[NodeKey, int]:
        """Create the nodes that do not exist yet; merge facets into those given some.

        Args:
            keys: The nodes wanted.
            origin: Who makes the new ones (a node given facets is made ``openlineage`` and an
                ``external`` node given facets becomes ``openlineage``).
            now: The time.
            facets: Facet sets per node, oldest first (merged with :func:`merge_facets`).

        Returns:
            Key -> node id for every key.
        """
        facets = facets or {}
        wanted = list(dict.fromkeys(keys))
        existing = self.lookup(wanted)
        missing = [key for key in wanted if key not in existing]
        if missing:
            rows = []
            for key in missing:
                merged: dict[str, Any] = {}
                for new in facets.get(key, []):
                    merged = merge_facets(merged, new)
                rows.append(
                    {
                        "kind": key[0],
                        "namespace": key[1],
                        "name": key[2],
                        "origin": "openlineage" if key in facets else origin,
                        "facets": merged,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            self.conn.execute(self._insert(lineage_nodes).on_conflict_do_nothing(), rows)
            existing.update(self.lookup(missing))
        old = {
            existing[k]: facets[k]
            for k in wanted
            if k in facets and k not in missing and any(facets[k])
        }
        if old:
            self._merge_facets(old, now)
        return existing

    def _merge_facets(self, updates: dict[int, list[dict[str, Any]]], now: datetime) -> None:
        ids = sorted(updates)
        rows = []
        for chunk in _chunks(ids):
            query = sa.select(
                lineage_nodes.c.id,
                lineage_nodes.c.facets,
                lineage_nodes.c.origin,
                lineage_nodes.c.erased_at,
            ).where(lineage_nodes.c.id.in_(chunk))
            for row in self.conn.execute(query):
                if row.erased_at is not None:
                    continue  # an erased dataset keeps no payload, whatever arrives later
                merged = dict(row.facets)
                for new in updates[int(row.id)]:
                    merged = merge_facets(merged, new)
                origin = "openlineage" if row.origin == "external" else row.origin
                rows.append(
                    {"node_id": int(row.id), "facets": merged, "origin": origin, "now": now}
                )
        if rows:
            self.conn.execute(
                sa.update(lineage_nodes)
                .where(lineage_nodes.c.id == sa.bindparam("node_id"))
                .values(
                    facets=sa.bindparam("facets", type_=lineage_nodes.c.facets.type),
                    origin=sa.bindparam("origin"),
                    updated_at=sa.bindparam("now"),
                ),
                rows,
            )

    def lookup(self, keys: Sequence[NodeKey]) -> dict[NodeKey, int]:
        """Ids of the nodes that exist among some keys.

        Args:
            keys: ``(kind, namespace, name)``.

        Returns:
            Key -> id, for the keys that exist.
        """
        found: dict[NodeKey, int] = {}
        wanted = set(keys)
        by_kind: dict[str, list[str]] = {}
        for kind, _, name in wanted:
            by_kind.setdefault(kind, []).append(name)
        for kind, names in by_kind.items():
            # (kind, name) is indexed; a row-value IN list is not used by SQLite's planner.
            for start in range(0, len(names), CHUNK):
                query = sa.select(
                    lineage_nodes.c.id, lineage_nodes.c.namespace, lineage_nodes.c.name
                ).where(
                    lineage_nodes.c.kind == kind,
                    lineage_nodes.c.name.in_(sorted(set(names[start : start + CHUNK]))),
                )
                for row in self.conn.execute(query):
                    key = (kind, row.namespace, row.name)
                    if key in wanted:
                        found[key] = int(row.id)
        return found

    def add_edges(
        self,
        edges: Iterable[Edge],
        origin: str,
        now: datetime,
        run_ids: Sequence[str | None] | None = None,
    ) -> None:
        """Add edges; an edge that exists keeps its origin and takes the newest run.

        Args:
            edges: ``(source, target, kind)``.
            origin: Who makes them.
            now: The time.
            run_ids: The run that showed each edge, if any (parallel to ``edges``).
        """
        latest: dict[Edge, str | None] = {}
        for index, edge in enumerate(edges):
            latest[edge] = run_ids[index] if run_ids is not None else None
        rows = [
            {"src": s, "dst": d, "kind": k, "origin": origin, "run_id": run, "updated_at": now}
            for (s, d, k), run in latest.items()
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

    def reach(
        self,
        start: int,
        *,
        downstream: bool,
        depth: int | None,
        max_nodes: int,
        facets: bool,
        jobs: bool = True,
        after: int = 0,
        limit: int | None = None,
    ) -> tuple[dict[int, Node], bool]:
        """The nodes a walk reaches, in one recursive SQL statement.

        ``UNION`` drops a row already produced, so a cycle ends the walk: on ``(node, depth)``
        when the depth is bounded, on the node alone when it is not. A walk past ``max_nodes``
        nodes is cut: with a bound, the nearest are kept (by shortest distance, then id);
        without one, the first the database's breadth-first queue reached.

        Args:
            start: The node to start from.
            downstream: Follow edges the way data flows (else against it).
            depth: Most edges from the start, or ``None`` for no limit.
            max_nodes: Most nodes walked.
            facets: Whether to read the nodes' facets.
            jobs: Whether to return jobs (all are walked and counted; the start is returned
                whatever it is). A walk knows a job by the edge that reached it
                (:data:`~keel.lineage.graph.REACHES_JOB`), so leaving them out costs no lookup
                of the nodes.
            after: Return only nodes with a larger id (a page's cursor).
            limit: Return at most this many, those with the smallest ids (a page); all when
                ``None``. The walk and its cap are the same whatever the page.

        Returns:
            Id -> node, and whether the cap cut the walk.
        """
        near, far = ("src", "dst") if downstream else ("dst", "src")
        read = ["kind", "namespace", "name", "origin", *(["facets"] if facets else [])]
        columns = ", ".join(f"n.{c}" for c in [*read, "erased_at", "erased_reason"])
        parameters: dict[str, Any] = {
            "start": start,
            "depth": depth,
            "cap": max_nodes + 1,
            "job_edge": REACHES_JOB["downstream" if downstream else "upstream"],
        }
        # The rows wanted (by id and job-ness alone), each with how many were walked; then only
        # their columns are read.
        conditions = []
        if not jobs:
            conditions.append("(w.job = 0 OR w.id = :start)")
        if after:
            conditions.append("w.id > :after")
            parameters["after"] = after
        wanted = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        if limit is not None:
            wanted += " ORDER BY w.id LIMIT :limit"
            parameters["limit"] = limit
        # Whether a row is a job, from the edge that reached it (0 when jobs are wanted anyway:
        # then a node is one row whatever edges reach it).
        job = "0" if jobs else "CASE WHEN e.kind = :job_edge THEN 1 ELSE 0 END"
        if depth is None:
            walk = (
                "WITH RECURSIVE walk(id, job) AS (SELECT CAST(:start AS INTEGER), 0 UNION"
                f" SELECT e.{far}, {job} FROM lineage_edges e JOIN walk w ON e.{near} = w.id)"
            )
            # In the walk's order: a cut keeps what the breadth-first queue reached first.
            reached = nearest = "SELECT id, 0 AS d, job FROM walk"
        else:
            walk = (
                "WITH RECURSIVE walk(id, depth, job) AS (SELECT CAST(:start AS INTEGER), 0, 0"
                f" UNION SELECT e.{far}, w.depth + 1, {job} FROM lineage_edges e JOIN walk w"
                f" ON e.{near} = w.id WHERE w.depth < :depth)"
            )
            # Distances cost a sort; they matter only to choose whom a cut walk keeps.
            reached = "SELECT id, 0 AS d, MIN(job) AS job FROM walk GROUP BY id"
            nearest = (
                "SELECT id, MIN(depth) AS d, MIN(job) AS job FROM walk GROUP BY id ORDER BY d, id"
            )

        def fetch(select: str) -> list[Any]:
            # Tens of thousands of rows: the driver's tuples, converted in _raw_node, are 3x
            # faster to read than result rows.
            walked = (
                f"SELECT id, d, job, COUNT(*) OVER () AS total FROM ({walk} {select} LIMIT :cap) x"
            )
            statement = sa.text(
                f"SELECT r.id, r.d, r.total, {columns} FROM"
                f" (SELECT w.id, w.d, w.total FROM ({walked}) w{wanted}) r"
                " JOIN lineage_nodes n ON n.id = r.id"
            )
            return list(self.conn.execute(statement, parameters).cursor.fetchall())

        # Tens of thousands of small objects at once: without the collector in between, a
        # process with a large heap does not run full collections halfway (it halved the time
        # of a 20,000-node walk in the benchmark). They hold no cycles; it runs again after.
        with paused_gc():
            rows = fetch(reached)
            truncated = bool(rows) and rows[0][2] > max_nodes
            if truncated:  # past the cap: the nearest max_nodes walked (the start first)
                parameters["cap"] = max_nodes
                rows = fetch(nearest)
            return {int(row[0]): self._raw_node(row, facets) for row in rows}, truncated

    @staticmethod
    def _raw_node(row: Sequence[Any], facets: bool) -> Node:
        """A node from ``(id, depth, total, kind, namespace, name, origin, [facets,] ...)``."""
        found: Any = {}
        if facets:
            id_, _, _, kind, namespace, name, origin, found, erased_at, erased_reason = row
            found = orjson.loads(found) if isinstance(found, str | bytes) else dict(found)
        else:
            id_, _, _, kind, namespace, name, origin, erased_at, erased_reason = row
        if isinstance(erased_at, str):
            erased_at = datetime.fromisoformat(erased_at)
        return Node(int(id_), kind, namespace, name, origin, found, erased_at, erased_reason)

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
        # The walk's hot path: ids are integers from the store, written into the statement as
        # integers (no parameter binding or statement compilation per level).
        found: list[Edge] = []
        for chunk in _chunks(ids):
            listed = ",".join(str(int(i)) for i in chunk)
            rows = self.conn.exec_driver_sql(
                f"SELECT src, dst, kind FROM lineage_edges WHERE {column.name} IN ({listed})"
            ).fetchall()
            found.extend((int(s), int(d), str(k)) for s, d, k in rows)
        return found

    def record_events(
        self, events: Sequence[tuple[str, str, str | None, datetime]], now: datetime
    ) -> set[str]:
        """Record event digests; which of them are new.

        Args:
            events: ``(digest, kind, event_type, event_time)`` per event.
            now: When they arrived.

        Returns:
            The digests not seen before (each once, even if the batch repeats one).
        """
        digests = list(dict.fromkeys(e[0] for e in events))
        known: set[str] = set()
        for start in range(0, len(digests), CHUNK):
            chunk = digests[start : start + CHUNK]
            query = sa.select(lineage_events.c.digest).where(lineage_events.c.digest.in_(chunk))
            known.update(str(d) for (d,) in self.conn.execute(query))
        fresh: dict[str, dict[str, Any]] = {}
        for digest, kind, event_type, event_time in events:
            if digest not in known and digest not in fresh:
                fresh[digest] = {
                    "digest": digest,
                    "kind": kind,
                    "event_type": event_type,
                    "event_time": event_time,
                    "received_at": now,
                }
        if fresh:
            self.conn.execute(sa.insert(lineage_events), list(fresh.values()))
        return set(fresh)

    def upsert_runs(
        self, runs: Sequence[tuple[str, int, str | None, datetime, dict[str, Any]]], now: datetime
    ) -> None:
        """Create or update runs: the latest event decides a run's state; facets merge.

        Args:
            runs: ``(run_id, job_id, event_type, event_time, facets)`` per event, in order.
            now: The time.
        """
        ids = list(dict.fromkeys(r[0] for r in runs))
        stored: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), CHUNK):
            query = sa.select(lineage_runs).where(
                lineage_runs.c.run_id.in_(ids[start : start + CHUNK])
            )
            for row in self.conn.execute(query):
                stored[row.run_id] = dict(row._mapping)
        new: dict[str, dict[str, Any]] = {}
        changed: set[str] = set()
        for run_id, job_id, state, event_time, facets in runs:
            current = stored.get(run_id) or new.get(run_id)
            if current is None:
                new[run_id] = {
                    "run_id": run_id,
                    "job_id": job_id,
                    "state": state,
                    "event_time": event_time,
                    "facets": merge_facets({}, facets),
                    "updated_at": now,
                }
                continue
            current["facets"] = merge_facets(dict(current["facets"]), facets)
            stored_time = current["event_time"]
            if stored_time.tzinfo is None:
                stored_time = stored_time.replace(tzinfo=event_time.tzinfo)
            if event_time >= stored_time:
                current["state"], current["event_time"] = state, event_time
            current["updated_at"] = now
            if run_id in stored:
                changed.add(run_id)
        if new:
            self.conn.execute(sa.insert(lineage_runs), list(new.values()))
        if changed:
            self.conn.execute(
                sa.update(lineage_runs)
                .where(lineage_runs.c.run_id == sa.bindparam("key"))
                .values(
                    state=sa.bindparam("state"),
                    event_time=sa.bindparam("event_time"),
                    facets=sa.bindparam("facets", type_=lineage_runs.c.facets.type),
                    updated_at=sa.bindparam("updated_at"),
                ),
                [
                    {
                        "key": r,
                        "state": stored[r]["state"],
                        "event_time": stored[r]["event_time"],
                        "facets": stored[r]["facets"],
                        "updated_at": now,
                    }
                    for r in sorted(changed)
                ],
            )

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
