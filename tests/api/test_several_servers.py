"""Three ``keel serve`` processes on one PostgreSQL, as behind a load balancer (issue 23, item 4).

Concurrent writes through all three leave one gap-free, verifiable ledger signed by one key and
plans committed one after the other; a rate limit is one limit across the servers; a revoked
key and a changed access policy are obeyed by every server within the documented second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from keel.estate import demo_manifest_files
from keel.service import Workspace, apply_manifests, ledger, tokens
from keel.service.actor import Actor
from live_server import clean_env, keel_serve
from pg_schema import fresh_schema

pytestmark = pytest.mark.postgres


ROLES = ("viewer", "operator", "admin")

FORBID_VIEWER_MODELS = """\
kind: PolicySet
name: no-models-for-viewers
spec:
  access:
    - name: no-models
      cedar: |
        @id("viewers.no.models")
        forbid (principal in Keel::Role::"viewer", action, resource is Keel::ModelVersion);
"""


@dataclass
class Cluster:
    root: Path
    url: str
    keys: dict[str, str]
    servers: list[str]

    def client(self, server: int, who: str) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return httpx.Client(base_url=self.servers[server], headers=headers, timeout=60)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A schema of its own on the test PostgreSQL."""
    with fresh_schema() as url:
        yield url


def _servers(root: Path, url: str, *extra: str) -> tuple[ExitStack, list[str]]:
    stack = ExitStack()
    env = clean_env(KEEL_DATABASE_URL=url)
    servers = [stack.enter_context(keel_serve(root, *extra, env=env)) for _ in range(3)]
    return stack, servers


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[Cluster]:
    """The demo estate on PostgreSQL, a key per role, three servers sharing the database."""
    root = tmp_path_factory.mktemp("cluster")
    workspace = Workspace.open(root, database_url=database)
    try:
        folder = root / "demo"
        folder.mkdir()
        for name, text in demo_manifest_files():
            (folder / name).write_text(text, encoding="utf-8")
        apply_manifests(workspace, [str(folder)], actor=Actor.system("tests"))
        keys = {
            role: tokens.create(workspace, f"{role}-key", role, actor="tests")[1] for role in ROLES
        }
    finally:
        workspace.close()
    stack, servers = _servers(root, database, "--rate-limit", "1000")
    with stack:
        yield Cluster(root, database, keys, servers)


def test_concurrent_writes_through_three_servers_leave_one_gap_free_ledger(
    cluster: Cluster,
) -> None:
    workspace = Workspace.open(cluster.root, database_url=cluster.url)
    try:
        before = ledger.size(workspace)

        def append(n: int) -> int:
            with cluster.client(n % 3, "operator") as api:
                answer = api.post("/v1/ledger/entries", json={"entries": [{"type": "t", "n": n}]})
                assert answer.status_code == 200, answer.text
                return int(answer.json()["first_index"])

        def plan(n: int) -> int:
            with cluster.client(n % 3, "operator") as api:
                answer = api.post("/v1/plans", json={})
                assert answer.status_code == 200, answer.text
                found = answer.json()
                return int(found["plan_id"] or found["same_as_plan_id"])

        def refused(n: int) -> None:  # each server writes its refusals to the ledger
            with cluster.client(n % 3, "viewer") as api:
                assert api.post("/v1/plans", json={}).status_code == 403

        with ThreadPoolExecutor(12) as pool:
            appended = pool.map(append, range(60))
            plans = pool.map(plan, range(6))
            list(pool.map(refused, range(9)))
            indices, plan_ids = sorted(appended), set(plans)
        time.sleep(1.5)  # refusals are flushed in batches within half a second
        found = ledger.verify(workspace)  # raises if an entry, a link or a signature is wrong
        size = ledger.size(workspace)
        # Every append landed at its own index; nothing between them is missing or doubled.
        assert len(set(indices)) == 60 and min(indices) >= before and max(indices) < size
        entries = [e.entry for e in ledger.show(workspace, start=before, limit=size - before)]
        assert sorted(e["n"] for e in entries if e.get("type") == "external.t") == list(range(60))
        assert sum(e.get("type") == "access.denied" for e in entries) == 9
        # Six plans of one estate at once: the first commits, the others see it committed and
        # answer "same as" it (no two commits of one plan).
        committed = [e["plan_id"] for e in entries if e.get("type") == "plan.committed"]
        assert len(plan_ids) == 1 and committed == list(plan_ids)
        assert found.size == size
    finally:
        workspace.close()


def test_revocation_reaches_every_server_within_a_second(cluster: Cluster) -> None:
    with cluster.client(0, "admin") as admin:
        made = admin.post("/v1/tokens", json={"name": "roaming", "role": "viewer"})
        assert made.status_code == 201, made.text
        key = made.json()["key"]
    headers = {"Authorization": f"Bearer {key}"}
    for server in cluster.servers:
        assert httpx.get(f"{server}/v1/models", headers=headers).status_code == 200
    with cluster.client(1, "admin") as admin:
        assert admin.delete("/v1/tokens/roaming").status_code == 200
    time.sleep(1.1)  # each server trusts a key it checked for one second
    for server in cluster.servers:
        assert httpx.get(f"{server}/v1/models", headers=headers).status_code == 401


def _listed(api: httpx.Client) -> set[str]:
    return {f"{v['model']}@{v['version']}" for v in api.get("/v1/models").json()["versions"]}


def test_an_access_policy_change_reaches_every_server_within_a_second(cluster: Cluster) -> None:
    for n in range(3):
        with cluster.client(n, "viewer") as api:
            assert api.get("/v1/models/credit-scoring@3.2").status_code == 200
            assert "credit-scoring@3.2" in _listed(api)  # the server remembers this read
    with cluster.client(2, "admin") as admin:
        applied = admin.post("/v1/apply", json={"manifests": FORBID_VIEWER_MODELS})
        assert applied.status_code == 200, applied.text
    time.sleep(1.1)
    try:
        for n in range(3):
            with cluster.client(n, "viewer") as api:
                refused = api.get("/v1/models/credit-scoring@3.2")
                assert refused.status_code == 403, (n, refused.text)
                assert "credit-scoring@3.2" not in _listed(api)  # lists forget it too
    finally:
        with cluster.client(0, "admin") as admin:
            assert admin.delete("/v1/resources/PolicySet/no-models-for-viewers").status_code == 200


def test_a_rate_limit_is_one_limit_across_the_servers(cluster: Cluster) -> None:
    # 1 request/s, burst 2, for each principal: through three servers at once, a client gets
    # about as many answers as through one (per-process buckets would let three times through).
    stack, servers = _servers(cluster.root, cluster.url, "--rate-limit", "1")
    with stack:
        headers = {"Authorization": f"Bearer {cluster.keys['viewer']}"}
        started = time.monotonic()
        lock = threading.Lock()
        passed: list[str] = []
        limited: set[str] = set()

        def ask(n: int) -> None:
            server = servers[n % 3]
            status = httpx.get(f"{server}/v1/models", headers=headers, timeout=60).status_code
            with lock:
                if status == 200:
                    passed.append(server)
                elif status == 429:
                    limited.add(server)

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(ask, range(18)))
        elapsed = time.monotonic() - started
    assert len(passed) <= 2 + int(elapsed) + 1, (len(passed), elapsed)
    assert limited == set(servers)  # every server refused some: they share the bucket
