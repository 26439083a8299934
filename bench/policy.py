"""Benchmark: compliance (Rego, regopy) and access (Cedar, cedarpy) decisions.

Measured in one run:

* **compliance**: every shipped pack plus one custom module, over an estate of 50 sites and
  ``--workloads`` workloads (personal, health and card data from the EEA, China and the US;
  every classification; every AI Act risk tier). Per workload: the Rego evaluation in the
  worker (p50, p99), and end to end through :meth:`ComplianceEngine.decide` (input handed to
  the worker, selectors matched against 50 sites, the decision built). Baseline: the same
  packs asked once per (workload, site) pair, the design the issue rules out, on a sample.
* **access**: a realistic entity set (1,000 users and service accounts, 200 agents, 5,000
  datasets, 500 models with 3 versions, 2,000 workloads); single decisions (p50, p99) and
  batch decisions per second, over a mix of reads, applies, approvals and agent reads.
* **Rego vs Cedar**: the same RBAC rule ("a principal with role viewer may read") decided by
  regopy and by cedarpy against the same 1,000 principals, in process, so the ratio is visible.

Usage::

    python bench/policy.py [--workloads 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cedarpy
import regopy

from keel.estate import build_estate, load_manifests
from keel.estate.estate import Estate
from keel.estate.resources import PolicySetSpec
from keel.policy.access.engine import AccessEngine, Request
from keel.policy.compliance.engine import ComplianceEngine
from keel.policy.compliance.inputs import InputBuilder, site_documents
from keel.policy.compliance.packs import packs
from keel.policy.compliance.policyset import compile_policy

COUNTRIES = ["DE", "FR", "NL", "IE", "FI", "US", "US", "CN", "SG", "GB", "CH", "JP", "IN", "BR"]
KINDS = ["on_prem", "private_cloud", "public_cloud", "edge"]
CUSTOM = """package bench.house

import rego.v1

deny contains {"site": "site-0", "rule": "house.site0", "message": "reserved"} if {
	object.get(input.workload.labels, "team", "") != "core"
}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def estate_text(workloads: int, rng: random.Random) -> str:
    docs: list[dict[str, Any]] = []
    for s in range(50):
        country = COUNTRIES[s % len(COUNTRIES)]
        kind = KINDS[s % len(KINDS)]
        docs.append(
            {
                "kind": "Site",
                "name": f"site-{s}",
                "spec": {
                    "kind": kind,
                    "country": country,
                    "location": {
                        "latitude": rng.uniform(-50, 60),
                        "longitude": rng.uniform(-120, 140),
                    },
                    "max_classification": "restricted",
                    "certifications": rng.sample(["hipaa", "pci-dss", "iso27001", "soc2"], 2),
                    "confidential_computing": rng.random() < 0.3,
                    "pools": [
                        {"name": "p", "accelerator": "H100-SXM", "count": 64, "usd_per_hour": 2.0}
                    ],
                    **(
                        {"provider": "bench-cloud", "region": f"r{s}"}
                        if kind == "public_cloud"
                        else {}
                    ),
                },
            }
        )
    for d in range(300):
        origin = rng.choice(["DE", "FR", "CN", "US", "SG"])
        tags = ["personal"] if rng.random() < 0.6 else []
        tags += ["phi"] if origin == "US" and rng.random() < 0.5 else []
        tags += ["pci"] if rng.random() < 0.1 else []
        docs.append(
            {
                "kind": "Dataset",
                "name": f"data-{d}",
                "spec": {
                    "classification": rng.choice(
                        ["public", "internal", "confidential", "restricted"]
                    ),
                    "size_gb": 10,
                    "replicas": [f"site-{rng.randrange(50)}"],
                    "collected_in": origin,
                    "tags": tags,
                },
            }
        )
    for m in range(40):
        tier = ["minimal", "limited", "high", "high", "prohibited"][m % 5]
        docs.append(
            {
                "kind": "Model",
                "name": f"model-{m}",
                "spec": {
                    "risk_tier": tier,
                    "purpose": "bench",
                    "risk_assessment": rng.choice(["approved", "approved", "pending"]),
                    "oversight_contact": "oversight@example.com" if rng.random() < 0.8 else None,
                    "logging_enabled": rng.random() < 0.8,
                    "versions": [{"version": "1", "parameters_billion": 1}],
                },
            }
        )
    for w in range(workloads):
        kind = rng.choice(["training", "batch_inference", "fine_tuning", "batch_inference"])
        spec: dict[str, Any] = {
            "kind": kind,
            "model": f"model-{rng.randrange(40)}@1",
            "inputs": [f"data-{i}" for i in rng.sample(range(300), rng.randint(1, 4))],
            "compute": {"accelerators": ["H100-SXM"], "count": 1, "hours": 2},
        }
        labels = {"team": rng.choice(["core", "retail", "markets"])}
        docs.append({"kind": "Workload", "name": f"work-{w}", "labels": labels, "spec": spec})
    for doc in docs:
        spec = doc["spec"]
        for key in [k for k, v in spec.items() if v is None]:
            del spec[key]
    return "\n---\n".join(json.dumps(doc) for doc in docs)


