"""A model version's fact sheet: the facts from the registry, estate, lineage and ledger.

:func:`facts` gathers them, with an inclusion proof for every lifecycle event that a checkpoint
covers; :data:`RENDERERS` turns them into Markdown, JSON or a self-contained HTML page
(:mod:`keel.registry.factsheet`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from keel.registry import factsheet as sheet
from keel.service import ledger, lineage, registry
from keel.service.stored import load_estate
from keel.service.workspace import Workspace
from keel.store.registry import ModelEvent

RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "md": sheet.to_markdown,
    "json": sheet.to_json,
    "html": sheet.to_html,
}
"""Fact sheet renderers by format name."""


def _lifecycle_rows(
    workspace: Workspace, events: list[ModelEvent]
) -> tuple[list[list[Any]], dict[str, str]]:
    indices = sorted({e.ledger_index for e in events if e.ledger_index is not None})
    proofs = ledger.prove_many(workspace, indices) if indices else []
    keys = [v.encode() for v in ledger.verifiers(workspace)]
    checked: dict[int, str] = {}
    texts: dict[str, str] = {}
    for proof in proofs:
        text = proof.encode()
        checkpoint, _ = ledger.verify_proof(text, keys)
        checked[proof.index] = f"verified: {len(proof.path)} hashes to checkpoint {checkpoint.size}"
        texts[str(proof.index)] = text
    rows = []
    for event in events:
        detail = {k: v for k, v in event.detail.items() if k not in ("risk_tier",)}
        rows.append(
            [
                event.at.isoformat(timespec="seconds"),
                event.type,
                event.principal or "keel",
                detail,
                event.ledger_index,
                checked.get(event.ledger_index, "not checkpointed")
                if event.ledger_index is not None
                else "",
            ]
        )
    return rows, texts


def facts(workspace: Workspace, ref: str) -> dict[str, Any]:
    """The facts for a version's fact sheet: registry, estate, lineage and ledger, with proofs.

    Args:
        workspace: The workspace.
        ref: ``model@version`` or ``model@alias``.

    Returns:
        The fact sheet as JSON-ready data (render it with :mod:`keel.registry.factsheet`).
    """
    detail = registry.describe(workspace, ref)
    version = detail.version
    estate = load_estate(workspace)
    spec = registry.spec_of(estate, version.model)
    declared = next((v for v in spec.versions if v.version == version.version), None)
    record = version.record
    upstream = lineage.show(workspace, f"model:{version.ref}", direction="upstream", depth=10)
    data_rows = [
        [lineage.label(node), depth, node.origin, "erased" if node.erased_at else "active"]
        for node, depth in upstream.nodes
        if node.kind in ("dataset", "job") and depth > 0
    ]
    rows, proofs = _lifecycle_rows(workspace, detail.events)
    users = registry.workloads_using(estate, version.model, version.version)
    return {
        "model": version.model,
        "version": version.version,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "general": {
            "Model": version.model,
            "Version": version.version,
            "State": version.state,
            "Framework": record.get("framework"),
            "Parameters (billion)": record.get("parameters_billion"),
            "Artifact digest": record.get("artifact_digest"),
            "Hyperparameters": record.get("hyperparameters"),
            "Owner": spec.owner,
            "Registered by": version.registered_by,
            "Registered at": version.created_at.isoformat(timespec="seconds"),
            "Registered as": version.declared_state,
            "Aliases": detail.aliases,
        },
        "purpose": {
            "Intended purpose": spec.purpose,
            "Risk tier (EU AI Act)": spec.risk_tier,
            "Risk assessment": spec.risk_assessment,
            "Workloads using it": users,
        },
        "data": [
            {"Trained on": record.get("trained_on")},
            {"columns": ["Upstream node", "Depth", "Origin", "Status"], "table": data_rows},
        ],
        "evaluations": [
            {"Metrics": record.get("metrics")},
            {
                "columns": ["Kind", "Name", "Passed", "Score"],
                "table": [[e.kind, e.name, e.passed, e.score] for e in detail.evaluations],
            },
        ],
        "oversight": {
            "Oversight contact": spec.oversight_contact,
            "Logging enabled": spec.logging_enabled,
            "Approvals needed": detail.approvals_needed,
            "Approved by": detail.approvers,
            "Declared approvals (before Keel)": list(declared.approved_by) if declared else [],
            "Separation of duties": "the registrant may not approve (access policy "
            "sod.no_self_approval)",
        },
        "lifecycle": {
            "columns": ["When", "Event", "By", "Detail", "Ledger index", "Proof"],
            "table": rows,
        },
        "proofs": proofs,
        "checkpoint": ledger.latest_checkpoint(workspace),
    }
