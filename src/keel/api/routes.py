"""The ``/v1`` routes: each is one service operation behind one guard (action on resource)."""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from keel.api.security import Guards, guard, require_visible, visible
from keel.errors import NotFoundError
from keel.service import (
    StoredResource,
    apply_manifests,
    delete_resource,
    get_resources,
    ledger,
    lineage,
    monitoring,
    planning,
    policy,
    registry,
)
from keel.service.actor import Actor
from keel.service.registry import Evaluation
from keel.service.tokens import Token

MAX_INDEX = 2**53
"""Largest ledger index a request may name (beyond any log, within every database's integers)."""


class Body(BaseModel):
    """Request bodies refuse unknown fields."""

    model_config = ConfigDict(extra="forbid")


class ApplyBody(Body):
    """Manifests to apply."""

    manifests: str = Field(min_length=1, max_length=16 * 1024 * 1024, description="YAML documents")
    dry_run: bool = False
    prune: bool = False


class PlanBody(Body):
    """How to plan."""

    objective: Literal["cost", "carbon", "latency", "balanced"] = "balanced"
    solver: Literal["fast", "exact"] = "fast"
    commit: bool = True


class EvaluationBody(Body):
    """One evaluation result."""

    kind: Literal["benchmark", "probe"]
    name: str = Field(min_length=1, max_length=128)
    passed: bool
    score: float | None = None


class EvaluationsBody(Body):
    """Evaluation results of a model version."""

    results: list[EvaluationBody] = Field(min_length=1, max_length=256)


class PromoteBody(Body):
    """A lifecycle transition."""

    to: Literal["validated", "draft", "retired"]
    reason: str = Field(default="", max_length=4096)


class EntriesBody(Body):
    """Decision records to append to the ledger."""

    entries: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class EraseBody(Body):
    """A dataset to erase."""

    node: str = Field(min_length=1, max_length=2048)
    reason: str = Field(min_length=1, max_length=4096)
    namespace: str | None = None


def resource_json(item: StoredResource) -> dict[str, Any]:
    """A stored resource as the API shows it (like ``keel get -o json``)."""
    return {
        "kind": item.kind,
        "name": item.name,
        "labels": item.labels,
        "spec": item.spec,
        "status": {
            "generation": item.generation,
            "spec_digest": item.spec_digest,
            "created_at": item.created_at.isoformat(),
            "updated_at": item.updated_at.isoformat(),
            "resolved": item.resolved,
        },
    }


def _change_json(change: Any) -> dict[str, Any]:
    return {
        "action": change.action,
        "kind": change.kind,
        "name": change.name,
        "generation": change.generation,
        "fields": list(change.fields),
    }


