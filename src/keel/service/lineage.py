"""Lineage as a service: OpenLineage events in, graph queries, impact analysis, erasure.

Invariants:
    * A batch of events is stored whole or not at all: the first invalid event fails the batch
      and names its index, field and schema rule.
    * The same event sent twice is stored once (its digest is kept).
    * A dataset an event names but does not describe becomes an ``external`` node.
    * The estate's datasets, model versions and workloads are nodes in the ``keel`` namespace;
      their edges are rebuilt from the estate at every apply.
    * Erasure blanks a dataset's facets and keeps the graph's skeleton, so impact still works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from keel.errors import EventError, NotFoundError, Problem, UserError
from keel.estate import Estate, LocatedResource
from keel.estate.resources import AgentSpec, ModelSpec, split_model_ref
from keel.lineage.graph import (
    KEEL_NAMESPACE,
    MODELS_NAMESPACE,
    Direction,
    Edge,
    NodeRef,
    parse_node,
    walk,
)
from keel.lineage.openlineage import DatasetRef, Event, InvalidEventError, parse_event
from keel.memory import paused_gc
from keel.registry.lifecycle import SERVING_KINDS
from keel.service import access, ledger
from keel.service.actor import Actor
from keel.service.hooks import Recorded
from keel.service.workspace import Unit, Workspace
from keel.store.lineage import LineageRepository, Node, NodeKey
from keel.store.plans import PlanRepository

LOG = logging.getLogger("keel.lineage")

MAX_EVENT_BYTES = 1_048_576
"""Largest event accepted (1 MiB), in a request or a line of a file."""

MAX_BATCH_EVENTS = 10_000
"""Most events in one request or one file."""

DEFAULT_MAX_NODES = 100_000
"""Most nodes one query returns; a larger answer is cut and says so."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What an ingest stored.

    Attributes:
        accepted: Events stored.
        duplicates: Events already stored before (skipped).
        external: Datasets created as external (named but never described), as ``ns:name``.
    """

    accepted: int
    duplicates: int
    external: list[str]


@dataclass(frozen=True, slots=True)
class LineageView:
    """A neighbourhood of a node.

    Attributes:
        root: The node asked about.
        direction: ``upstream`` or ``downstream``.
        nodes: Nodes reached, with their depth.
        edges: Edges followed, as node pairs.
        truncated: Whether the node limit cut the answer.
    """

    root: Node
    direction: Direction
    nodes: list[tuple[Node, int]]
    edges: list[tuple[Node, Node, str]]
    truncated: bool


@dataclass(frozen=True, slots=True)
class Impact:
    """Everything downstream of a dataset that its change or erasure touches.

    Attributes:
        root: The dataset.
        datasets: Datasets derived from it, directly or not.
        models: Model versions trained on it or on a derived dataset.
        workloads: Workloads that serve those versions or read those datasets.
        placements: Placements of those workloads in the latest committed plan
            (``{workload, site, pool, plan_id}``).
        truncated: Whether the node limit cut the walk.
        next_after: For a page, the cursor of the next one (``None`` on the last page).
    """

    root: Node
    datasets: list[Node]
    models: list[Node]
    workloads: list[Node]
    placements: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False
    next_after: int | None = None


@dataclass(frozen=True, slots=True)
class Erasure:
    """The outcome of erasing a dataset.

    Attributes:
        impact: What depended on it.
        retrain: Model versions to retrain without it.
        stop: Workloads to stop until then (they serve those versions or read the data).
        ledger_index: The ledger entry that records the erasure.
    """

    impact: Impact
    retrain: list[str]
    stop: list[str]
    ledger_index: int


def parse_events(raws: Sequence[object], first_index: int = 0) -> list[Event]:
    """Validate a batch of decoded events.

    Args:
        raws: Decoded JSON values.
        first_index: Index of the first, for error messages.

    Returns:
        The events.

    Raises:
        EventError: For the first invalid event, with its index, field and schema rule.
    """
    if len(raws) > MAX_BATCH_EVENTS:
        raise UserError(f"{len(raws)} events in one batch; the most is {MAX_BATCH_EVENTS}")
    events = []
    for offset, raw in enumerate(raws):
        try:
            events.append(parse_event(raw))
        except InvalidEventError as error:
            raise _event_error(first_index + offset, error) from None
    return events


def _event_error(index: int, error: InvalidEventError) -> EventError:
    where = f" (schema rule {error.schema_path})" if error.schema_path else ""
    return EventError(
        f"event {index}: {error.path}: {error.message}{where}; nothing was stored",
        index=index,
        path=error.path,
        schema_path=error.schema_path,
    )


def decode_body(body: bytes) -> list[object]:
    """A request body: one event (a JSON object) or a batch (a JSON array of them).

    The API bounds the body's size before it gets here.

    Args:
        body: The raw body.

    Returns:
        The decoded events.

    Raises:
        EventError: If the body is not JSON.
    """
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise EventError(
            f"the body is not JSON: {error}", index=0, path="$", schema_path=""
        ) from None
    return list(value) if isinstance(value, list) else [value]


def read_jsonl(path: Path) -> list[Event]:
    """Read and validate a file of events, one JSON object per line.

    Args:
        path: The file (``-`` is not supported; pass a path).

    Returns:
        The events.

    Raises:
        UserError: If the file cannot be read, is too large, or a line is not JSON.
        EventError: For the first invalid event (its index is the line number minus one).
    """
    raws: list[object] = []
    try:
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if len(line) > MAX_EVENT_BYTES:
                    raise UserError(f"{path}:{number}: the line is over {MAX_EVENT_BYTES} bytes")
                if not line.strip():
                    continue
                try:
                    raws.append(orjson.loads(line))
                except orjson.JSONDecodeError as error:
                    raise EventError(
                        f"{path}:{number}: not JSON: {error}; nothing was stored",
                        index=number - 1,
                        path="$",
                        schema_path="",
                    ) from None
                if len(raws) > MAX_BATCH_EVENTS:
                    raise UserError(f"{path}: more than {MAX_BATCH_EVENTS} events; split it")
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    return parse_events(raws)


def _dataset_facets(ref: DatasetRef, io_key: str) -> dict[str, Any]:
    facets = dict(ref.facets)
    facets.update({f"{io_key}.{name}": facet for name, facet in ref.io_facets.items()})
    return facets


def _key(ref: DatasetRef) -> NodeKey:
    if ref.namespace == MODELS_NAMESPACE:
        return ("model", KEEL_NAMESPACE, ref.name)
    return ("dataset", ref.namespace, ref.name)


def _store(repo: LineageRepository, events: list[Event], now: datetime) -> set[NodeKey]:
    """Store new events in one pass: nodes, facets, edges and runs, each in a few statements.

    Returns:
        The datasets created as external (named, never described).
    """
    described: dict[NodeKey, list[dict[str, Any]]] = {}
    named: list[NodeKey] = []
    jobs: dict[NodeKey, list[dict[str, Any]]] = {}
    for event in events:
        for ref, io_key in [
            *((r, "inputFacets") for r in event.inputs),
            *((r, "outputFacets") for r in event.outputs),
            *(((event.dataset, ""),) if event.dataset else ()),
        ]:
            key = _key(ref)
            facets = _dataset_facets(ref, io_key)
            if facets:
                described.setdefault(key, []).append(facets)
            else:
                named.append(key)
        if event.job is not None:
            jobs.setdefault(("job", *event.job), []).append(event.job_facets)
    existing = repo.lookup(named) if named else {}
    ids = repo.ensure_nodes([*described, *named, *jobs], "external", now, described | jobs)
    edges: list[tuple[int, int, str]] = []
    run_ids: list[str | None] = []
    runs = []
    for event in events:
        if event.job is None:
            continue
        job_id = ids[("job", *event.job)]
        found = [(ids[_key(r)], job_id, "input") for r in event.inputs]
        found += [(job_id, ids[_key(r)], "output") for r in event.outputs]
        edges += found
        run_ids += [event.run_id] * len(found)
        if event.run_id is not None:
            runs.append(
                (event.run_id, job_id, event.event_type, event.event_time, event.run_facets)
            )
    repo.add_edges(edges, "openlineage", now, run_ids)
    if runs:
        repo.upsert_runs(runs, now)
    return {k for k in named if k not in existing and k not in described and k[0] == "dataset"}


def ingest(workspace: Workspace, events: Sequence[Event]) -> IngestResult:
    """Store valid events in one transaction.

    Args:
        workspace: The workspace.
        events: Events from :func:`parse_events` or :func:`read_jsonl`.

    Returns:
        What was stored.
    """
    return ingest_batches(workspace, [events])[0]


def ingest_batches(workspace: Workspace, batches: Sequence[Sequence[Event]]) -> list[IngestResult]:
    """Store several callers' batches in one transaction (the API's group commit).

    Args:
        workspace: The workspace.
        batches: Each caller's events.

    Returns:
        What was stored, per batch (a dataset first named in an earlier batch of the same call
        is reported as external there only).
    """
    flat = [event for batch in batches for event in batch]
    with workspace.unit(write=True) as unit:
        repo = unit.repository(LineageRepository)
        now = datetime.now(UTC)
        fresh = repo.record_events(
            [(e.digest, e.kind, e.event_type, e.event_time) for e in flat], now
        )
        new: list[list[Event]] = []
        for batch in batches:
            new.append([])
            for event in batch:
                if event.digest in fresh:
                    fresh.discard(event.digest)
                    new[-1].append(event)
        created = _store(repo, [e for events in new for e in events], now)
    results = []
    for batch, stored in zip(batches, new, strict=True):
        named = {_key(r) for e in stored for r in (*e.inputs, *e.outputs)} & created
        created -= named
        external = sorted(f"{k[1]}:{k[2]}" for k in named)
        results.append(IngestResult(len(stored), len(batch) - len(stored), external))
    return results


def sync_estate(unit: Unit, estate: Estate, now: datetime) -> None:
    """Rebuild the estate's part of the graph inside an apply's transaction.

    Args:
        unit: The apply's unit of work.
        estate: The estate after the apply.
        now: The time.
    """
    repo = unit.repository(LineageRepository)
    keys: list[NodeKey] = [("dataset", KEEL_NAMESPACE, name) for name in estate.of_kind("Dataset")]
    links: list[tuple[NodeKey, NodeKey, str]] = []
    for name, model_spec in estate.specs(ModelSpec).items():
        for version in model_spec.versions:
            model_key = ("model", KEEL_NAMESPACE, f"{name}@{version.version}")
            keys.append(model_key)
            links += [
                (("dataset", KEEL_NAMESPACE, d), model_key, "trained_on")
                for d in version.trained_on
            ]
    agents = estate.of_kind("Agent")
    for name, spec in estate.workloads().items():
        workload_key = ("workload", KEEL_NAMESPACE, name)
        keys.append(workload_key)
        model, model_version = split_model_ref(spec.model)
        if model_version is not None:
            model_key = ("model", KEEL_NAMESPACE, f"{model}@{model_version}")
            if spec.kind in SERVING_KINDS:
                links.append((model_key, workload_key, "serves"))
            else:
                links.append((workload_key, model_key, "produces"))
        inputs = list(spec.inputs)
        agent = agents.get(spec.agent) if spec.agent else None
        if agent is not None and isinstance(agent.spec, AgentSpec):
            inputs += agent.spec.datasets
        links += [
            (("dataset", KEEL_NAMESPACE, d), workload_key, "reads") for d in dict.fromkeys(inputs)
        ]
    ids = repo.ensure_nodes(keys, "keel", now)
    repo.replace_edges("keel", [(ids[s], ids[d], kind) for s, d, kind in links], now)


def _resolve(repo: LineageRepository, ref: NodeRef) -> Node:
    found = repo.find(ref.kind, ref.name, ref.namespace)
    if not found:
        raise NotFoundError(
            f"no lineage node {ref}" + (f" in {ref.namespace}" if ref.namespace else "")
        )
    if len(found) > 1:
        spaces = ", ".join(node.namespace for node in found)
        raise UserError(f"{ref} is in several namespaces ({spaces}); name one with --namespace")
    return found[0]


def _parse(text: str, namespace: str | None) -> NodeRef:
    try:
        return parse_node(text, namespace)
    except ValueError as error:
        raise UserError(str(error)) from None


def _within(repo: LineageRepository, reached: dict[int, Node], downstream: bool) -> list[Edge]:
    """The edges between reached nodes (read from the side the walk came from)."""
    step = repo.edges_from if downstream else repo.edges_to
    return [(s, d, k) for s, d, k in step(list(reached)) if s in reached and d in reached]


def _check_depth(depth: int | None) -> None:
    if depth is not None and not 0 <= depth <= 1000:
        raise UserError(f"depth must be between 0 and 1000, got {depth}")


def show(
    workspace: Workspace,
    node: str,
    *,
    namespace: str | None = None,
    direction: Direction = "downstream",
    depth: int | None = 3,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> LineageView:
    """The neighbourhood of a node, upstream or downstream, to a depth.

    Args:
        workspace: The workspace.
        node: ``KIND:NAME``.
        namespace: The node's namespace, when its name is in several.
        direction: ``upstream`` or ``downstream``.
        depth: Most edges from the node; ``None`` for no limit.
        max_nodes: Most nodes returned.

    Returns:
        The nodes and edges reached.
    """
    _check_depth(depth)
    ref = _parse(node, namespace)
    # Tens of thousands of objects for a large neighbourhood: no full collection halfway.
    with paused_gc():
        with workspace.unit() as unit:
            repo = unit.repository(LineageRepository)
            root = _resolve(repo, ref)
            downstream = direction == "downstream"
            nodes, truncated = repo.reach(
                root.id, downstream=downstream, depth=depth, max_nodes=max_nodes, facets=True
            )
            within = _within(repo, nodes, downstream)
        # The database found the nodes; distances and the edges followed come from a walk of the
        # subgraph they span (small, in memory).
        forward: dict[int, list[Edge]] = {}
        for edge in within:
            forward.setdefault(edge[0] if downstream else edge[1], []).append(edge)
        reached = walk(
            [root.id],
            lambda frontier: [e for node in frontier for e in forward.get(node, [])],
            direction=direction,
            max_depth=depth,
        )
        edges = [
            (nodes[s], nodes[d], kind)
            for s, d, kind in reached.edges
            if s in reached.depth and d in reached.depth
        ]
        ordered = sorted(
            ((nodes[i], d) for i, d in reached.depth.items()),
            key=lambda item: (item[1], item[0].kind, item[0].name),
        )
        return LineageView(root, direction, ordered, edges, truncated)


def _impact(unit: Unit, root: Node, depth: int | None, max_nodes: int) -> Impact:
    repo = unit.repository(LineageRepository)
    nodes, truncated = repo.reach(
        root.id, downstream=True, depth=depth, max_nodes=max_nodes, facets=False, jobs=False
    )
    nodes.pop(root.id, None)
    return _impact_of(unit, root, list(nodes.values()), truncated)


def _impact_page(
    unit: Unit,
    root: Node,
    depth: int | None,
    max_nodes: int,
    *,
    page: tuple[int, int],
    visible: Visible | None,
) -> Impact:
    """The ``limit`` reached nodes with the smallest ids past ``after`` that the caller may read.

    Hidden nodes are skipped before the page is counted, so a page is full unless it is the
    last, and its cursor is the id of a node it shows: neither tells of hidden nodes. Each round
    walks again and reads twice as many rows as the one before, past the last row read.
    """
    after, limit = page
    repo = unit.repository(LineageRepository)
    shown: list[Node] = []
    cursor, rows, truncated, more = after, limit, False, False
    while True:
        # Two rows more than asked: the start may be one, and one more says there are more.
        nodes, cut = repo.reach(
            root.id,
            downstream=True,
            depth=depth,
            max_nodes=max_nodes,
            facets=False,
            jobs=False,
            after=cursor,
            limit=rows + 2,
        )
        truncated = truncated or cut
        ordered = sorted((n for n in nodes.values() if n.id != root.id), key=lambda n: n.id)
        more = len(ordered) > rows
        ordered = ordered[:rows]
        hidden = _hidden(ordered, visible) if visible is not None else set()
        shown += [n for n in ordered if n.id not in hidden]
        if len(shown) >= limit or not more:
            break
        cursor, rows = ordered[-1].id, rows * 2
    more = more or len(shown) > limit
    shown = shown[:limit]
    next_after = shown[-1].id if more and shown else None
    return _impact_of(unit, root, shown, truncated, next_after)


def _impact_of(
    unit: Unit,
    root: Node,
    nodes: list[Node],
    truncated: bool,
    next_after: int | None = None,
) -> Impact:
    by_kind: dict[str, list[Node]] = {"dataset": [], "model": [], "workload": []}
    for item in sorted(nodes, key=lambda n: (n.namespace, n.name)):
        if item.kind in by_kind:
            by_kind[item.kind].append(item)
    workloads = {n.name for n in by_kind["workload"] if n.namespace == KEEL_NAMESPACE}
    placements: list[dict[str, Any]] = []
    latest = unit.repository(PlanRepository).latest()
    if latest is not None:
        plan_id, plan = latest
        placements = [
            {"workload": p["workload"], "site": p["site"], "pool": p["pool"], "plan_id": plan_id}
            for p in plan["placements"]
            if p["workload"] in workloads
        ]
    return Impact(
        root,
        by_kind["dataset"],
        by_kind["model"],
        by_kind["workload"],
        placements,
        truncated,
        next_after,
    )


def impact(
    workspace: Workspace,
    node: str,
    *,
    namespace: str | None = None,
    depth: int | None = None,
    max_nodes: int = DEFAULT_MAX_NODES,
    page: tuple[int, int] | None = None,
    visible: Visible | None = None,
) -> Impact:
    """What a dataset feeds: derived datasets, model versions, workloads, placements.

    Args:
        workspace: The workspace.
        node: ``dataset:NAME``.
        namespace: Its namespace, when the name is in several.
        depth: Most edges from the dataset; ``None`` for no limit.
        max_nodes: Most nodes walked.
        page: ``(after, limit)``: only the ``limit`` nodes with the smallest ids past the
            cursor ``after`` (0 for the first page); the answer's ``next_after`` is the next
            page's cursor. Everything when ``None``.
        visible: The caller's read decisions: the nodes it may not read are left out (of a
            page, before the page is counted). Everything is shown when ``None``.

    Returns:
        The impact, or one page of it.
    """
    _check_depth(depth)
    ref = _parse(node, namespace)
    if ref.kind != "dataset":
        raise UserError(f"impact starts at a dataset, not {ref}")
    # An impact can build tens of thousands of objects: no full collection in the middle.
    with workspace.unit() as unit, paused_gc():
        root = _resolve(unit.repository(LineageRepository), ref)
        if page is not None:
            return _impact_page(unit, root, depth, max_nodes, page=page, visible=visible)
        found = _impact(unit, root, depth, max_nodes)
    return found if visible is None else redact_impact(found, visible)


def erase(
    workspace: Workspace, node: str, reason: str, *, actor: Actor, namespace: str | None = None
) -> Erasure:
    """Erase a dataset: blank its facets, keep the graph, record it, list what to redo.

    Args:
        workspace: The workspace.
        node: ``dataset:NAME``.
        reason: Why (a commitment goes to the ledger; the text itself stays erasable).
        actor: Who erases (recorded with the entry).
        namespace: Its namespace, when the name is in several.

    Returns:
        The impact, the model versions to retrain and the serving workloads to stop.

    Raises:
        UserError: If the reason is empty or the dataset is erased already.
        ForbiddenError: If the actor may not administer the lineage graph.
    """
    if not reason.strip():
        raise UserError("give the reason for the erasure (--reason)")
    if len(reason) > 4096:
        raise UserError("the reason is over 4,096 characters")
    ref = _parse(node, namespace)
    if ref.kind != "dataset":
        raise UserError(f"only datasets are erased, not {ref}")
    access.authorize(workspace, actor, [("admin", "Resource/Lineage/graph")])
    with workspace.unit(actor.principal, write=True) as unit:
        repo = unit.repository(LineageRepository)
        root = _resolve(repo, ref)
        if root.erased_at is not None:
            raise UserError(f"{ref} was erased already, at {root.erased_at:%Y-%m-%d %H:%M}")
        found = _impact(unit, root, None, DEFAULT_MAX_NODES)
        retrain = [m.name for m in found.models]
        stop = sorted(w.name for w in found.workloads if w.namespace == KEEL_NAMESPACE)
        now = datetime.now(UTC)
        repo.erase(root.id, reason, now)
        entry = {
            "type": "lineage.erased",
            "node": str(ref),
            "namespace": root.namespace,
            "retrain": retrain,
            "stop": stop,
        }
        first, _ = ledger.record(unit, [entry], personal={"reason": reason})
    return Erasure(found, retrain, stop, first)


Visible = Callable[[list[str]], list[bool]]
"""Which of some resources (``Kind/name``) a caller may read, in order."""


def resource_of(node: Node) -> str | None:
    """The estate resource a node stands for, which access decides about, or ``None``.

    Args:
        node: The node.

    Returns:
        ``Dataset/NAME``, ``ModelVersion/MODEL@VERSION`` or ``Workload/NAME`` for Keel's own
        nodes; ``None`` for jobs and for other systems' datasets.
    """
    if node.namespace != KEEL_NAMESPACE:
        return None
    kind = {"dataset": "Dataset", "model": "ModelVersion", "workload": "Workload"}.get(node.kind)
    return f"{kind}/{node.name}" if kind else None


def _hidden(nodes: Iterable[Node], visible: Visible) -> set[int]:
    named = [(n.id, r) for n in nodes if (r := resource_of(n)) is not None]
    allowed = visible([r for _, r in named]) if named else []
    return {node_id for (node_id, _), ok in zip(named, allowed, strict=True) if not ok}


def redact_view(view: LineageView, visible: Visible) -> LineageView:
    """A neighbourhood without the nodes the caller may not read, nor their edges.

    Args:
        view: What :func:`show` found.
        visible: The caller's read decisions.

    Returns:
        The view the caller may see (the root is the caller's to check).
    """
    hidden = _hidden((n for n, _ in view.nodes), visible)
    if not hidden:
        return view
    return LineageView(
        view.root,
        view.direction,
        [(n, d) for n, d in view.nodes if n.id not in hidden],
        [(s, t, k) for s, t, k in view.edges if s.id not in hidden and t.id not in hidden],
        view.truncated,
    )


def redact_impact(found: Impact, visible: Visible) -> Impact:
    """An impact without the datasets, versions, workloads and placements hidden from a caller.

    Args:
        found: What :func:`impact` found.
        visible: The caller's read decisions.

    Returns:
        The impact the caller may see.
    """
    hidden = _hidden([*found.datasets, *found.models, *found.workloads], visible)
    if not hidden:
        return found
    gone = {n.name for n in found.workloads if n.id in hidden}
    return Impact(
        found.root,
        [n for n in found.datasets if n.id not in hidden],
        [n for n in found.models if n.id not in hidden],
        [n for n in found.workloads if n.id not in hidden],
        [p for p in found.placements if p.get("workload") not in gone],
        found.truncated,
    )


def keys_of(nodes: Iterable[Node]) -> list[str]:
    """``kind:name`` of each node (``kind:namespace/name`` outside the ``keel`` namespace).

    Args:
        nodes: Nodes.

    Returns:
        Their labels.
    """
    return [label(n) for n in nodes]


def label(node: Node) -> str:
    """A node's label: ``kind:name``, with its namespace when that is not ``keel``.

    Args:
        node: The node.

    Returns:
        The label.
    """
    if node.namespace == KEEL_NAMESPACE:
        return f"{node.kind}:{node.name}"
    return f"{node.kind}:{node.namespace}/{node.name}"


def emit(workspace: Workspace, events: list[dict[str, Any]]) -> list[str]:
    """Send Keel's own events where the ``lineage_emit`` setting says; never fail the caller.

    Args:
        workspace: The workspace (its settings name the target).
        events: OpenLineage events.

    Returns:
        One message per event that could not be delivered (also logged).
    """
    target = workspace.settings.lineage_emit
    if not target or not events:
        return []
    failures: list[str] = []
    if target.startswith("file:"):
        path = Path(target.removeprefix("file:")).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("ab") as handle:
                handle.write(b"".join(orjson.dumps(e) + b"\n" for e in events))
        except OSError as error:
            failures.append(f"cannot write {path}: {error.strerror}")
    else:
        import httpx  # only a consumer that ships events over HTTP needs it

        url = target.rstrip("/") + "/api/v1/lineage"
        with httpx.Client(timeout=5.0) as client:
            for event in events:
                try:
                    client.post(url, json=event).raise_for_status()
                except httpx.HTTPError as error:
                    failures.append(f"{url}: {error}")
    for failure in failures:
        LOG.warning("OpenLineage event not delivered: %s", failure)
    return failures


def demo_events() -> Path:
    """The demo's OpenLineage events (Spark, Airflow and dbt runs around the demo estate)."""
    return Path(str(resources.files("keel.lineage") / "demo-events.jsonl"))


class LineageHook:
    """The lineage graph's part in every apply: Keel's own nodes follow the estate."""

    def admit(
        self,
        unit: Unit,
        estate: Estate,
        located: list[LocatedResource],
        touched: set[tuple[str, str]],
        *,
        actor: Actor,
        admin: bool,
    ) -> list[Problem]:
        """Nothing in the graph refuses an apply."""
        del unit, estate, located, touched, actor, admin
        return []

    def written(
        self, unit: Unit, estate: Estate, touched: set[tuple[str, str]], now: datetime, actor: Actor
    ) -> Recorded:
        """See :func:`sync_estate`."""
        del touched, actor
        sync_estate(unit, estate, now)
        return Recorded()
