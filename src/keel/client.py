"""``keel.Client``: the HTTP API from Python, with Keel's own errors.

Example::

    import keel

    with keel.Client("http://127.0.0.1:8470", token="keel_...") as api:
        plan = api.latest_plan()
        api.approve("credit-scoring@3.2")

An error answer raises the :class:`keel.errors.KeelError` subclass of its code (``E-FORBIDDEN``
raises :class:`~keel.errors.ForbiddenError`, and so on), with the server's message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import httpx

from keel import errors


def _raise(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    raise errors.KeelError.from_body(
        body, response.status_code, response.headers.get("retry-after")
    )


class Client:
    """A client of ``keel serve``.

    Args:
        url: The server, ``http://127.0.0.1:8470`` (``KEEL_SERVER`` when ``None``).
        token: An API key (``KEEL_TOKEN`` when ``None``).
        timeout_s: Seconds to wait for an answer.
    """

    def __init__(self, url: str | None = None, token: str | None = None, timeout_s: float = 60):
        url = url or os.environ.get("KEEL_SERVER")
        token = token or os.environ.get("KEEL_TOKEN")
        if not url:
            raise errors.ConfigError("no server: pass url= or set KEEL_SERVER")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout_s)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def _get(self, path: str, **params: Any) -> Any:
        response = self._http.get(path, params={k: v for k, v in params.items() if v is not None})
        _raise(response)
        return (
            response.json() if "json" in response.headers.get("content-type", "") else response.text
        )

    def _post(self, path: str, body: Any = None) -> Any:
        response = self._http.post(path, json=body if body is not None else {})
        _raise(response)
        return response.json()

    def healthz(self) -> bool:
        """Whether the server answers."""
        return bool(self._get("/healthz")["status"] == "ok")

    def get(self, kind: str, name: str | None = None) -> Any:
        """Stored resources of a kind, or one resource (as ``keel get -o json``)."""
        return self._get(f"/v1/resources/{kind}" + (f"/{name}" if name else ""))

    def apply(self, manifests: str, *, dry_run: bool = False, prune: bool = False) -> Any:
        """Apply manifests (YAML text) in one transaction."""
        return self._post("/v1/apply", {"manifests": manifests, "dry_run": dry_run, "prune": prune})

    def delete(self, kind: str, name: str) -> Any:
        """Delete one resource."""
        response = self._http.delete(f"/v1/resources/{kind}/{name}")
        _raise(response)
        return response.json()

    def plan(
        self, *, objective: str = "balanced", solver: str = "fast", commit: bool = True
    ) -> Any:
        """Compute (and commit) a plan."""
        return self._post("/v1/plans", {"objective": objective, "solver": solver, "commit": commit})

    def latest_plan(self) -> Any:
        """The latest committed plan."""
        return self._get("/v1/plans/latest")

    def decision(self, workload: str) -> Any:
        """The compliance decision for a workload."""
        return self._get(f"/v1/policy/decisions/{workload}")

    def checkpoint(self) -> str:
        """The latest signed checkpoint."""
        return str(self._get("/v1/ledger/checkpoint"))

    def entries(self, start: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        """Ledger entries from an index on."""
        return list(self._get("/v1/ledger/entries", start=start, limit=limit)["entries"])

    def record(self, entries: Sequence[dict[str, Any]]) -> Any:
        """Append decision records to the ledger."""
        return self._post("/v1/ledger/entries", {"entries": list(entries)})

    def proof(self, index: int) -> str:
        """A tlog-proof of one entry."""
        return str(self._get(f"/v1/ledger/proofs/{index}"))

    def send_lineage(self, events: Sequence[dict[str, Any]]) -> Any:
        """Store OpenLineage events."""
        response = self._http.post("/api/v1/lineage", json=list(events))
        _raise(response)
        return response.json()

    def impact(self, node: str, depth: int | None = None) -> Any:
        """What a dataset feeds."""
        return self._get("/v1/lineage/impact", node=node, depth=depth)

    def models(self) -> list[dict[str, Any]]:
        """Registered versions."""
        return list(self._get("/v1/models")["versions"])

    def model(self, ref: str) -> Any:
        """One version with its history."""
        return self._get(f"/v1/models/{ref}")

    def evaluate(self, ref: str, results: Sequence[dict[str, Any]]) -> Any:
        """Record evaluation results (``{kind, name, passed, score?}``)."""
        return self._post(f"/v1/models/{ref}/evaluations", {"results": list(results)})

    def promote(self, ref: str, to: str, reason: str = "") -> Any:
        """Move a version to validated, draft or retired."""
        return self._post(f"/v1/models/{ref}/transitions", {"to": to, "reason": reason})

    def approve(self, ref: str) -> Any:
        """Approve a version as this key's principal."""
        return self._post(f"/v1/models/{ref}/approvals")

    def alerts(self, *, every: bool = False) -> list[dict[str, Any]]:
        """Monitor alerts."""
        return list(self._get("/v1/monitors/alerts", all=every)["alerts"])
