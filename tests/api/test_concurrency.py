"""Concurrent mutating requests never answer 5xx: SQLite and PostgreSQL, one and two workers.

32 requests at once (plans that commit, applies, evaluations, approvals, ledger appends, lineage
events) against a real ``keel serve``. Before the Rego pool, the server shared one socket to its
policy worker between threads and 2-7 of 12 parallel plans failed with HTTP 500.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import run
from live_server import clean_env, keel_serve

PARALLEL = 32


def _requests(sites: str) -> list[tuple[str, str, dict[str, Any]]]:
    ref = "credit-scoring@3.2"
    mixed: list[tuple[str, str, dict[str, Any]]] = []
    for i in range(PARALLEL):
        match i % 6:
            case 0 | 1:
                mixed.append(("operator", "/v1/plans", {"commit": "always"}))
            case 2:
                mixed.append(("operator", "/v1/apply", {"manifests": sites}))
            case 3:
                body = {"results": [{"kind": "probe", "name": f"p{i}", "passed": True}]}
                mixed.append(("operator", f"/v1/models/{ref}/evaluations", body))
            case 4:
                mixed.append(("approver", f"/v1/models/{ref}/approvals", {}))
            case _:
                event = {
                    "eventType": "COMPLETE",
                    "eventTime": "2026-11-28T12:00:00+00:00",
                    "producer": "https://example.com/test",
                    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
                    "run": {"runId": str(uuid.uuid4())},
                    "job": {"namespace": "test", "name": f"job-{i}"},
                    "inputs": [{"namespace": "keel", "name": "eu-customer-profiles"}],
                    "outputs": [],
                }
                mixed.append(("operator", "/api/v1/lineage", event))
    return mixed


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_parallel_mutations_never_answer_5xx(
    database_url: str, tmp_path: Path, workers: int
) -> None:
    root = tmp_path / "ws"
    env = clean_env(KEEL_DATABASE_URL=database_url, KEEL_PRINCIPAL="user:root-ops")
    assert run("init", "manifests", cwd=tmp_path, env=env).returncode == 0
    root.mkdir()
    applied = run("apply", "-f", str(tmp_path / "manifests"), cwd=root, env=env)
    assert applied.returncode == 0, applied.stderr
    keys = {}
    for role in ("operator", "approver"):
        made = run("token", "create", "--name", role, "--role", role, cwd=root, env=env)
        assert made.returncode == 0, made.stderr
        keys[role] = made.stdout.strip()
    sites = (tmp_path / "manifests" / "sites.yaml").read_text()
    with keel_serve(root, "--rate-limit", "1000", "--workers", str(workers), env=env) as url:

        def send(request: tuple[str, str, dict[str, Any]]) -> int:
            who, path, body = request
            headers = {"Authorization": f"Bearer {keys[who]}"}
            with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
                return client.post(path, json=body).status_code

        with ThreadPoolExecutor(PARALLEL) as pool:
            statuses = list(pool.map(send, _requests(sites)))
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(200) + statuses.count(201) >= PARALLEL // 2, statuses
    verified = run("ledger", "verify", cwd=root, env=env)
    assert verified.returncode == 0, verified.stderr
