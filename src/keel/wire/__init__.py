"""The shapes that cross the HTTP boundary: what the API returns and the client receives.

Every route declares one of these as its ``response_model`` (so the OpenAPI document describes
every answer), :class:`keel.Client` returns them, and the CLI renders them, whether a command
runs locally or against a server. Converters from domain and service objects live in the
service layer; this package imports nothing of Keel but pydantic.
"""

from keel.wire.base import JsonObject, JsonValue, Wire
from keel.wire.decisions import (
    Approval,
    Decision,
    DecisionContent,
    DecisionProof,
    Decisions,
    DecisionsForgotten,
    DecisionSheet,
    DecisionsRecorded,
    DecisionSummary,
    ModelOutcomes,
    MonitorAtTime,
)
from keel.wire.estate import ApplyResult, Change, Resource, ResourceList, ResourceStatus
from keel.wire.ledger import Appended, LedgerEntries, LedgerEntry, Verification
from keel.wire.lineage import Edge, Erasure, Impact, ImpactPlacement, Ingested, LineageView, Node
from keel.wire.meta import Health, OpenAPIDocument, Text
from keel.wire.models import (
    Evaluation,
    HistoryEvent,
    ModelVersion,
    ModelVersionDetail,
    ModelVersions,
)
from keel.wire.monitors import (
    Alert,
    Alerts,
    ConditionResult,
    MonitorCheck,
    MonitorChecks,
    MonitorRun,
    MonitorRuns,
)
from keel.wire.plans import (
    Alternative,
    Baseline,
    Explanation,
    Move,
    Option,
    Placement,
    Plan,
    Rejection,
    Unplaced,
    Verdict,
    WorkloadPlacement,
)
from keel.wire.policy import AccessDecision, Finding, PolicyDecision
from keel.wire.readiness import (
    Readiness,
    ReadinessComponent,
    ReadinessScore,
    ReadinessStep,
    ReadinessTier,
    SiteScorecard,
    TrendPoint,
)
from keel.wire.runs import Action, Dispatch, EngineTrouble, Run, Runs, Transition, Undispatchable
from keel.wire.tokens import CreatedToken, Token, Tokens

__all__ = [
    "AccessDecision",
    "Action",
    "Alert",
    "Alerts",
    "Alternative",
    "Appended",
    "ApplyResult",
    "Approval",
    "Baseline",
    "Change",
    "ConditionResult",
    "CreatedToken",
    "Decision",
    "DecisionContent",
    "DecisionProof",
    "DecisionSheet",
    "DecisionSummary",
    "Decisions",
    "DecisionsForgotten",
    "DecisionsRecorded",
    "Dispatch",
    "Edge",
    "EngineTrouble",
    "Erasure",
    "Evaluation",
    "Explanation",
    "Finding",
    "Health",
    "HistoryEvent",
    "Impact",
    "ImpactPlacement",
    "Ingested",
    "JsonObject",
    "JsonValue",
    "LedgerEntries",
    "LedgerEntry",
    "LineageView",
    "ModelOutcomes",
    "ModelVersion",
    "ModelVersionDetail",
    "ModelVersions",
    "MonitorAtTime",
    "MonitorCheck",
    "MonitorChecks",
    "MonitorRun",
    "MonitorRuns",
    "Move",
    "Node",
    "OpenAPIDocument",
    "Option",
    "Placement",
    "Plan",
    "PolicyDecision",
    "Readiness",
    "ReadinessComponent",
    "ReadinessScore",
    "ReadinessStep",
    "ReadinessTier",
    "Rejection",
    "Resource",
    "ResourceList",
    "ResourceStatus",
    "Run",
    "Runs",
    "SiteScorecard",
    "Text",
    "Token",
    "Tokens",
    "Transition",
    "TrendPoint",
    "Undispatchable",
    "Unplaced",
    "Verdict",
    "Verification",
    "Wire",
    "WorkloadPlacement",
]
