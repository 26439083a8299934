"""``keel.Client``: the HTTP API from Python, with Keel's own errors and wire models.

Example::

    import keel

    with keel.Client("http://127.0.0.1:8470", token="keel_...") as api:
        plan = api.latest_plan()                 # a keel.wire.Plan
        api.approve("credit-scoring@3.2")

The client implements :class:`keel.operations.Operations`, so the CLI runs the same command
body against a server (``--server``) as against a local workspace. An error answer raises the
:class:`keel.errors.KeelError` subclass of its code, with its facts (problems, policies...).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from keel import errors, wire
from keel.estate import Limits
from keel.estate.manifest import expand_paths
from keel.operations import DEFAULT_KEY_DAYS, Commit, Direction

M = TypeVar("M", bound=BaseModel)

MAX_EVENTS_FILE_BYTES = 256 * 1024 * 1024
"""Largest OpenLineage events file ``ingest`` sends."""


def _unreachable(url: str, error: httpx.TransportError) -> errors.UnreachableError:
    """The network failure as the user can act on it: what failed, at which URL, what to try."""
    cause = str(error) or type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        why, hint = "timed out", "the server is slow or a firewall drops the packets"
    elif "ssl" in cause.lower() or "certificate" in cause.lower():
        why, hint = "TLS failed", "check the scheme (http:// or https://) and the certificate"
    elif isinstance(error, httpx.ConnectError) and "refused" in cause.lower():
        why, hint = "connection refused", "is keel serve running there, on that port?"
    elif isinstance(error, httpx.ConnectError):
        why, hint = "cannot connect", "check the host name and the network"
    else:
        why, hint = "the connection failed", "try again; the server may have restarted"
    return errors.UnreachableError(
        f"cannot reach {url}: {why} ({cause})",
        url=url,
        hint=f"{hint} (the URL comes from --server or KEEL_SERVER)",
    )


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
        self.where = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.where, headers=headers, timeout=timeout_s)

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

    # -- transport -----------------------------------------------------------------------------
    def _send(self, method: str, path: str, *, body: Any = None, **params: Any) -> httpx.Response:
        query = {k: v for k, v in params.items() if v is not None}
        try:
            response = self._http.request(method, path, params=query, json=body)
        except httpx.TransportError as error:
            raise _unreachable(self.where, error) from None
        _raise(response)
        return response

    def _get(self, shape: type[M], path: str, **params: Any) -> M:
        return shape.model_validate(self._send("GET", path, **params).json())

    def _post(self, shape: type[M], path: str, body: Any = None, **params: Any) -> M:
        return shape.model_validate(self._send("POST", path, body=body or {}, **params).json())

    def _text(self, method: str, path: str) -> str:
        return self._send(method, path, body={} if method == "POST" else None).text

    def healthz(self) -> bool:
        """Whether the server answers."""
        return self._get(wire.Health, "/healthz").status == "ok"

    # -- estate --------------------------------------------------------------------------------
    def get(self, kind: str, name: str | None = None) -> wire.ResourceList:
        """Stored resources of a kind, or one (a list of one)."""
        if name is None:
            return self._get(wire.ResourceList, f"/v1/resources/{kind}")
        return wire.ResourceList(items=[self._get(wire.Resource, f"/v1/resources/{kind}/{name}")])

    def apply(
        self, paths: Sequence[str], *, prune: bool = False, dry_run: bool = False
    ) -> wire.ApplyResult:
        """Send manifest files (folders expanded) to be applied in one transaction.

        Problems name each file by its name; monitor data paths resolve against the server's
        data root.
        """
        files, problems = expand_paths(paths, Limits())
        if problems:
            raise errors.ManifestError(problems)
        sent = []
        for index, path in enumerate(files):
            text = Path(path).read_text("utf-8") if path != "-" else sys.stdin.read()
            sent.append({"name": f"{index:04d}-{Path(path).name}"[-128:], "text": text})
        body = {"files": sent, "prune": prune, "dry_run": dry_run}
        return self._post(wire.ApplyResult, "/v1/apply", body)

    def apply_text(
        self, manifests: str, *, prune: bool = False, dry_run: bool = False
    ) -> wire.ApplyResult:
        """Apply manifests given as YAML text."""
        body = {"manifests": manifests, "prune": prune, "dry_run": dry_run}
        return self._post(wire.ApplyResult, "/v1/apply", body)

    def delete(self, kind: str, name: str) -> wire.Change:
        """Delete one resource."""
        return wire.Change.model_validate(
            self._send("DELETE", f"/v1/resources/{kind}/{name}").json()
        )

    # -- plans and policy ----------------------------------------------------------------------
    def plan(
        self,
        *,
        objective: str = "balanced",
        solver: str = "fast",
        seed: int = 0,
        commit: Commit = "changed",
        diff: bool = False,
        horizon_h: int | None = None,
        start: datetime | None = None,
        signal: str = "carbon_location",
        energy_price: bool = False,
        budget_s: float | None = None,
    ) -> wire.Plan:
        """Compute (and commit, see :data:`keel.operations.Commit`) a plan."""
        body: dict[str, Any] = {"objective": objective, "solver": solver, "seed": seed}
        body |= {"commit": commit, "diff": diff}
        if energy_price:
            body["energy_price"] = True
        if budget_s is not None:
            body["budget_s"] = budget_s
        if horizon_h is not None:
            when = None if start is None else start.isoformat()
            body |= {"horizon_h": horizon_h, "start": when, "signal": signal}
        return self._post(wire.Plan, "/v1/plans", body)

    def latest_plan(self) -> wire.Plan:
        """The latest committed plan."""
        return self._get(wire.Plan, "/v1/plans/latest")

    def capacity_history(
        self, *, step_s: int = 3600, by: str = "pool", top: int | None = 8
    ) -> wire.CapacityHistory:
        """Demand from Keel's own runs, per pool or workload."""
        query: dict[str, Any] = {"step_s": step_s, "by": by}
        if top is not None:
            query["top"] = top
        return self._get(wire.CapacityHistory, "/v1/capacity/history", **query)

    def check_tool_calls(
        self, agent: str, tool_calls: Sequence[wire.ToolCall]
    ) -> wire.ToolCallVerdicts:
        """Verdicts on an agent's tool calls (OpenAI format), each recorded in the ledger."""
        body = {"tool_calls": [c.model_dump(mode="json", exclude_none=True) for c in tool_calls]}
        return self._post(wire.ToolCallVerdicts, f"/v1/agents/{agent}/tool-calls:check", body)

    def check_tool_results(
        self, agent: str, results: Sequence[wire.ToolResult]
    ) -> wire.ToolResultVerdicts:
        """Verdicts on an agent's tool results (OpenAI ``tool`` messages), each recorded."""
        body = {"results": [r.model_dump(mode="json", exclude_none=True) for r in results]}
        return self._post(wire.ToolResultVerdicts, f"/v1/agents/{agent}/tool-results:check", body)

    def agent_calls(
        self, agent: str, *, limit: int = 50, before: int | None = None
    ) -> wire.AgentCalls:
        """An agent's recent tool calls (checked or through the MCP gateway), newest first."""
        query: dict[str, Any] = {"limit": limit}
        if before is not None:
            query["before"] = before
        return self._get(wire.AgentCalls, f"/v1/agents/{agent}/calls", **query)

    def agent_duplicates(self, *, min_score: float = 0.0) -> wire.AgentDuplicates:
        """Pairs of agents that may do the same job (of the agents the caller reads)."""
        return self._get(wire.AgentDuplicates, "/v1/agents/duplicates", min_score=min_score)

    def tool_approvals(self, *, state: str | None = "pending") -> wire.ToolApprovals:
        """High-impact tool calls waiting for (or decided by) an approver, newest first."""
        return self._get(wire.ToolApprovals, "/v1/agents/approvals", state=state or "")

    def decide_tool_approval(
        self, approval_id: int, *, approve: bool, reason: str = ""
    ) -> wire.ToolApproval:
        """Approve or deny a waiting tool call (an approver, not the gateway's runner)."""
        body = {"approve": approve, "reason": reason}
        return self._post(wire.ToolApproval, f"/v1/agents/approvals/{approval_id}/decisions", body)

    def capacity_advice(self, advice_id: int | None = None) -> wire.CapacityAdvice:
        """A recorded ``keel capacity advise`` run (the newest without an id)."""
        which = "latest" if advice_id is None else str(advice_id)
        return self._get(wire.CapacityAdvice, f"/v1/capacity/advice/{which}")

    def capacity_advice_list(self, *, limit: int = 20) -> wire.AdviceList:
        """The newest recorded advice runs, summarised."""
        return self._get(wire.AdviceList, "/v1/capacity/advice", limit=limit)

    def explain(
        self, workload: str, *, objective: str = "balanced", solver: str = "fast", seed: int = 0
    ) -> wire.Explanation:
        """Why a workload would be placed where it is."""
        path = f"/v1/plans/explanations/{workload}"
        return self._get(wire.Explanation, path, objective=objective, solver=solver, seed=seed)

    def decision(self, workload: str) -> wire.PolicyDecision:
        """The compliance decision for a workload."""
        return self._get(wire.PolicyDecision, f"/v1/policy/decisions/{workload}")

    def check_access(self, principal: str, action: str, resource: str) -> wire.AccessDecision:
        """Whether a principal may do an action to a resource (an admin's question)."""
        return self._get(
            wire.AccessDecision,
            "/v1/access/decisions",
            principal=principal,
            action=action,
            resource=resource,
        )

    # -- ledger --------------------------------------------------------------------------------
    def entries(self, start: int = 0, limit: int = 50) -> wire.LedgerEntries:
        """Ledger entries from an index on (personal values as commitments)."""
        return self._get(wire.LedgerEntries, "/v1/ledger/entries", start=start, limit=limit)

    def verify(self, keys: Sequence[str] = (), *, pin: bool = False) -> wire.Verification:
        """The server's verification of the whole log (against ``keys`` if given)."""
        if pin:
            raise errors.UserError(
                "--pin trusts keys on this machine: verify a local workspace, or pin with --key"
            )
        return self._get(wire.Verification, "/v1/ledger/verification", key=list(keys) or None)

    def latest_checkpoint(self) -> str:
        """The latest signed checkpoint."""
        return self._text("GET", "/v1/ledger/checkpoint")

    def checkpoint(self) -> str:
        """Sign a checkpoint now."""
        return self._text("POST", "/v1/ledger/checkpoints")

    def pubkey(self) -> str:
        """The log's public key."""
        return self._text("GET", "/v1/ledger/pubkey")

    def prove(self, index: int) -> str:
        """A tlog-proof of one entry."""
        return self._text("GET", f"/v1/ledger/proofs/{index}")

    def rotate_key(self) -> str:
        """Replace the signing key (admin)."""
        return self._text("POST", "/v1/ledger/keys")

    def erase_personal(self, commitment: str, reason: str) -> None:
        """Erase a personal value (admin)."""
        self._send("POST", "/v1/ledger/erasures", body={"commitment": commitment, "reason": reason})

    def record(self, records: Sequence[wire.JsonObject]) -> wire.Appended:
        """Append decision records to the ledger."""
        return self._post(wire.Appended, "/v1/ledger/entries", {"entries": list(records)})

    # -- decision records ----------------------------------------------------------------------
    def record_decisions(self, records: Sequence[wire.JsonObject]) -> wire.DecisionsRecorded:
        """Store a batch of decision records (all or none; retries are recognised)."""
        return self._post(wire.DecisionsRecorded, "/v1/decisions", {"records": list(records)})

    def decision_record(self, record_id: str) -> wire.Decision:
        """One decision record, its content opened (admin)."""
        return self._get(wire.Decision, f"/v1/decisions/{quote(record_id, safe='')}")

    def decisions_of_subject(self, subject: str) -> wire.Decisions:
        """Every record about one subject (admin); the subject travels in the body."""
        return self._post(wire.Decisions, "/v1/decisions/searches", {"subject": subject})

    def decision_proof(self, record_id: str) -> wire.DecisionProof:
        """A record's tlog-proof and the opening of its content (admin)."""
        return self._get(wire.DecisionProof, f"/v1/decisions/{quote(record_id, safe='')}/proof")

    def decision_sheet(self, record_id: str) -> wire.DecisionSheet:
        """A decision in context (admin)."""
        return self._get(wire.DecisionSheet, f"/v1/decisions/{quote(record_id, safe='')}/sheet")

    def decision_summary(
        self, model: str | None = None, since: str | None = None, until: str | None = None
    ) -> wire.DecisionSummary:
        """Counts per model version and outcome."""
        return self._get(
            wire.DecisionSummary, "/v1/decisions/summary", model=model, since=since, until=until
        )

    def prune_decisions(self) -> wire.DecisionsForgotten:
        """Erase the contents of expired records (admin)."""
        return self._post(wire.DecisionsForgotten, "/v1/decisions/prunes")

    def erase_subject(self, subject: str, reason: str) -> wire.DecisionsForgotten:
        """Erase the contents of a subject's records (admin)."""
        body = {"subject": subject, "reason": reason}
        return self._post(wire.DecisionsForgotten, "/v1/decisions/erasures", body)

    # -- lineage -------------------------------------------------------------------------------
    def ingest(self, path: str) -> wire.Ingested:
        """Send the OpenLineage events of a JSON-lines file (all or none)."""
        source = Path(path)
        if source.stat().st_size > MAX_EVENTS_FILE_BYTES:
            raise errors.UserError(f"{path} is over {MAX_EVENTS_FILE_BYTES} bytes")
        events = []
        for number, line in enumerate(source.read_text("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise errors.EventError(
                    f"{path}:{number}: not JSON: {error.msg}",
                    index=number - 1,
                    path="$",
                    schema_path="",
                ) from None
        return self.send_lineage(events)

    def send_lineage(self, events: Sequence[wire.JsonObject]) -> wire.Ingested:
        """Store OpenLineage events."""
        return self._post(wire.Ingested, "/api/v1/lineage", list(events))

    def lineage(
        self,
        node: str,
        *,
        direction: Direction = "downstream",
        depth: int | None = 3,
        namespace: str | None = None,
    ) -> wire.LineageView:
        """The neighbourhood of a node."""
        return self._get(
            wire.LineageView,
            "/v1/lineage/show",
            node=node,
            direction=direction,
            depth=depth,
            namespace=namespace,
        )

    def impact(
        self,
        node: str,
        *,
        depth: int | None = None,
        namespace: str | None = None,
        limit: int | None = None,
        page: str | None = None,
    ) -> wire.Impact:
        """What a dataset feeds (one page of it with ``limit`` or ``page``)."""
        return self._get(
            wire.Impact,
            "/v1/lineage/impact",
            node=node,
            depth=depth,
            namespace=namespace,
            limit=limit,
            page=page,
        )

    def erase(self, node: str, reason: str, *, namespace: str | None = None) -> wire.Erasure:
        """Erase a dataset's payloads (admin)."""
        body = {"node": node, "reason": reason, "namespace": namespace}
        return self._post(wire.Erasure, "/v1/lineage/erasures", body)

    # -- models --------------------------------------------------------------------------------
    def models(self, model: str | None = None) -> wire.ModelVersions:
        """Registered versions."""
        return self._get(wire.ModelVersions, "/v1/models", model=model)

    def model(self, ref: str) -> wire.ModelVersionDetail:
        """One version with its history."""
        return self._get(wire.ModelVersionDetail, f"/v1/models/{ref}")

    def evaluate(self, ref: str, results: Sequence[wire.Evaluation]) -> wire.ModelVersionDetail:
        """Record evaluation results."""
        body = {"results": [r.model_dump() for r in results]}
        return self._post(wire.ModelVersionDetail, f"/v1/models/{ref}/evaluations", body)

    def promote(self, ref: str, to: str, reason: str = "") -> wire.ModelVersionDetail:
        """Move a version to validated, draft or retired."""
        body = {"to": to, "reason": reason}
        return self._post(wire.ModelVersionDetail, f"/v1/models/{ref}/transitions", body)

    def approve(self, ref: str) -> wire.ModelVersionDetail:
        """Approve a version as this key's principal."""
        return self._post(wire.ModelVersionDetail, f"/v1/models/{ref}/approvals")

    def alias(self, ref: str, alias: str) -> wire.ModelVersionDetail:
        """Point an alias at a version."""
        return self._post(wire.ModelVersionDetail, f"/v1/models/{ref}/aliases", {"alias": alias})

    def factsheet(self, ref: str, fmt: Literal["md", "json", "html"]) -> wire.Text:
        """A version's fact sheet."""
        return self._get(wire.Text, f"/v1/models/{ref}/factsheet", format=fmt)

    # -- monitors ------------------------------------------------------------------------------
    def run_monitors(self, name: str | None = None, *, due: bool = False) -> wire.MonitorRuns:
        """Run monitors now."""
        return self._post(wire.MonitorRuns, "/v1/monitors/runs", {"name": name, "due": due})

    def alerts(self, *, every: bool = False) -> wire.Alerts:
        """Monitor alerts."""
        return self._get(wire.Alerts, "/v1/monitors/alerts", all=every)

    def metrics(self) -> str:
        """Monitor results in the Prometheus text format."""
        return self._text("GET", "/metrics")

    def monitor_checks(self) -> wire.MonitorChecks:
        """The latest check of every monitor."""
        return self._get(wire.MonitorChecks, "/v1/monitors/checks")

    def monitor_actions(
        self, *, workload: str | None = None, state: str | None = None
    ) -> wire.MonitorActions:
        """Monitor actions, newest first."""
        return self._get(
            wire.MonitorActions, "/v1/monitors/actions", workload=workload, state=state
        )

    def decide_action(
        self, action_id: int, *, approve: bool, reason: str = ""
    ) -> wire.MonitorAction:
        """Approve or reject a monitor action that waits for an approver."""
        return self._post(
            wire.MonitorAction,
            f"/v1/monitors/actions/{action_id}/decisions",
            {"approve": approve, "reason": reason},
        )

    def serving(self, workload: str) -> wire.Serving:
        """What a workload serves, and whether a monitor action paused it."""
        return self._get(wire.Serving, f"/v1/workloads/{quote(workload, safe='')}/serving")

    def release(self, workload: str, *, reason: str) -> wire.Serving:
        """Hand a workload back to its manifest (lift a monitor's rollback and pause)."""
        return self._post(
            wire.Serving, f"/v1/workloads/{quote(workload, safe='')}/releases", {"reason": reason}
        )

    # -- runs ----------------------------------------------------------------------------------
    def dispatch(self, *, dry_run: bool = False) -> wire.Dispatch:
        """One reconcile cycle on the server."""
        return self._post(wire.Dispatch, "/v1/dispatch", {"dry_run": dry_run})

    def runs(self, workload: str | None = None, *, every: bool = False) -> wire.Runs:
        """Runs the latest plan wants (every run, with ``every``)."""
        return self._get(wire.Runs, "/v1/runs", all=every, workload=workload)

    def run_logs(self, workload: str, *, replica: int = 0) -> wire.Text:
        """The end of a workload's latest run's output."""
        return self._get(wire.Text, f"/v1/runs/{workload}/logs", replica=replica)

    def cancel_runs(self, workload: str | None = None) -> wire.Runs:
        """Stop a workload's runs (all, with ``None``)."""
        return self._post(wire.Runs, "/v1/runs/cancel", {"workload": workload})

    # -- readiness -----------------------------------------------------------------------------
    def assess_readiness(self) -> wire.Readiness:
        """Compute the readiness index now, store it and record it in the ledger."""
        return self._post(wire.Readiness, "/v1/readiness", {})

    def readiness(self) -> wire.Readiness:
        """The latest readiness assessment, with its trend."""
        return self._get(wire.Readiness, "/v1/readiness")

    # -- API keys ------------------------------------------------------------------------------
    def tokens(self) -> wire.Tokens:
        """Every API key (admin)."""
        return self._get(wire.Tokens, "/v1/tokens")

    def create_token(
        self,
        name: str,
        role: str,
        expires_days: float | None = DEFAULT_KEY_DAYS,
        *,
        agent: str | None = None,
    ) -> wire.CreatedToken:
        """Create an API key (admin); the answer holds its secret, once."""
        body = {"name": name, "role": role, "expires_days": expires_days, "agent": agent}
        return self._post(wire.CreatedToken, "/v1/tokens", body)

    def revoke_token(self, name: str) -> wire.Token:
        """Revoke an API key (admin)."""
        return wire.Token.model_validate(self._send("DELETE", f"/v1/tokens/{name}").json())