def build(workloads: int, seed: int) -> Estate:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.yaml"
        path.write_text(estate_text(workloads, random.Random(seed)))
        found, problems = load_manifests([str(path)])
    assert problems == [], problems[:3]
    estate, more = build_estate(found)
    assert more == [], more[:3]
    return estate


def compliance(estate: Estate) -> dict[str, Any]:
    spec = {"packs": [{"name": n} for n in packs()], "modules": [{"name": "house", "rego": CUSTOM}]}
    policy = compile_policy({"bench": PolicySetSpec.model_validate(spec)})
    assert policy.problems == []
    sites = sorted(estate.sites)
    builder = InputBuilder(estate)
    names = sorted(estate.of_kind("Workload"))
    documents = [builder.document(name) for name in names]
    with ComplianceEngine(policy, site_documents(estate)) as engine:
        engine.decide(warm_up(documents[:50]))  # warm up, without filling the cache
        started = time.perf_counter()
        decisions = engine.decide(documents)
        wall_s = time.perf_counter() - started
        # A re-plan of the unchanged estate: every input is in the engine's cache.
        started = time.perf_counter()
        again = engine.decide(documents)
        again_s = time.perf_counter() - started
        assert all(d.cached for d in again)
        # End to end per workload, one call each: what an admission check pays (a new input
        # each time: the workload's labels carry a fresh value, so nothing comes from the cache).
        single = []
        for document in warm_up(documents[:500], "single"):
            t = time.perf_counter()
            engine.decide([document])
            single.append((time.perf_counter() - t) * 1e3)
        # Baseline: the same packs asked once per (workload, site) pair.
        sample = documents[:100]
        pairs = [{**d, "sites": [site]} for d in sample for site in sites]
        t = time.perf_counter()
        engine.decide(pairs)
        pair_s = time.perf_counter() - t
    worker_ms = [d.elapsed_ns / 1e6 for d in decisions if not d.cached]
    failed = sum(d.failed for d in decisions)
    denied = sum(bool(d.denied) for d in decisions)
    per_workload_ms = wall_s * 1e3 / len(documents)
    per_pair_workload_ms = pair_s * 1e3 / len(sample)
    return {
        "workloads": len(documents),
        "sites": len(sites),
        "evaluated": sum(not d.cached for d in decisions),
        "worker_p50_ms": round(statistics.median(worker_ms), 3),
        "worker_p99_ms": round(percentile(worker_ms, 0.99), 3),
        "batch_ms_per_workload": round(per_workload_ms, 3),
        "cached_ms_per_workload": round(again_s * 1e3 / len(documents), 3),
        "single_call_p50_ms": round(statistics.median(single), 3),
        "single_call_p99_ms": round(percentile(single, 0.99), 3),
        "per_pair_ms_per_workload": round(per_pair_workload_ms, 3),
        "per_pair_over_per_workload": round(per_pair_workload_ms / per_workload_ms, 1),
        "denied_outright": denied,
        "failed": failed,
    }


def warm_up(documents: list[dict[str, Any]], tag: str = "warm-up") -> list[dict[str, Any]]:
    """Copies that differ from every document in a label, so the cache cannot answer them."""
    return [
        {**d, "workload": {**d["workload"], "labels": {**d["workload"]["labels"], "run": tag}}}
        for d in documents
    ]


