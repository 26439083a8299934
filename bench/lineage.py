"""Benchmark: lineage queries on a 1M-edge graph against a recursive SQL CTE, and ingest rates.

Measured, on SQLite and (when a URL is given) PostgreSQL, in one run:

* a generated pipeline graph of ``--edges`` edges (default 1,000,000): layers of datasets and
  jobs, each job reading three datasets of the layer before (sometimes older ones, and 2% of
  reads one of 100 hot tables) and writing two; 1% of jobs rewrite an older dataset, so the
  graph has cycles. Besides, ``--hubs`` datasets (default 10) are each read by
  ``--hub-readers`` report jobs (default 10,000), each writing one table;
* ``impact`` and ``show --depth 10`` (Keel's walk: one recursive statement in the database)
  from ``--queries`` random datasets, from every hub, and from five hubs without a depth
  limit: p50 and p95;
* baselines: the same walk as one bare recursive SQL CTE over the same tables (what Marquez
  does; node ids only), and that CTE joined to the nodes for the names an impact lists; the
  script checks that Keel and the CTE find the same nodes;
* ingest: events per second from a JSON-lines file, and over HTTP (``keel serve`` in a
  subprocess, one event per request as OpenLineage clients send them, each a new run, from
  ``--clients`` concurrent connections, default 32: many pipelines reporting at once). The load
  generator is wrk (``bench/wrk/lineage.lua``) when installed, else an httpx client; the
  baseline is wrk on ``/healthz``, the framework's floor on the same server.

Usage::

    python bench/lineage.py [--edges 1000000] [--queries 200] [--events 5000] [--postgres URL]
    python bench/lineage.py --skip-ingest    # the queries only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from keel.service import Workspace, lineage
from keel.store.bulk import insert_rows, timestamp
from keel.store.schema import lineage_edges, lineage_nodes
from pgschema import postgres_schema, postgres_url

PAGE = 1_000
"""Nodes in the first page of a paged impact."""
BATCH = 50
"""Events in one request in the batched HTTP run."""

CTE = sa.text(
    """
    WITH RECURSIVE walk(id, depth) AS (
        SELECT CAST(:start AS INTEGER), 0
        UNION
        SELECT e.dst, w.depth + 1
        FROM lineage_edges e JOIN walk w ON e.src = w.id
        WHERE w.depth < :depth
    )
    SELECT DISTINCT id FROM walk
    """
)
CTE_UNBOUNDED = sa.text(
    """
    WITH RECURSIVE walk(id) AS (
        SELECT CAST(:start AS INTEGER)
        UNION
        SELECT e.dst FROM lineage_edges e JOIN walk w ON e.src = w.id
    )
    SELECT id FROM walk
    """
)
"""Every node reachable, each once (``UNION`` drops repeats, so cycles end): no depth."""


def _named(cte: sa.TextClause) -> sa.TextClause:
    """The CTE's nodes with the names an impact answer lists (a second, fairer baseline)."""
    return sa.text(
        f"SELECT n.id, n.kind, n.namespace, n.name FROM ({cte.text}) r"
        " JOIN lineage_nodes n ON n.id = r.id WHERE n.kind IN ('dataset', 'model', 'workload')"
    )


CTE_NAMED, CTE_UNBOUNDED_NAMED = _named(CTE), _named(CTE_UNBOUNDED)


