"""Table definitions. Alembic migrations in ``migrations/versions`` create exactly these.

Invariants:
    * ``resources`` has one row per (kind, name); ``generation`` starts at 1 and grows by one
      each time the spec changes.
    * ``estate_meta`` has exactly one row (``id = 1``); every write transaction locks it first,
      which serialises writers on both SQLite and PostgreSQL, and bumps ``revision``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

metadata = sa.MetaData()

JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A point in time, read back timezone-aware in UTC on every backend.

    SQLite keeps times as text without an offset (they are written in UTC) and returns them
    naive; PostgreSQL returns them in the session's time zone. Every time column uses this type,
    so no reader has to fix either up.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        """The stored time in UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


resources = sa.Table(
    "resources",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("labels", JSONType, nullable=False),
    sa.Column("spec", JSONType, nullable=False),
    sa.Column("resolved", JSONType, nullable=True),
    sa.Column("spec_digest", sa.String(71), nullable=False),
    sa.Column("generation", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

estate_meta = sa.Table(
    "estate_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(71), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_meta = sa.Table(
    "ledger_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    # SQLite: INTEGER PRIMARY KEY is the rowid, so an entry is one B-tree row (migration 0017).
    sa.Column(
        "idx",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("entry", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

ledger_nodes = sa.Table(
    "ledger_nodes",
    metadata,
    sa.Column("level", sa.SmallInteger, primary_key=True, autoincrement=False),
    sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sqlite_with_rowid=False,  # stored in (level, idx) order: one B-tree (migration 0017)
)

ledger_checkpoints = sa.Table(
    "ledger_checkpoints",
    metadata,
    sa.Column("tree_size", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

ledger_payloads = sa.Table(
    "ledger_payloads",
    metadata,
    sa.Column("commitment", sa.String(71), primary_key=True),
    sa.Column("salt", sa.LargeBinary(16), nullable=True),
    sa.Column("value", sa.Text, nullable=True),
    sa.Column("erased_at", UTCDateTime(), nullable=True),
    sa.Column("erasure_reason", sa.Text, nullable=True),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("solver", sa.String(16), nullable=False),
    sa.Column("objective", sa.String(16), nullable=False),
    sa.Column("estate_digest", sa.String(71), nullable=False),
    sa.Column("policy_digest", sa.String(71), nullable=False),
    sa.Column("plan_digest", sa.String(71), nullable=False),
    sa.Column("plan", JSONType, nullable=False),
    sa.Column("decisions", JSONType, nullable=True),
)

monitor_sketches = sa.Table(
    "monitor_sketches",
    metadata,
    sa.Column("monitor", sa.String(63), primary_key=True),
    sa.Column("source_key", sa.Text, nullable=False),
    sa.Column("sketch_digest", sa.String(71), nullable=False),
    sa.Column("sketch", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

monitor_checks = sa.Table(
    "monitor_checks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("monitor", sa.String(63), nullable=False, index=True),
    sa.Column("checked_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("reference_digest", sa.String(71), nullable=False),
    sa.Column("result_digest", sa.String(71), nullable=False),
    sa.Column("result", JSONType, nullable=False),
)

monitor_alerts = sa.Table(
    "monitor_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("monitor", sa.String(63), nullable=False, index=True),
    sa.Column("condition", sa.String(128), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("raised_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("checks", sa.Integer, nullable=False),
)

lineage_nodes = sa.Table(
    "lineage_nodes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("namespace", sa.String(1024), nullable=False),
    sa.Column("name", sa.String(1024), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("facets", JSONType, nullable=False),
    sa.Column("erased_at", UTCDateTime(), nullable=True),
    sa.Column("erased_reason", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("kind", "namespace", "name", name="uq_lineage_nodes_kind_namespace_name"),
)
sa.Index("ix_lineage_nodes_kind_name", lineage_nodes.c.kind, lineage_nodes.c.name)

lineage_edges = sa.Table(
    "lineage_edges",
    metadata,
    sa.Column("src", sa.Integer, primary_key=True),
    sa.Column("dst", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
sa.Index("ix_lineage_edges_dst", lineage_edges.c.dst)

lineage_runs = sa.Table(
    "lineage_runs",
    metadata,
    sa.Column("run_id", sa.String(36), primary_key=True),
    sa.Column("job_id", sa.Integer, nullable=False, index=True),
    sa.Column("state", sa.String(16), nullable=True),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    sa.Column("facets", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

lineage_events = sa.Table(
    "lineage_events",
    metadata,
    sa.Column("digest", sa.String(71), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("event_type", sa.String(16), nullable=True),
    sa.Column("event_time", UTCDateTime(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("model", sa.String(63), primary_key=True),
    sa.Column("version", sa.String(63), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("declared_state", sa.String(16), nullable=False),
    sa.Column("registered_by", sa.String(253), nullable=True),
    sa.Column("record", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

model_events = sa.Table(
    "model_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(63), nullable=False),
    sa.Column("version", sa.String(63), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("principal", sa.String(300), nullable=True),
    sa.Column("detail", JSONType, nullable=False),
    sa.Column("ledger_index", sa.Integer, nullable=True),
    sa.Column("at", UTCDateTime(), nullable=False),
)
sa.Index("ix_model_events_model_version", model_events.c.model, model_events.c.version)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("model", sa.String(63), primary_key=True),
    sa.Column("alias", sa.String(63), primary_key=True),
    sa.Column("version", sa.String(63), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("secret_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
    sa.Column("agent", sa.String(253), nullable=True),
)
"""API keys; a key with role ``agent`` belongs to the agent it names and opens only that
agent's MCP gateway."""

api_sessions = sa.Table(
    "api_sessions",
    metadata,
    sa.Column("id_sha256", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.String(16), sa.ForeignKey("api_tokens.id"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("ended_at", UTCDateTime(), nullable=True),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("key", sa.String(71), primary_key=True),
    sa.Column("name", sa.String(63), nullable=False, unique=True),
    sa.Column("plan_id", sa.Integer, nullable=False),
    sa.Column("decision_index", sa.BigInteger, nullable=True),
    sa.Column("workload", sa.String(63), nullable=False, index=True),
    sa.Column("replica", sa.Integer, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("site", sa.String(63), nullable=False),
    sa.Column("pool", sa.String(63), nullable=False),
    sa.Column("cluster", sa.String(63), nullable=False),
    sa.Column("engine", sa.String(16), nullable=False),
    sa.Column("service", sa.Boolean, nullable=False),
    sa.Column("wanted", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("engine_id", sa.String(253), nullable=True),
    sa.Column("node", sa.String(253), nullable=True),
    sa.Column("location", sa.String(253), nullable=True),
    sa.Column("exit_code", sa.Integer, nullable=True),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("submitted_at", UTCDateTime(), nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("finished_at", UTCDateTime(), nullable=True),
    sa.Column("retry_at", UTCDateTime(), nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("energy_kwh", sa.Float, nullable=True),
    sa.Column("energy_source", sa.String(32), nullable=True),
    sa.Column("history", JSONType, nullable=False),
)
"""One row per run: a workload's replica at a site and pool, with the current attempt's job
name. ``wanted`` says whether the latest plan still asks for it; ``history`` is its states over
time, ``[[state, ISO time], ...]``."""

readiness_assessments = sa.Table(
    "readiness_assessments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("readiness", sa.Float, nullable=True),
    sa.Column("maturity", sa.Float, nullable=True),
    sa.Column("declared", sa.Float, nullable=True),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("tier", sa.String(16), nullable=True),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Column("inputs", JSONType, nullable=False),
    sa.Column("scores", JSONType, nullable=False),
    sa.Column("assessment", JSONType, nullable=False),
)
"""One row per readiness assessment: the indices and sub-scores (``scores``, for trends), the
digests of what it was computed from, the whole assessment as JSON, and its
``readiness.assessed`` ledger entry."""

capacity_advice = sa.Table(
    "capacity_advice",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("digest", sa.String(80), nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Column("advice", JSONType, nullable=False),
)
"""One row per ``keel capacity advise`` run: the whole advice as JSON (demand, forecast,
frontier, baselines, replay checks), its digest and its ``capacity.advised`` ledger entry."""

agent_calls = sa.Table(
    "agent_calls",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("agent", sa.String(253), nullable=False),
    sa.Column("session", sa.String(64), nullable=True),
    sa.Column("call_id", sa.String(256), nullable=False),
    sa.Column("tool", sa.String(256), nullable=False),
    sa.Column("via", sa.String(16), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("reasons", JSONType, nullable=False),
    sa.Column("found", JSONType, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=True),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Index("ix_agent_calls_agent_id", "agent", "id"),
    sa.Index("ix_agent_calls_agent_at", "agent", "at"),
)
"""One row per tool call checked for an agent (``via`` ``check`` or ``mcp``): what the
``agent.tool_call`` ledger entry says, plus the time it took, for ``keel agents calls``."""

tool_approvals = sa.Table(
    "tool_approvals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("agent", sa.String(253), nullable=False),
    sa.Column("session", sa.String(64), nullable=False),
    sa.Column("tool", sa.String(256), nullable=False),
    sa.Column("arguments", JSONType, nullable=True),
    sa.Column("arguments_digest", sa.String(80), nullable=False),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("reason", sa.String(1000), nullable=True),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Index("ix_tool_approvals_state", "state", "id"),
)
"""A high-impact tool call waiting for an approver: its (redacted) arguments are kept only
while it waits, so the approver can see what would be sent, and blanked once decided."""

rate_buckets = sa.Table(
    "rate_buckets",
    metadata,
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("level", sa.Float, nullable=False),
    sa.Column("at_s", sa.Float, nullable=False),
    sa.Column("granted", sa.Integer, nullable=False),
)
"""A token bucket per principal or client address, shared by every API server on the database:
its level after the last take, when that was (seconds since the epoch by the database's clock),
and how many tokens that take granted."""

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column(
        "ledger_index",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("id", sa.String(64), nullable=False),
    sa.Column("model", sa.String(127), nullable=False),
    sa.Column("workload", sa.String(63), nullable=True),
    sa.Column("decided_at", UTCDateTime(), nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("input_digest", sa.String(71), nullable=False),
    sa.Column("content", sa.String(71), nullable=False),
    sa.Column("subject_key", sa.String(32), nullable=True),
    sa.Column("outcome", sa.String(64), nullable=True),
    sa.Column("salt", sa.LargeBinary(16), nullable=True),
    sa.Column("opening", sa.Text, nullable=True),
    sa.Column("gone_at", UTCDateTime(), nullable=True),
    sa.Column("gone_reason", sa.Text, nullable=True),
    sa.Index("ix_decisions_model_time", "model", "decided_at"),
    sa.Index("ix_decisions_expiry", "expires_at"),
)
"""One row per model decision recorded, keyed by its ledger leaf's index (on SQLite the rowid:
rows are stored in the order they arrive): its id and fields, the commitment to its content and
the commitment's opening (``salt`` and the canonical JSON ``opening``), the keyed hash of its
subject and its outcome label. Pruning (retention) or erasure (a subject's request) blanks the
opening, ``subject_key`` and ``outcome`` and says why in ``gone_reason``; the row and its leaf
stay.

Ids are unique. PostgreSQL holds them in a unique index; SQLite finds them through
:data:`decision_ids` (clients' ids may be random, as UUIDs are, and an index on them took a
page write per record), and the intake checks them inside its write transaction, which holds
the estate lock."""

sa.Index("ix_decisions_id", decisions.c.id, unique=True).ddl_if(dialect="postgresql")

SUBJECT_PREFIX_CHARS = 12
"""Hex digits of a subject's keyed hash that the subject index holds (48 bits; a lookup compares
the whole key in the rows the prefix finds)."""


def _subject_entries(name: str) -> sa.Table:
    """A table of subject index entries: a key prefix and a ledger index, in that order."""
    return sa.Table(
        name,
        metadata,
        sa.Column("prefix", sa.String(SUBJECT_PREFIX_CHARS), primary_key=True),
        sa.Column("ledger_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )


decision_subjects = _subject_entries("decision_subjects")
"""The subject index: the prefix of each record's subject key with the record's ledger index,
in key order. Entries arrive from :data:`decision_subjects_staged`, many at a time (see
:mod:`keel.store.decisions`)."""

decision_subjects_staged = _subject_entries("decision_subjects_staged")
"""SQLite: the newest records' subject index entries, as in :data:`decision_subjects` (at most
``keel.store.decisions.STAGED_ENTRIES`` of them, plus one batch's): a small table, whose pages
a batch's writes share. Empty on PostgreSQL."""


def _id_entries(name: str) -> sa.Table:
    """A table of id index entries: a record id and its ledger index."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("ledger_index", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )


decision_ids = _id_entries("decision_ids")
"""SQLite's id index: each record's id with its ledger index, in id order, fed from
:data:`decision_ids_staged` as the subject index is. Empty on PostgreSQL, which keeps a unique
index on ``decisions.id``."""

decision_ids_staged = _id_entries("decision_ids_staged")
"""SQLite: the newest records' id index entries, as in :data:`decision_ids`. Empty on
PostgreSQL."""

decision_meta = sa.Table(
    "decision_meta",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("index_key", sa.LargeBinary(32), nullable=False),
)
"""One row: the secret key of the subjects' keyed hashes (created with the table)."""

monitor_actions = sa.Table(
    "monitor_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("monitor", sa.String(63), nullable=False),
    sa.Column("workload", sa.String(63), nullable=False, index=True),
    sa.Column("alert_id", sa.Integer, nullable=False),
    sa.Column("conditions", JSONType, nullable=False),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("approval", sa.String(8), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("requested_by", sa.String(200), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=True),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("detail", JSONType, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
"""One row per action a monitor took or asked for when an alert was raised: what, on which
workload, for which alert and conditions, the approval it needs, its state (``pending``,
``applied``, ``provisional``, ``confirmed``, ``rejected``, ``reverted``, ``overdue``,
``failed``), who asked (the monitor run's principal) and who decided, and its facts
(``detail``: the versions of a rollback, the plan of a re-plan, why it failed)."""

workload_controls = sa.Table(
    "workload_controls",
    metadata,
    sa.Column("workload", sa.String(63), primary_key=True),
    sa.Column("manifest_model", sa.String(127), nullable=True),
    sa.Column("served_model", sa.String(127), nullable=True),
    sa.Column("rollback_action", sa.Integer, nullable=True),
    sa.Column("paused_by_action", sa.Integer, nullable=True),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)
"""What monitor actions changed about a workload: the model version it serves instead of its
manifest's (``served_model``, valid while the manifest still says ``manifest_model``) and the
action that paused it. No row: the manifest rules."""

engine_outages = sa.Table(
    "engine_outages",
    metadata,
    sa.Column("cluster", sa.String(63), primary_key=True),
    sa.Column("unreachable_since", UTCDateTime(), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("down_since", UTCDateTime(), nullable=True),
    sa.Column("sites", JSONType, nullable=False),
)
"""One row per Cluster whose engine dispatch could not reach at its latest try: since when, why,
and, once that lasted ``site_down_after_s``, since when the sites it serves count as down (and
which). The row goes when the engine answers again."""