def access_entities(rng: random.Random) -> tuple[list[dict[str, Any]], list[Request]]:
    found: list[dict[str, Any]] = [
        {"uid": {"type": "Keel::Role", "id": r}, "attrs": {}, "parents": []}
        for r in ("viewer", "operator", "approver", "admin")
    ]
    users = []
    for u in range(1000):
        kind = "User" if u % 10 else "ServiceAccount"
        roles = rng.sample(["viewer", "operator", "approver", "admin"], rng.choice([1, 1, 2]))
        found.append(
            {
                "uid": {"type": f"Keel::{kind}", "id": f"u{u}"},
                "attrs": {"name": f"u{u}"},
                "parents": [{"type": "Keel::Role", "id": r} for r in roles],
            }
        )
        users.append((kind, f"u{u}"))
    classes = ["public", "internal", "confidential", "restricted"]
    for d in range(5000):
        c = rng.randrange(4)
        found.append(
            {
                "uid": {"type": "Keel::Dataset", "id": f"d{d}"},
                "attrs": {
                    "owner": f"u{rng.randrange(1000)}",
                    "classification": classes[c],
                    "classification_rank": c,
                },
                "parents": [],
            }
        )
    agents = []
    for a in range(200):
        grants = [
            {"__entity": {"type": "Keel::Dataset", "id": f"d{rng.randrange(5000)}"}}
            for _ in range(20)
        ]
        found.append(
            {
                "uid": {"type": "Keel::Agent", "id": f"a{a}"},
                "attrs": {
                    "name": f"a{a}",
                    "owner": "u1",
                    "autonomy": "suggest",
                    "datasets": grants,
                    "tools": [],
                    "max_classification_rank": 2,
                },
                "parents": [],
            }
        )
        agents.append(("Agent", f"a{a}"))
    for m in range(500):
        tier = rng.choice(["minimal", "limited", "high"])
        found.append(
            {
                "uid": {"type": "Keel::Model", "id": f"m{m}"},
                "attrs": {"risk_tier": tier},
                "parents": [],
            }
        )
        for v in range(3):
            found.append(
                {
                    "uid": {"type": "Keel::ModelVersion", "id": f"m{m}@{v}"},
                    "attrs": {
                        "risk_tier": tier,
                        "state": "draft",
                        "registered_by": f"u{rng.randrange(1000)}",
                    },
                    "parents": [{"type": "Keel::Model", "id": f"m{m}"}],
                }
            )
    for w in range(2000):
        found.append(
            {
                "uid": {"type": "Keel::Workload", "id": f"w{w}"},
                "attrs": {"risk_tier": "minimal", "classification_rank": rng.randrange(4)},
                "parents": [],
            }
        )
    found.append({"uid": {"type": "Keel::Ledger", "id": "ledger"}, "attrs": {}, "parents": []})
    requests = []
    for _ in range(20000):
        roll = rng.random()
        if roll < 0.5:
            requests.append(
                Request(rng.choice(users), "read", ("Dataset", f"d{rng.randrange(5000)}"))
            )
        elif roll < 0.7:
            requests.append(
                Request(
                    rng.choice(users),
                    rng.choice(["plan", "deploy"]),
                    ("Workload", f"w{rng.randrange(2000)}"),
                )
            )
        elif roll < 0.85:
            requests.append(
                Request(
                    rng.choice(users),
                    "approve",
                    ("ModelVersion", f"m{rng.randrange(500)}@{rng.randrange(3)}"),
                )
            )
        else:
            requests.append(
                Request(rng.choice(agents), "read", ("Dataset", f"d{rng.randrange(5000)}"))
            )
    return found, requests