def generate(
    workspace: Workspace,
    edges_wanted: int,
    *,
    hot_share: float = 0.02,
    hubs: int = 10,
    hub_readers: int = 10_000,
    seed: int = 7,
) -> tuple[list[str], list[str]]:
    """Write a layered pipeline graph straight into the store.

    A share of reads (``hot_share``) goes to 100 hot datasets of the first layer, as reference
    tables (calendars, currencies) are read by many pipelines. Besides, ``hubs`` datasets of the
    next-to-last layer (a curated customer table) are each read by ``hub_readers`` report jobs that
    write one table each: a change upstream of a hub reaches tens of thousands of nodes.

    Returns:
        The names of the datasets of the older half, and of the hubs.
    """
    rng = random.Random(seed)
    per_layer = 4_000  # jobs per layer; each writes 2 datasets and reads 3
    edges: list[tuple[int, int, str]] = []
    datasets: list[list[int]] = []
    rows: list[tuple[Any, ...]] = []
    next_id = 1
    with workspace.database.write() as conn:
        now = timestamp(conn, lineage_nodes.c.created_at, datetime.now(UTC))

        def node(kind: str, name: str) -> int:
            nonlocal next_id
            rows.append((next_id, kind, "bench", name, "openlineage", "{}", now, now))
            next_id += 1
            return next_id - 1

        datasets.append([node("dataset", f"source-{i}") for i in range(per_layer * 2)])
        layer = 0
        layered = edges_wanted - 2 * hubs * hub_readers
        while len(edges) < layered:
            layer += 1
            written = []
            for j in range(per_layer):
                job = node("job", f"job-{layer}-{j}")
                for _ in range(3):
                    if rng.random() < hot_share:
                        edges.append((datasets[0][rng.randrange(100)], job, "input"))
                        continue
                    back = 1 if rng.random() < 0.9 else rng.randint(1, len(datasets))
                    edges.append((rng.choice(datasets[-back]), job, "input"))
                for k in range(2):
                    out = node("dataset", f"data-{layer}-{j}-{k}")
                    written.append(out)
                    edges.append((job, out, "output"))
                if rng.random() < 0.01 and len(datasets) > 2:
                    # A job that rewrites an older dataset: a cycle in the graph.
                    edges.append((job, rng.choice(datasets[-3]), "output"))
            datasets.append(written)
        edges = list(dict.fromkeys(edges))[:layered]
        hub_ids = datasets[-2][: 2 * hubs : 2]
        for h, hub in enumerate(hub_ids):
            for r in range(hub_readers):
                job = node("job", f"report-{h}-{r}")
                edges += [(hub, job, "input"), (job, node("dataset", f"report-{h}-{r}"), "output")]
        insert_rows(
            conn,
            lineage_nodes,
            ["id", "kind", "namespace", "name", "origin", "facets", "created_at", "updated_at"],
            rows,
        )
        insert_rows(
            conn,
            lineage_edges,
            ["src", "dst", "kind", "origin", "updated_at"],
            [(s, d, k, "openlineage", now) for s, d, k in edges],
        )
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT setval('lineage_nodes_id_seq', :n)"), {"n": next_id})
            conn.execute(sa.text("ANALYZE lineage_nodes; ANALYZE lineage_edges"))
        else:
            conn.execute(sa.text("ANALYZE"))
    names = {i: r[3] for i, r in enumerate(rows, start=1) if r[1] == "dataset"}
    older = [names[i] for layer in datasets[: max(2, len(datasets) // 2)] for i in layer]
    return older, [names[i] for i in hub_ids]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _summary(times_s: list[float]) -> dict[str, float]:
    ms = [t * 1000 for t in times_s]
    return {
        "p50_ms": round(_pct(ms, 0.5), 2),
        "p95_ms": round(_pct(ms, 0.95), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def queries(workspace: Workspace, starts: list[str], depth: int | None) -> dict[str, Any]:
    """Keel's impact and show against the recursive CTE from each start; checks they agree."""
    impact_s, page_s, show_s, cte_s, named_s, reached = [], [], [], [], [], []
    for name in starts:
        t = time.perf_counter()
        found = lineage.impact(workspace, f"dataset:{name}", namespace="bench", depth=depth)
        impact_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        first = lineage.impact(
            workspace, f"dataset:{name}", namespace="bench", depth=depth, page=(0, PAGE)
        )
        page_s.append(time.perf_counter() - t)
        in_page = len(first.datasets) + len(first.models) + len(first.workloads)
        assert in_page == min(PAGE, len(found.datasets) + len(found.models) + len(found.workloads))
        t = time.perf_counter()
        view = lineage.show(workspace, f"dataset:{name}", namespace="bench", depth=depth)
        show_s.append(time.perf_counter() - t)
        keel_ids = {n.id for n, _ in view.nodes}
        with workspace.database.read() as conn:
            t = time.perf_counter()
            if depth is None:
                rows = conn.execute(CTE_UNBOUNDED, {"start": view.root.id})
            else:
                rows = conn.execute(CTE, {"start": view.root.id, "depth": depth})
            cte_ids = {int(r[0]) for r in rows}
            cte_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            bind = {"start": view.root.id, "depth": depth}
            named = conn.execute(CTE_UNBOUNDED_NAMED if depth is None else CTE_NAMED, bind).all()
            named_s.append(time.perf_counter() - t)
        assert len(named) == len(found.datasets) + len(found.models) + len(found.workloads) + 1
        if keel_ids != cte_ids or view.truncated:
            raise SystemExit(
                f"dataset {name}: Keel reached {len(keel_ids)} nodes, the CTE {len(cte_ids)}"
            )
        assert len(found.datasets) == sum(1 for n, d in view.nodes if n.kind == "dataset" and d > 0)
        reached.append(len(keel_ids))
    keel_impact, cte, with_names = _summary(impact_s), _summary(cte_s), _summary(named_s)
    first_page = _summary(page_s)
    return {
        "queries": len(starts),
        "depth": depth,
        "nodes_reached_mean": round(statistics.fmean(reached), 1),
        "nodes_reached_max": max(reached),
        "impact": keel_impact,
        "impact_first_page": first_page,
        "cte_over_first_page_p95": round(cte["p95_ms"] / first_page["p95_ms"], 2),
        "show": _summary(show_s),
        "recursive_cte": cte,
        "cte_over_keel_p95": round(cte["p95_ms"] / keel_impact["p95_ms"], 2),
        "recursive_cte_with_names": with_names,
        "cte_with_names_over_keel_p95": round(with_names["p95_ms"] / keel_impact["p95_ms"], 2),
        "same_nodes": True,
    }


def _events(count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        out.append(
            {
                "eventType": "COMPLETE",
                "eventTime": datetime.now(UTC).isoformat(),
                "producer": "https://example.com/bench",
                "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
                "run": {"runId": str(uuid.uuid4())},
                "job": {"namespace": "ingest", "name": f"job-{i % 500}"},
                "inputs": [
                    {"namespace": "ingest", "name": f"table-{(i * 7) % 2000}"},
                    {"namespace": "ingest", "name": f"table-{(i * 13) % 2000}"},
                ],
                "outputs": [
                    {
                        "namespace": "ingest",
                        "name": f"table-{2000 + i % 1000}",
                        "facets": {
                            "schema": {
                                "_producer": "https://example.com/bench",
                                "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                                "fields": [{"name": f"c{k}", "type": "string"} for k in range(8)],
                            }
                        },
                    }
                ],
            }
        )
    return out


def ingest_file(workspace: Workspace, root: Path, count: int) -> dict[str, Any]:
    path = root / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in _events(count)))
    t = time.perf_counter()
    events = lineage.read_jsonl(path)
    result = lineage.ingest(workspace, events)
    elapsed = time.perf_counter() - t
    assert result.accepted == count
    return {"events": count, "seconds": round(elapsed, 2), "events_per_s": round(count / elapsed)}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _send_all(url: str, events: list[dict[str, Any]], clients: int, key: str) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for event in events:
        queue.put_nowait(event)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=url, timeout=60, limits=limits, headers=headers
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                event = queue.get_nowait()
                t = time.perf_counter()
                (await client.post("/api/v1/lineage", json=event)).raise_for_status()
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(clients)))
    return latencies


WRK_SCRIPT = Path(__file__).parent / "wrk" / "lineage.lua"


def _wrk(
    url: str,
    clients: int,
    seconds: int,
    script: Path | None = None,
    key: str | None = None,
    *,
    script_args: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Run wrk (2 threads) and read its numbers; with the script, its RESULT line."""
    command = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--latency"]
    if key:
        command += ["-H", f"Authorization: Bearer {key}"]
    if script is not None:
        command += ["-s", str(script)]
    command += [url, *(["--", *script_args] if script_args else [])]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = float(
        next(line.split()[1] for line in out.splitlines() if line.startswith("Requests/sec"))
    )
    found: dict[str, Any] = {"requests_per_s": round(rate)}
    for line in out.splitlines():
        if line.startswith("RESULT"):
            requests, _duration, p50, p95, p99, errors = (int(v) for v in line.split()[1:])
            found |= {
                "requests": requests,
                "p50_ms": p50 / 1000,
                "p95_ms": p95 / 1000,
                "p99_ms": p99 / 1000,
                "errors": errors,
            }
    return found


def ingest_http(
    root: Path, database_url: str, count: int, clients: int, seconds: int
) -> dict[str, Any]:
    port = _port()
    env = {**os.environ, "KEEL_DATABASE_URL": database_url}
    keel = shutil.which("keel", path=str(Path(sys.executable).parent)) or "keel"
    # Every request is authenticated, as in production: an operator's API key.
    key = subprocess.run(
        [keel, "token", "create", "--name", "bench-ingest", "--role", "operator"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    server = subprocess.Popen(
        [keel, "serve", "--port", str(port), "--rate-limit", "1000000"],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(400):
            try:
                httpx.get(f"{url}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        if shutil.which("wrk"):
            floor = _wrk(f"{url}/healthz", clients, max(3, seconds // 2))
            ingest = _wrk(url, clients, seconds, WRK_SCRIPT, key)
            # The same events, BATCH to a request (a JSON array): what a forwarder or a
            # buffering producer sends. Fewer connections, so a request waits less.
            batched = _wrk(
                url, max(2, clients // 8), seconds, WRK_SCRIPT, key, script_args=(str(BATCH),)
            )
            for run in (ingest, batched):
                if run["errors"]:
                    raise SystemExit(f"{run['errors']} requests failed during an ingest run")
            return {
                "generator": "wrk",
                "clients": clients,
                "events_per_s": ingest["requests_per_s"],
                **{f"request_{k}": v for k, v in ingest.items() if k.endswith("_ms")},
                "errors": ingest["errors"],
                "healthz_per_s": floor["requests_per_s"],
                "of_floor": round(ingest["requests_per_s"] / floor["requests_per_s"], 2),
                "batch": BATCH,
                "batched_clients": max(2, clients // 8),
                "batched_events_per_s": batched["requests_per_s"] * BATCH,
                "batched_request_p50_ms": batched["p50_ms"],
                "batched_request_p99_ms": batched["p99_ms"],
            }
        asyncio.run(_send_all(url, _events(200), clients, key))  # warm up
        events = _events(count)
        t = time.perf_counter()
        latencies = asyncio.run(_send_all(url, events, clients, key))
        elapsed = time.perf_counter() - t
        return {
            "generator": "httpx",
            "clients": clients,
            "events_per_s": round(count / elapsed),
            **{f"request_{k}": v for k, v in _summary(latencies).items()},
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def run_backend(name: str, url: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    workspace = Workspace.open(root, database_url=url)
    try:
        t = time.perf_counter()
        names, hubs = generate(
            workspace,
            args.edges,
            hot_share=args.hot_share,
            hubs=args.hubs,
            hub_readers=args.hub_readers,
        )
        built = time.perf_counter() - t
        with workspace.database.read() as conn:
            nodes, edges = lineage.LineageRepository(conn).count()
            readers = conn.execute(
                sa.text(
                    "SELECT COUNT(*) FROM lineage_edges e JOIN lineage_nodes n ON n.id = e.src"
                    " WHERE n.name IN :hubs GROUP BY e.src"
                ).bindparams(sa.bindparam("hubs", expanding=True)),
                {"hubs": hubs[: args.hubs]},
            ).all()
        fewest = min(r[0] for r in readers)
        print(
            f"[{name}] graph: {nodes:,} nodes, {edges:,} edges, {args.hubs} hubs read by"
            f" {fewest:,} or more jobs each; written in {built:.1f} s",
            flush=True,
        )
        result: dict[str, Any] = {
            "backend": name,
            "nodes": nodes,
            "edges": edges,
            "hubs": args.hubs,
            "hub_readers_min": fewest,
        }
        starts = random.Random(11).sample(names, args.queries)
        groups = {
            "random": queries(workspace, starts, args.depth),
            "through_hubs": queries(workspace, hubs, args.depth),
            "through_hubs_unbounded": queries(workspace, hubs[:5], None),
        }
        result["queries"] = groups
        for group, q in groups.items():
            print(
                f"[{name}] {group}, {q['queries']} starts, depth {q['depth']}:"
                f" impact p50 {q['impact']['p50_ms']} ms p95 {q['impact']['p95_ms']} ms"
                f" (its first {PAGE:,} nodes: p50 {q['impact_first_page']['p50_ms']} ms"
                f" p95 {q['impact_first_page']['p95_ms']} ms);"
                f" show p95 {q['show']['p95_ms']} ms; recursive CTE p50"
                f" {q['recursive_cte']['p50_ms']} ms p95 {q['recursive_cte']['p95_ms']} ms"
                f" ({q['cte_over_keel_p95']}x Keel's p95), with the names p95"
                f" {q['recursive_cte_with_names']['p95_ms']} ms"
                f" ({q['cte_with_names_over_keel_p95']}x); {q['nodes_reached_mean']:,} nodes"
                f" reached on average, {q['nodes_reached_max']:,} at most",
                flush=True,
            )
        if not args.skip_ingest:
            result["ingest_file"] = ingest_file(workspace, root, args.events)
            print(
                f"[{name}] ingest from a file: {result['ingest_file']['events_per_s']:,} events/s",
                flush=True,
            )
    finally:
        workspace.close()
    if args.skip_ingest:
        return result
    result["ingest_http"] = ingest_http(root, url, args.events, args.clients, args.http_seconds)
    h = result["ingest_http"]
    floor = (
        f"; /healthz {h['healthz_per_s']:,}/s ({h['of_floor']}x)" if "healthz_per_s" in h else ""
    )
    print(
        f"[{name}] ingest over HTTP ({h['generator']}, {h['clients']} connections):"
        f" {h['events_per_s']:,} events/s, request p50 {h['request_p50_ms']} ms"
        f" p95 {h['request_p95_ms']} ms{floor}",
        flush=True,
    )
    if "batched_events_per_s" in h:
        print(
            f"[{name}] ingest over HTTP, {h['batch']} events a request"
            f" ({h['batched_clients']} connections): {h['batched_events_per_s']:,} events/s,"
            f" request p50 {h['batched_request_p50_ms']} ms p99 {h['batched_request_p99_ms']} ms",
            flush=True,
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--hot-share", type=float, default=0.02, help="Reads of hot tables.")
    parser.add_argument("--hubs", type=int, default=10, help="Hub datasets.")
    parser.add_argument("--hub-readers", type=int, default=10_000, help="Report jobs per hub.")
    parser.add_argument("--skip-ingest", action="store_true", help="Queries only.")
    parser.add_argument("--clients", type=int, default=32, help="Concurrent HTTP clients.")
    parser.add_argument("--http-seconds", type=int, default=10, help="wrk run length.")
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--out", default="bench/results/lineage.json")
    args = parser.parse_args()
    hub_edges = 2 * args.hubs * args.hub_readers
    if args.edges <= hub_edges:
        parser.error(
            f"--edges {args.edges:,} leaves no edges for the layered graph: the hubs alone take"
            f" {hub_edges:,} (2 x --hubs x --hub-readers); ask for more edges or fewer hubs"
        )
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sqlite"
        root.mkdir()
        results.append(run_backend("sqlite", f"sqlite:///{root / 'keel.db'}", root, args))
        url = postgres_url(args.postgres)
        if url:
            with postgres_schema(url) as (_, schema_url):
                pg_root = Path(tmp) / "pg"
                pg_root.mkdir()
                results.append(run_backend("postgresql", schema_url, pg_root, args))
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
