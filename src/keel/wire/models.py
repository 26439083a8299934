"""Model versions in the registry."""

from __future__ import annotations

from keel.wire.base import Instant, JsonObject, Wire


class ModelVersion(Wire):
    """A registered version and its lifecycle state."""

    model: str
    version: str
    state: str
    risk_tier: str | None
    registered_by: str | None
    registered_at: Instant

    @property
    def ref(self) -> str:
        """``model@version``."""
        return f"{self.model}@{self.version}"


class ModelVersions(Wire):
    """Every registered version the caller may read."""

    versions: list[ModelVersion]


class Evaluation(Wire):
    """The latest result of one benchmark or probe."""

    kind: str
    name: str
    passed: bool
    score: float | None = None


class HistoryEvent(Wire):
    """A step in a version's history, with its ledger entry."""

    type: str
    by: str | None
    detail: JsonObject
    ledger_index: int | None
    at: Instant


class ModelVersionDetail(ModelVersion):
    """Everything the registry knows about one version."""

    declared_state: str
    record: JsonObject
    aliases: list[str]
    approvers: list[str]
    approvals_needed: int | None
    evaluations: list[Evaluation]
    history: list[HistoryEvent]
