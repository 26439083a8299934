"""OpenLineage events about Keel's own runs: plans committed, model versions registered.

Each is a 2-0-2 ``RunEvent`` (``COMPLETE``) in the ``keel`` job namespace. A plan's run carries
the custom ``keel_placement`` run facet: where each workload went, under which estate and
policy digests. A registered version is the output of its training job: a dataset in the
``keel.models`` namespace, with the datasets it was trained on as inputs.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from importlib.metadata import version
from typing import Any

from keel.lineage.graph import KEEL_NAMESPACE, MODELS_NAMESPACE
from keel.lineage.openlineage import SCHEMA_URL

__version__ = version("keel")
PRODUCER = f"https://github.com/keel-project/keel/tree/v{__version__}"
"""The ``producer`` of Keel's events."""

FACET_SCHEMA_URL = (
    f"https://github.com/keel-project/keel/tree/v{__version__}/docs/lineage.md#keel_placement"
)


def _event(job: str, run_id: str, now: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "eventType": "COMPLETE",
        "eventTime": now.isoformat(),
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
        "run": {"runId": run_id, **extra.pop("run", {})},
        "job": {"namespace": KEEL_NAMESPACE, "name": job},
        "inputs": extra.pop("inputs", []),
        "outputs": extra.pop("outputs", []),
    }


def _dataset(namespace: str, name: str) -> dict[str, str]:
    return {"namespace": namespace, "name": name}


def plan_event(
    plan_id: int, plan: dict[str, Any], plan_digest: str, inputs: list[str], now: datetime
) -> dict[str, Any]:
    """The event for a committed plan.

    Args:
        plan_id: The plan's id.
        plan: The plan's JSON form.
        plan_digest: Its digest (also the run's identity: the same plan gives the same run id).
        inputs: Estate datasets the placed workloads read.
        now: The time.

    Returns:
        A RunEvent.
    """
    facet = {
        "_producer": PRODUCER,
        "_schemaURL": FACET_SCHEMA_URL,
        "planId": plan_id,
        "planDigest": plan_digest,
        "estateDigest": plan["estate_digest"],
        "policyDigest": plan["policy_digest"],
        "solver": plan["solver"],
        "placements": [
            {
                "workload": p["workload"],
                "site": p["site"],
                "pool": p["pool"],
                "devices": p["devices"],
            }
            for p in plan["placements"]
        ],
        "unplaced": [u["workload"] if isinstance(u, dict) else u for u in plan["unplaced"]],
    }
    run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"keel:plan:{plan_digest}:{plan_id}"))
    return _event(
        "keel.plan",
        run_id,
        now,
        run={"facets": {"keel_placement": facet}},
        inputs=[_dataset(KEEL_NAMESPACE, name) for name in sorted(set(inputs))],
    )


def registration_event(
    model: str, version: str, trained_on: list[str], now: datetime
) -> dict[str, Any]:
    """The event for a registered model version: its training run's output.

    Args:
        model: The model.
        version: The version.
        trained_on: The estate datasets it was trained on.
        now: The time.

    Returns:
        A RunEvent.
    """
    run_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"keel:model:{model}@{version}"))
    return _event(
        f"keel.train.{model}",
        run_id,
        now,
        inputs=[_dataset(KEEL_NAMESPACE, name) for name in trained_on],
        outputs=[_dataset(MODELS_NAMESPACE, f"{model}@{version}")],
    )
