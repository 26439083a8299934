"""Model decision records: batches stored, records found, summaries, proofs, erasures."""

from __future__ import annotations

from pydantic import Field, JsonValue

from keel.wire.base import Instant, Wire


class DecisionsRecorded(Wire):
    """Where a batch of decision records landed."""

    stored: int = Field(description="Records stored now.")
    duplicates: int = Field(description="Records already held (a retry); not stored again.")
    first_index: int = Field(description="Ledger index of the first stored record.")
    size: int = Field(description="The ledger's size after the batch.")


class DecisionContent(Wire):
    """What a record's content commitment opens to."""

    output: JsonValue
    explanation: JsonValue = None
    subject: str | None = None


class Decision(Wire):
    """One decision record: its leaf's facts, and its content while it is held."""

    id: str
    ledger_index: int
    model: str
    workload: str | None = None
    decided_at: Instant
    received_at: Instant
    expires_at: Instant = Field(description="When the content is pruned (retention).")
    input_digest: str
    content_commitment: str
    outcome: str | None = None
    content: DecisionContent | None = Field(
        default=None, description="The opened content; absent once pruned or erased."
    )
    gone: str | None = Field(default=None, description="Why the content is gone.")


class Approval(Wire):
    """An approval a model version had when it decided."""

    by: str
    at: Instant
    declared: bool = Field(
        default=False, description="Given before Keel, declared when the version was registered."
    )


class MonitorAtTime(Wire):
    """What a monitor of the deciding workload said when the decision was made."""

    monitor: str
    checked_at: Instant | None = Field(default=None, description="Its latest check before.")
    status: str | None = Field(default=None, description="That check's status.")
    firing: list[str] = Field(description="Conditions whose alerts were firing then.")


class DecisionSheet(Wire):
    """One decision in context (GDPR Art. 22, EU AI Act Art. 86).

    The record, its model version's approvals and training data, and the deciding workload's
    monitors at the time.
    """

    decision: Decision
    state: str | None = Field(default=None, description="The version's lifecycle state now.")
    risk_tier: str | None = None
    approvals: list[Approval] = Field(description="Approvals given before the decision.")
    trained_on: list[str]
    monitors: list[MonitorAtTime]


class Decisions(Wire):
    """Decision records, newest first."""

    decisions: list[Decision]
    more: bool = Field(default=False, description="Older records were left out (10,000 shown).")


class ModelOutcomes(Wire):
    """How one model version decided in a time range."""

    model: str
    count: int
    outcomes: dict[str, int] = Field(
        description="Records per outcome label; '' for pruned or unlabelled outputs."
    )


class DecisionSummary(Wire):
    """Decision counts per model version and outcome in a time range."""

    since: Instant
    until: Instant
    model: str | None = None
    total: int
    models: list[ModelOutcomes]


class DecisionProof(Wire):
    """A record's tlog-proof and, while held, the opening of its content commitment."""

    proof: str = Field(description="The C2SP tlog-proof of the record's ledger leaf.")
    salt: str | None = Field(default=None, description="Base64 salt of the content commitment.")
    content: str | None = Field(default=None, description="The content's canonical JSON.")


class DecisionsForgotten(Wire):
    """How many records lost their content (pruned or erased)."""

    records: int