def access(seed: int) -> dict[str, Any]:
    found, requests = access_entities(random.Random(seed))
    engine = AccessEngine(found)
    for r in requests[:200]:
        engine.authorize(r)
    single = []
    allowed = 0
    for r in requests[:10000]:
        t = time.perf_counter()
        allowed += engine.authorize(r).allowed
        single.append((time.perf_counter() - t) * 1e6)
    t = time.perf_counter()
    batch = engine.authorize_batch(requests)
    batch_s = time.perf_counter() - t
    return {
        "entities": len(found),
        "single_p50_us": round(statistics.median(single), 1),
        "single_p99_us": round(percentile(single, 0.99), 1),
        "single_per_s": round(len(single) / (sum(single) / 1e6)),
        "batch_per_s": round(len(requests) / batch_s),
        "allowed_share": round(sum(d.allowed for d in batch) / len(batch), 3),
    }


RBAC_REGO = """package rbac

import rego.v1

default allow := false

allow if {
	input.action == "read"
	"viewer" in data.roles[input.principal]
}
"""
RBAC_CEDAR = 'permit (principal in Keel::Role::"viewer", action == Keel::Action::"read", resource);'


def rego_vs_cedar(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    roles = {
        f"u{u}": rng.sample(["viewer", "operator", "approver", "admin"], 2) for u in range(1000)
    }
    asks = [(f"u{rng.randrange(1000)}", rng.choice(["read", "apply"])) for _ in range(3000)]
    interpreter = regopy.Interpreter()
    interpreter.add_module("rbac.rego", RBAC_REGO)
    interpreter.add_data({"roles": roles})
    bundle = interpreter.build("x := data.rbac.allow", [])
    rego_us, rego_answers = [], []
    for user, action in asks:
        t = time.perf_counter()
        interpreter.set_input({"principal": user, "action": action, "resource": "d1"})
        out = interpreter.query_bundle(bundle)
        rego_us.append((time.perf_counter() - t) * 1e6)
        rego_answers.append(out.results[0].bindings["x"])
    ents = [
        {"uid": {"type": "Keel::Role", "id": r}, "attrs": {}, "parents": []}
        for r in ("viewer", "operator", "approver", "admin")
    ]
    ents += [
        {
            "uid": {"type": "Keel::User", "id": u},
            "attrs": {"name": u},
            "parents": [{"type": "Keel::Role", "id": r} for r in rs],
        }
        for u, rs in roles.items()
    ]
    ents.append(
        {
            "uid": {"type": "Keel::Dataset", "id": "d1"},
            "attrs": {"classification": "internal", "classification_rank": 1},
            "parents": [],
        }
    )
    policies = cedarpy.PolicySet.from_str(RBAC_CEDAR)
    entity_set = cedarpy.Entities.from_json_str(json.dumps(ents))
    cedar_us, cedar_answers = [], []
    for user, action in asks:
        t = time.perf_counter()
        result = cedarpy.is_authorized(
            {
                "principal": {"type": "Keel::User", "id": user},
                "action": {"type": "Keel::Action", "id": action},
                "resource": {"type": "Keel::Dataset", "id": "d1"},
            },
            policies,
            entity_set,
        )
        cedar_us.append((time.perf_counter() - t) * 1e6)
        cedar_answers.append(result.allowed)
    assert rego_answers == cedar_answers, "regopy and cedarpy disagree"
    return {
        "decisions": len(asks),
        "regopy_p50_us": round(statistics.median(rego_us), 1),
        "regopy_p99_us": round(percentile(rego_us, 0.99), 1),
        "cedarpy_p50_us": round(statistics.median(cedar_us), 1),
        "cedarpy_p99_us": round(percentile(cedar_us, 0.99), 1),
        "regopy_over_cedarpy_p50": round(
            statistics.median(rego_us) / statistics.median(cedar_us), 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    estate = build(args.workloads, args.seed)
    results = {
        "compliance": compliance(estate),
        "access": access(args.seed),
        "rbac_rego_vs_cedar": rego_vs_cedar(args.seed),
    }
    for section, values in results.items():
        print(f"\n{section}")
        for key, value in values.items():
            print(f"  {key:32} {value}")
    c, a = results["compliance"], results["access"]
    print(
        f"\ntargets: compliance p99 {c['worker_p99_ms']} ms in the worker,"
        f" {c['single_call_p99_ms']} ms end to end (target < 2 ms);"
        f" access p99 {a['single_p99_us']} us (target < 100 us)"
    )
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "policy.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.exit(main())