def add_routes(app: FastAPI, guards: Guards) -> None:  # noqa: PLR0915 (one route table)
    """Add every ``/v1`` route (and ``/api/v1/lineage``) to an app.

    Args:
        app: The app.
        guards: The shared authentication and authorisation state.
    """
    ws = guards.workspace
    router = app  # routes go straight on the app, so its route table lists each one

    def allow(action: str, resource: str, *, mutates: bool = False) -> Any:
        return Depends(guard(guards, action, resource, mutates=mutates))

    # -- estate ---------------------------------------------------------------------------
    @router.get("/v1/resources/{kind}", tags=["estate"])
    def list_resources(
        kind: str, token: Token = allow("read", "Estate/{kind}/*")
    ) -> dict[str, Any]:
        """Every stored resource of a kind that the caller may read."""
        found = get_resources(ws, kind)
        allowed = visible(guards, token)([f"{r.kind}/{r.name}" for r in found])
        items = [resource_json(r) for r, ok in zip(found, allowed, strict=True) if ok]
        return {"kind": "List", "items": items}

    @router.get("/v1/resources/{kind}/{name}", tags=["estate"])
    def get_resource(
        kind: str, name: str, _: Token = allow("read", "Estate/{kind}/{name}")
    ) -> dict[str, Any]:
        """One stored resource."""
        return resource_json(get_resources(ws, kind, name)[0])

    @router.post("/v1/apply", tags=["estate"])
    def apply(
        body: ApplyBody, token: Token = allow("apply", "Resource/Estate/all", mutates=True)
    ) -> dict[str, Any]:
        """Apply manifests (YAML text), in one transaction; each resource is authorised."""
        with tempfile.TemporaryDirectory() as folder:
            path = FilePath(folder) / "request.yaml"
            path.write_text(body.manifests, encoding="utf-8")
            result = apply_manifests(
                ws,
                [str(path)],
                actor=Actor.of_token(token),
                prune=body.prune,
                dry_run=body.dry_run,
                text_name="request.yaml",
            )
        return {
            "revision": result.revision,
            "estate_digest": result.estate_digest,
            "dry_run": result.dry_run,
            "changes": [_change_json(c) for c in result.changes],
            "warnings": result.warnings,
        }

    @router.delete("/v1/resources/{kind}/{name}", tags=["estate"])
    def delete(
        kind: str, name: str, token: Token = allow("delete", "Estate/{kind}/{name}", mutates=True)
    ) -> dict[str, Any]:
        """Delete one resource (refused while others reference it)."""
        return _change_json(delete_resource(ws, kind, name, actor=Actor.of_token(token)))

    # -- plans ----------------------------------------------------------------------------
    @router.post("/v1/plans", tags=["plans"])
    def plan(
        body: PlanBody, token: Token = allow("plan", "Workload/*", mutates=True)
    ) -> dict[str, Any]:
        """Compute a plan for every workload and (by default) commit it."""
        result = planning.compute_plan(ws, objective=body.objective, solver=body.solver)
        data = result.plan.to_json()
        if body.commit:
            plan_id, index = planning.commit_plan(ws, result, actor=Actor.of_token(token))
            data |= {"plan_id": plan_id, "ledger_index": index}
        return planning.redact_plan(data, visible(guards, token))

    @router.get("/v1/plans/latest", tags=["plans"])
    def latest_plan(token: Token = allow("read", "Resource/Plan/latest")) -> dict[str, Any]:
        """The latest committed plan (placements of the workloads the caller may read)."""
        found = planning.latest(ws)
        if found is None:
            raise NotFoundError("no plan was committed yet", hint="POST /v1/plans")
        plan_id, data = found
        return {"plan_id": plan_id, **planning.redact_plan(data, visible(guards, token))}

    @router.get("/v1/plans/latest/workloads/{workload}", tags=["plans"])
    def placement_of(
        workload: str, _: Token = allow("read", "Workload/{workload}")
    ) -> dict[str, Any]:
        """One workload in the latest committed plan: its placements or why it is unplaced."""
        found = planning.latest(ws)
        if found is None:
            raise NotFoundError("no plan was committed yet", hint="POST /v1/plans")
        plan_id, data = found
        placed = [p for p in data["placements"] if p["workload"] == workload]
        unplaced = [u for u in data["unplaced"] if u.get("workload") == workload]
        if not placed and not unplaced:
            raise NotFoundError(f"Workload/{workload} is not in plan {plan_id}")
        return {
            "plan_id": plan_id,
            "workload": workload,
            "placements": placed,
            "unplaced": unplaced,
        }

    # -- policy ---------------------------------------------------------------------------
    @router.get("/v1/policy/decisions/{workload}", tags=["policy"])
    def decision(workload: str, _: Token = allow("read", "Workload/{workload}")) -> dict[str, Any]:
        """The compliance decision for one workload, with every rule that fired."""
        return policy.evaluate(ws, workload).to_json()

    # -- ledger ---------------------------------------------------------------------------
    @router.get("/v1/ledger/checkpoint", tags=["ledger"], response_class=PlainTextResponse)
    def checkpoint(_: Token = allow("read", "Ledger")) -> str:
        """The latest signed checkpoint (a C2SP signed note)."""
        return ledger.latest_checkpoint(ws)

    @router.get("/v1/ledger/entries", tags=["ledger"])
    def entries(
        start: Annotated[int, Query(ge=0, le=MAX_INDEX)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        _: Token = allow("read", "Ledger"),
    ) -> dict[str, Any]:
        """Entries from an index on (personal values only as commitments)."""
        shown = ledger.show(ws, start=start, limit=limit)
        return {
            "entries": [
                {"index": e.index, "created_at": e.created_at.isoformat(), "entry": e.entry}
                for e in shown
            ]
        }

    @router.post("/v1/ledger/entries", tags=["ledger"])
    def append_entries(
        body: EntriesBody, token: Token = allow("apply", "Ledger", mutates=True)
    ) -> dict[str, Any]:
        """Append decision records from another system; each is marked with its principal."""
        marked = [
            {**e, "type": f"external.{e.get('type', 'record')}", "by": token.principal}
            for e in body.entries
        ]
        first, size = ledger.append(ws, marked, actor=token.principal)
        return {"first_index": first, "size": size}

    @router.get("/v1/ledger/proofs/{index}", tags=["ledger"], response_class=PlainTextResponse)
    def proof(
        index: Annotated[int, Path(ge=0, le=MAX_INDEX)], _: Token = allow("read", "Ledger")
    ) -> str:
        """A C2SP tlog-proof that an entry is in the latest checkpoint."""
        return ledger.prove(ws, index).encode()

    @router.get("/v1/ledger/verification", tags=["ledger"])
    def verification(_: Token = allow("read", "Ledger")) -> dict[str, Any]:
        """Recompute the log and check every checkpoint."""
        report = ledger.verify(ws)
        return {"size": report.size, "checkpoints": report.checkpoints, "ok": True}

    # -- lineage --------------------------------------------------------------------------
    @router.post("/api/v1/lineage", status_code=201, tags=["lineage"])
    async def post_lineage(
        request: Request, _: Token = allow("apply", "Resource/Lineage/graph", mutates=True)
    ) -> dict[str, Any]:
        """Store one OpenLineage 2-0-2 event or a JSON array of them (all or none)."""
        events = lineage.parse_events(lineage.decode_body(await request.body()))
        result = await app.state.writes.submit(events)
        return {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "external": result.external,
        }

    @router.get("/v1/lineage/show", tags=["lineage"])
    def lineage_show(
        node: str,
        direction: Literal["upstream", "downstream"] = "downstream",
        depth: Annotated[int, Query(ge=0, le=1000)] = 3,
        namespace: str | None = None,
        token: Token = allow("read", "Resource/Lineage/graph"),
    ) -> dict[str, Any]:
        """The neighbourhood of a node (without the nodes the caller may not read)."""
        view = lineage.show(ws, node, namespace=namespace, direction=direction, depth=depth)
        require_visible(guards, token, lineage.resource_of(view.root))
        view = lineage.redact_view(view, visible(guards, token))
        return {
            "root": lineage.node_json(view.root),
            "nodes": [{**lineage.node_json(n), "depth": d} for n, d in view.nodes],
            "edges": [
                {"from": lineage.label(s), "to": lineage.label(t), "kind": k}
                for s, t, k in view.edges
            ],
            "truncated": view.truncated,
        }

    @router.get("/v1/lineage/impact", tags=["lineage"])
    def lineage_impact(
        node: str,
        depth: Annotated[int | None, Query(ge=0, le=1000)] = None,
        namespace: str | None = None,
        token: Token = allow("read", "Resource/Lineage/graph"),
    ) -> dict[str, Any]:
        """Everything downstream of a dataset (that the caller may read)."""
        found = lineage.impact(ws, node, namespace=namespace, depth=depth)
        require_visible(guards, token, lineage.resource_of(found.root))
        return lineage.impact_json(lineage.redact_impact(found, visible(guards, token)))

    @router.post("/v1/lineage/erasures", tags=["lineage"])
    def erase(
        body: EraseBody, token: Token = allow("admin", "Resource/Lineage/graph", mutates=True)
    ) -> dict[str, Any]:
        """Erase a dataset's payloads, keep the graph, record it."""
        done = lineage.erase(
            ws, body.node, body.reason, actor=Actor.of_token(token), namespace=body.namespace
        )
        return {
            **lineage.impact_json(done.impact),
            "retrain": done.retrain,
            "stop": done.stop,
            "ledger_index": done.ledger_index,
        }

    # -- models ---------------------------------------------------------------------------
    @router.get("/v1/models", tags=["models"])
    def models(token: Token = allow("read", "Resource/Registry/all")) -> dict[str, Any]:
        """Every registered version the caller may read, with its state."""
        found = registry.list_versions(ws)
        allowed = visible(guards, token)([f"ModelVersion/{v.ref}" for v in found])
        shown = [registry.summary_json(v) for v, ok in zip(found, allowed, strict=True) if ok]
        return {"versions": shown}

    @router.get("/v1/models/{ref}", tags=["models"])
    def model(ref: str, _: Token = allow("read", "ModelVersion/{ref}")) -> dict[str, Any]:
        """One version: state, evaluations, approvals, history with ledger indices."""
        return registry.detail_json(registry.describe(ws, ref))

    @router.post("/v1/models/{ref}/evaluations", tags=["models"])
    def evaluate(
        ref: str,
        body: EvaluationsBody,
        token: Token = allow("apply", "ModelVersion/{ref}", mutates=True),
    ) -> dict[str, Any]:
        """Record evaluation results."""
        results = [Evaluation(r.kind, r.name, r.passed, r.score) for r in body.results]
        version = registry.evaluate(ws, ref, results, actor=Actor.of_token(token))
        return registry.summary_json(version)

    @router.post("/v1/models/{ref}/transitions", tags=["models"])
    def promote(
        ref: str,
        body: PromoteBody,
        token: Token = allow("apply", "ModelVersion/{ref}", mutates=True),
    ) -> dict[str, Any]:
        """Move a version to validated, back to draft, or to retired."""
        version = registry.transition(ws, ref, body.to, body.reason, actor=Actor.of_token(token))
        return registry.summary_json(version)

    @router.post("/v1/models/{ref}/approvals", tags=["models"])
    def approve(
        ref: str, token: Token = allow("approve", "ModelVersion/{ref}", mutates=True)
    ) -> dict[str, Any]:
        """Approve a validated version (two approvers for high risk; never the registrant)."""
        version = registry.approve(ws, ref, actor=Actor.of_token(token))
        return registry.summary_json(version)

    # -- monitors -------------------------------------------------------------------------
    @router.get("/v1/monitors/alerts", tags=["monitors"])
    def alerts(
        every: Annotated[bool, Query(alias="all")] = False,
        _: Token = allow("read", "Resource/Monitor/all"),
    ) -> dict[str, Any]:
        """Alerts (firing ones unless all=true)."""
        return {
            "alerts": [
                {
                    "monitor": a.monitor,
                    "condition": a.condition,
                    "state": a.state,
                    "message": a.message,
                    "raised_at": a.raised_at.isoformat(),
                    "checks": a.checks,
                }
                for a in monitoring.alerts(ws, firing_only=not every)
            ]
        }

    @router.get("/metrics", tags=["monitors"], response_class=PlainTextResponse)
    def metrics(_: Token = allow("read", "Resource/Metrics/all")) -> str:
        """Monitor results in the Prometheus text format."""
        return monitoring.metrics_text(ws)

    @router.get("/v1/openapi.json", tags=["meta"])
    def openapi(_: Token = allow("read", "Resource/Api/openapi")) -> dict[str, Any]:
        """This API's OpenAPI document."""
        document: dict[str, Any] = app.openapi()
        return document
