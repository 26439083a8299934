"""One protocol for every operation a front end performs, whether on a workspace or a server.

:class:`Operations` is implemented twice: :class:`keel.service.operations.LocalOperations` over
a workspace (acting as a named principal), and :class:`keel.Client` over HTTP (acting as its
API key). A CLI command has one body that calls it and one renderer for the wire model it
returns; ``--server`` only chooses the implementation.

Commands that work on local files and need no store (``validate``, ``schema``, ``drift``...)
are not operations; :data:`LOCAL_ONLY` says so, as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:  # the CLI imports this module at start-up; the wire's models load on use
    from datetime import datetime

    from keel import wire

Direction = Literal["upstream", "downstream"]

OBJECTIVES = ("balanced", "cost", "carbon", "latency")
"""The planner's objective presets, by name (the domain's weights are
:data:`keel.placement.problem.PRESETS`; a test keeps the two in step)."""

Commit = Literal["changed", "always", "never"]
"""When a computed plan is committed: ``changed`` (the default) only when it decides something
other than the latest committed plan, and never with ``diff``; ``always``; ``never``."""

DEFAULT_KEY_DAYS = 90.0
"""How long an API key lives unless its creator says otherwise (``never`` is explicit)."""

DEFAULT_PAGE = 1_000
"""Items in a page when a paged answer is asked for without a limit."""
MAX_PAGE = 10_000
"""Most items in one page."""
MAX_DECISIONS = 10_000
"""Most decision records in one batch (the domain's :data:`keel.decisions.MAX_BATCH`; a test
keeps the two in step)."""

LOCAL_ONLY: dict[str, str] = {
    "init": "writes manifests into a local folder",
    "demo": "builds its own local workspace",
    "validate": "checks local files and touches no store",
    "schema": "prints the manifest schema",
    "drift": "compares two local data files",
    "sketch": "sketches a local data file",
    "serve": "is the server",
    "gateway": "is an MCP server itself (its calls are recorded in the workspace)",
    "agents session": "starts the gateway's MCP servers on this machine",
    "policy test": "runs Rego tests from local files",
    "policy packs": "lists the packs this installation ships",
    "ledger verify-proof": "checks a proof file offline, with a public key",
    "grid show": "reads grid series from local files",
    "capacity history": "reads trace files on this machine",
    "capacity forecast": "reads trace files on this machine",
    "capacity simulate": "reads trace files on this machine",
    "capacity advise": "reads trace files on this machine (what it records is served by the API)",
}
"""Commands that never talk to a store, with why (``--server`` does not apply to them)."""


class Operations(Protocol):
    """What Keel does for a front end; every answer is a wire model (or text).

    Errors are :class:`keel.errors.KeelError` subclasses, the same from both implementations.
    """

    where: str
    """``local`` or the server's URL, for messages."""

    # -- estate --------------------------------------------------------------------------------
    def get(self, kind: str, name: str | None = None) -> wire.ResourceList:
        """Stored resources of a kind, or one (a list of one)."""
        ...

    def apply(
        self, paths: Sequence[str], *, prune: bool = False, dry_run: bool = False
    ) -> wire.ApplyResult:
        """Apply manifest files and folders in one transaction."""
        ...

    def delete(self, kind: str, name: str) -> wire.Change:
        """Delete one resource."""
        ...

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
        """Compute a plan (committed as :data:`Commit` says), with baselines; ``diff``: moves.

        ``horizon_h``: schedule the jobs over that many hours of grid signals from ``start``
        (the current hour by default) on ``signal``; the plan gets a ``schedule``.
        ``energy_price``: price owned sites' electricity by the hour too. ``budget_s``: the
        fast solver returns its best plan after that many seconds (the plan then depends on
        the machine's speed).
        """
        ...

    def latest_plan(self) -> wire.Plan:
        """The latest committed plan."""
        ...

    def capacity_history(
        self, *, step_s: int = 3600, by: str = "pool", top: int | None = 8
    ) -> wire.CapacityHistory:
        """Demand from Keel's own runs, per pool or workload (of workloads the caller reads)."""
        ...

    def check_tool_calls(
        self, agent: str, tool_calls: Sequence[wire.ToolCall]
    ) -> wire.ToolCallVerdicts:
        """Verdicts on an agent's tool calls (OpenAI format), each recorded in the ledger."""
        ...

    def check_tool_results(
        self, agent: str, results: Sequence[wire.ToolResult]
    ) -> wire.ToolResultVerdicts:
        """Verdicts on an agent's tool results (OpenAI ``tool`` messages), each recorded."""
        ...

    def agent_calls(
        self, agent: str, *, limit: int = 50, before: int | None = None
    ) -> wire.AgentCalls:
        """An agent's recent tool calls (checked or through the MCP gateway), newest first."""
        ...

    def agent_duplicates(self, *, min_score: float = 0.0) -> wire.AgentDuplicates:
        """Pairs of agents that may do the same job (of the agents the caller reads)."""
        ...

    def tool_approvals(self, *, state: str | None = "pending") -> wire.ToolApprovals:
        """High-impact tool calls waiting for (or decided by) an approver, newest first."""
        ...

    def decide_tool_approval(
        self, approval_id: int, *, approve: bool, reason: str = ""
    ) -> wire.ToolApproval:
        """Approve or deny a waiting tool call (an approver, not the gateway's runner)."""
        ...

    def capacity_advice(self, advice_id: int | None = None) -> wire.CapacityAdvice:
        """A recorded ``keel capacity advise`` run (the newest without an id)."""
        ...

    def capacity_advice_list(self, *, limit: int = 20) -> wire.AdviceList:
        """The newest recorded advice runs, summarised."""
        ...

    def explain(
        self, workload: str, *, objective: str = "balanced", solver: str = "fast", seed: int = 0
    ) -> wire.Explanation:
        """Why a workload would be placed where it is."""
        ...

    def decision(self, workload: str) -> wire.PolicyDecision:
        """The compliance decision for one workload."""
        ...

    def check_access(self, principal: str, action: str, resource: str) -> wire.AccessDecision:
        """Whether a principal may do an action to a resource."""
        ...

    # -- ledger --------------------------------------------------------------------------------
    def entries(self, start: int = 0, limit: int = 50) -> wire.LedgerEntries:
        """Ledger entries from an index on."""
        ...

    def verify(self, keys: Sequence[str] = (), *, pin: bool = False) -> wire.Verification:
        """Verify the whole log (against given keys, pinned ones, or the log's own)."""
        ...

    def latest_checkpoint(self) -> str:
        """The latest signed checkpoint."""
        ...

    def checkpoint(self) -> str:
        """Sign a checkpoint of the log now."""
        ...

    def record(self, records: Sequence[wire.JsonObject]) -> wire.Appended:
        """Append records from another system, marked with who sent them."""
        ...

    def pubkey(self) -> str:
        """The log's public key."""
        ...

    def prove(self, index: int) -> str:
        """A C2SP tlog-proof of one entry."""
        ...

    def rotate_key(self) -> str:
        """Replace the signing key; return the new public key."""
        ...

    def erase_personal(self, commitment: str, reason: str) -> None:
        """Erase a personal value behind a commitment."""
        ...

    # -- decision records ----------------------------------------------------------------------
    def record_decisions(self, records: Sequence[wire.JsonObject]) -> wire.DecisionsRecorded:
        """Store a batch of model decision records, all or none (retries are recognised)."""
        ...

    def decision_record(self, record_id: str) -> wire.Decision:
        """One decision record, its content opened while held."""
        ...

    def decisions_of_subject(self, subject: str) -> wire.Decisions:
        """Every decision record about one subject, newest first."""
        ...

    def decision_proof(self, record_id: str) -> wire.DecisionProof:
        """A decision record's tlog-proof, with the opening of its content while held."""
        ...

    def decision_sheet(self, record_id: str) -> wire.DecisionSheet:
        """A decision with its model version's approvals, training data and monitors then."""
        ...

    def decision_summary(
        self, model: str | None = None, since: str | None = None, until: str | None = None
    ) -> wire.DecisionSummary:
        """Decision counts per model version and outcome (RFC 3339 times; default: 30 days)."""
        ...

    def prune_decisions(self) -> wire.DecisionsForgotten:
        """Erase the content of every record whose retention ended."""
        ...

    def erase_subject(self, subject: str, reason: str) -> wire.DecisionsForgotten:
        """Erase the content of every record about one subject."""
        ...

    # -- lineage -------------------------------------------------------------------------------
    def ingest(self, path: str) -> wire.Ingested:
        """Store the OpenLineage events of a JSON-lines file, all or none."""
        ...

    def lineage(
        self,
        node: str,
        *,
        direction: Direction = "downstream",
        depth: int | None = 3,
        namespace: str | None = None,
    ) -> wire.LineageView:
        """The neighbourhood of a node."""
        ...

    def impact(
        self,
        node: str,
        *,
        depth: int | None = None,
        namespace: str | None = None,
        limit: int | None = None,
        page: str | None = None,
    ) -> wire.Impact:
        """Everything downstream of a dataset, or one page of it.

        A page is asked for with ``limit``, or with ``page``: an earlier page's ``next_page``.
        """
        ...

    def erase(self, node: str, reason: str, *, namespace: str | None = None) -> wire.Erasure:
        """Erase a dataset's payloads."""
        ...

    # -- models --------------------------------------------------------------------------------
    def models(self, model: str | None = None) -> wire.ModelVersions:
        """Registered versions."""
        ...

    def model(self, ref: str) -> wire.ModelVersionDetail:
        """Everything about one version."""
        ...

    def evaluate(self, ref: str, results: Sequence[wire.Evaluation]) -> wire.ModelVersionDetail:
        """Record evaluation results."""
        ...

    def promote(self, ref: str, to: str, reason: str = "") -> wire.ModelVersionDetail:
        """Move a version to validated, draft or retired."""
        ...

    def approve(self, ref: str) -> wire.ModelVersionDetail:
        """Approve a version."""
        ...

    def alias(self, ref: str, alias: str) -> wire.ModelVersionDetail:
        """Point an alias at a version."""
        ...

    def factsheet(self, ref: str, fmt: Literal["md", "json", "html"]) -> wire.Text:
        """A version's fact sheet."""
        ...

    # -- monitors ------------------------------------------------------------------------------
    def run_monitors(self, name: str | None = None, *, due: bool = False) -> wire.MonitorRuns:
        """Run monitors now."""
        ...

    def alerts(self, *, every: bool = False) -> wire.Alerts:
        """Alerts (firing ones unless ``every``)."""
        ...

    def metrics(self) -> str:
        """Monitor results in the Prometheus text format."""
        ...

    def monitor_checks(self) -> wire.MonitorChecks:
        """The latest check of every monitor."""
        ...

    def monitor_actions(
        self, *, workload: str | None = None, state: str | None = None
    ) -> wire.MonitorActions:
        """Monitor actions, newest first."""
        ...

    def decide_action(
        self, action_id: int, *, approve: bool, reason: str = ""
    ) -> wire.MonitorAction:
        """Approve or reject a monitor action that waits for an approver."""
        ...

    def serving(self, workload: str) -> wire.Serving:
        """What a workload serves, and whether a monitor action paused it."""
        ...

    def release(self, workload: str, *, reason: str) -> wire.Serving:
        """Hand a workload back to its manifest (lift a monitor's rollback and pause)."""
        ...

    # -- runs ----------------------------------------------------------------------------------
    def dispatch(self, *, dry_run: bool = False) -> wire.Dispatch:
        """One reconcile cycle: make the engines run what the latest plan says."""
        ...

    def runs(self, workload: str | None = None, *, every: bool = False) -> wire.Runs:
        """Runs the latest plan wants (every run, with ``every``)."""
        ...

    def run_logs(self, workload: str, *, replica: int = 0) -> wire.Text:
        """The end of a workload's latest run's output."""
        ...

    def cancel_runs(self, workload: str | None = None) -> wire.Runs:
        """Stop a workload's runs (all runs, with ``None``)."""
        ...

    # -- readiness -----------------------------------------------------------------------------
    def assess_readiness(self) -> wire.Readiness:
        """Compute the readiness index now, store it and record it in the ledger."""
        ...

    def readiness(self) -> wire.Readiness:
        """The latest readiness assessment, with its trend."""
        ...

    # -- API keys ------------------------------------------------------------------------------
    def tokens(self) -> wire.Tokens:
        """Every API key, without secrets."""
        ...

    def create_token(
        self,
        name: str,
        role: str,
        expires_days: float | None = DEFAULT_KEY_DAYS,
        *,
        agent: str | None = None,
    ) -> wire.CreatedToken:
        """Create an API key (its secret shown once); ``expires_days=None``: it never expires.

        With ``agent`` (and role ``agent``), the key is that agent's own: it opens only the
        agent's MCP gateway.
        """
        ...

    def revoke_token(self, name: str) -> wire.Token:
        """Revoke an API key."""
        ...
