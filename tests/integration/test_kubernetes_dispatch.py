"""Kubernetes with Kueue/MultiKueue: the objects Keel would apply, checked against the schemas.

No API server can run on this machine, so what is exercised is: the generated objects (golden
file), their validity against the Kubernetes 1.34 JSON schemas and Kueue's v1beta2 CRDs (kept
in tests/fixtures with their source), the MultiKueue wiring that admits each job only on the
worker cluster of its site, status mapping from Job and Deployment objects, and a kubeconfig
that points at nothing (the engine is reported unreachable, runs are not failed).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from dispatch_estate import cluster, kubeconfig, workload, write
from keel.errors import DispatchError
from keel.runtimes.kubernetes import status_of
from keel.service import Actor, Workspace, apply_manifests, planning
from keel.service import dispatch as dispatching

pytest.importorskip("kubernetes")

FIXTURES = Path(__file__).parent.parent / "fixtures"
GOLDEN = FIXTURES / "kubernetes" / "golden-dispatch.yaml"
ADMIN = Actor.system("test")


def _workspace(tmp_path: Path, *docs: dict[str, object]) -> Workspace:
    folder = tmp_path / "estate"
    write(folder, *docs)
    ws = Workspace.open(tmp_path, database_url=f"sqlite:///{tmp_path / 'keel.db'}")
    apply_manifests(ws, [str(folder)], actor=ADMIN)
    planning.commit_plan(ws, planning.compute_plan(ws), actor=ADMIN)
    return ws


def _estate(tmp_path: Path, *, image: str | None = "registry.example/score:1.4") -> list[dict]:
    return [
        cluster(
            "kubernetes",
            context="hub",
            namespace="ml-jobs",
            credentials={"file": str(kubeconfig(tmp_path))},
        ),
        workload("scoring", ["python", "-m", "score"], replicas=2, image=image),
        workload("chat", ["python", "-m", "serve"], kind="online_inference", image=image),
    ]


def _validator(obj: dict[str, Any]) -> jsonschema.protocols.Validator:
    if obj["apiVersion"].startswith("kueue.x-k8s.io/"):
        text = (FIXTURES / "kueue" / f"{obj['kind'].lower()}s.yaml").read_text()
        # Go's RE2 takes inline flags anywhere; Python only at the start of the pattern.
        crd = yaml.safe_load(text.replace("^(?i)", "(?i)^"))
        version = obj["apiVersion"].split("/")[1]
        schema = next(v for v in crd["spec"]["versions"] if v["name"] == version)
        return jsonschema.Draft7Validator(schema["schema"]["openAPIV3Schema"])
    name = {"Job": "job-batch-v1.json", "Deployment": "deployment-apps-v1.json"}[obj["kind"]]
    schema = json.loads((FIXTURES / "kubernetes" / name).read_text())
    definitions = json.loads((FIXTURES / "kubernetes" / "_definitions.json").read_text())
    registry = Registry().with_resource(
        "https://kubernetes.io/api/_definitions.json",
        Resource.from_contents(definitions, default_specification=DRAFT202012),
    )
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _dry_run(tmp_path: Path) -> list[dict[str, Any]]:
    ws = _workspace(tmp_path, *_estate(tmp_path))
    try:
        done = dispatching.dispatch(ws, actor=ADMIN, dry_run=True)
    finally:
        ws.close()
    assert done.dry_run and [t.cluster for t in done.unreachable] == ["kubernetes-engine"]
    return [dict(o) for o in done.objects]


def test_the_objects_match_the_golden_file_and_the_schemas(tmp_path: Path) -> None:
    objects = _dry_run(tmp_path)
    # Job names carry a digest of the workspace's ledger origin, new in every workspace.
    text = re.sub(
        r"(keel-[a-z0-9-]+-)[0-9a-f]{10}(-a\d+)",
        r"\1DIGEST\2",
        yaml.safe_dump_all(objects, sort_keys=True),
    )
    if os.environ.get("KEEL_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "regenerate with KEEL_UPDATE_GOLDEN=1 and review the diff"
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == [
        "AdmissionCheck", "ClusterQueue", "Deployment", "Job", "LocalQueue", "MultiKueueCluster",
        "MultiKueueConfig", "ResourceFlavor",
    ]  # fmt: skip
    for obj in objects:
        errors = sorted(_validator(obj).iter_errors(obj), key=lambda e: list(e.path))
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors[0].message}"


def test_a_wrong_object_fails_the_schema_check(tmp_path: Path) -> None:
    objects = _dry_run(tmp_path)
    job = next(o for o in objects if o["kind"] == "Job")
    job["spec"]["template"]["spec"]["restartPolicy"] = 7  # a number where a string belongs
    assert list(_validator(job).iter_errors(job))
    config = next(o for o in objects if o["kind"] == "MultiKueueConfig")
    config["spec"]["clusters"] = []  # minItems 1
    assert list(_validator(config).iter_errors(config))


def test_each_job_can_be_admitted_only_on_the_worker_cluster_of_its_site(tmp_path: Path) -> None:
    objects = _dry_run(tmp_path)
    by = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    for obj in objects:
        if obj["kind"] not in ("Job", "Deployment"):
            continue
        labels = obj["metadata"]["labels"]
        local = by[("LocalQueue", labels["kueue.x-k8s.io/queue-name"])]
        queue = by[("ClusterQueue", local["spec"]["clusterQueue"])]
        [check] = queue["spec"]["admissionChecksStrategy"]["admissionChecks"]
        admission = by[("AdmissionCheck", check["name"])]
        assert admission["spec"]["controllerName"] == "kueue.x-k8s.io/multikueue"
        config = by[("MultiKueueConfig", admission["spec"]["parameters"]["name"])]
        assert config["spec"]["clusters"] == [labels["keel.dev/site"]], obj["metadata"]["name"]
        if obj["kind"] == "Job":
            assert obj["spec"]["suspend"] is True
            assert obj["spec"]["managedBy"] == "kueue.x-k8s.io/multikueue"
            assert obj["spec"]["backoffLimit"] == 0  # Keel retries, with its own backoff
        container = obj["spec"]["template"]["spec"]["containers"][0]
        assert container["resources"]["limits"] == {"nvidia.com/gpu": "1"}


def test_a_workload_without_an_image_is_refused_before_anything_is_submitted(
    tmp_path: Path,
) -> None:
    ws = _workspace(tmp_path, *_estate(tmp_path, image=None))
    try:
        with pytest.raises(DispatchError) as caught:
            dispatching.dispatch(ws, actor=ADMIN)
        fields = {(p.resource, p.field) for p in caught.value.problems}
        assert fields == {
            ("Workload/scoring", "spec.run.image"),
            ("Workload/chat", "spec.run.image"),
        }
        assert dispatching.list_runs(ws, every=True).runs == []
    finally:
        ws.close()


def test_an_unreachable_api_server_is_reported_and_nothing_is_stored_as_failed(
    tmp_path: Path,
) -> None:
    ws = _workspace(tmp_path, *_estate(tmp_path))
    try:
        done = dispatching.dispatch(ws, actor=ADMIN)
        assert [t.cluster for t in done.unreachable] == ["kubernetes-engine"]
        assert "cannot reach" in done.unreachable[0].message
        assert done.actions == [] and done.states == {}
        assert dispatching.list_runs(ws, every=True).runs == []
    finally:
        ws.close()


def test_a_missing_credentials_file_names_the_cluster_and_field(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, *_estate(tmp_path))
    (tmp_path / "kubeconfig").unlink()
    try:
        with pytest.raises(DispatchError) as caught:
            dispatching.dispatch(ws, actor=ADMIN)
        [problem] = caught.value.problems
        assert (problem.resource, problem.field) == (
            "Cluster/kubernetes-engine",
            "spec.credentials.file",
        )
    finally:
        ws.close()


@pytest.mark.parametrize(
    ("obj", "state"),
    [
        ({"kind": "Job", "spec": {"suspend": True}, "status": {}}, "pending"),
        ({"kind": "Job", "spec": {"suspend": False}, "status": {"active": 1}}, "running"),
        (
            {
                "kind": "Job",
                "spec": {},
                "status": {"conditions": [{"type": "Complete", "status": "True"}]},
            },
            "succeeded",
        ),
        (
            {
                "kind": "Job",
                "spec": {},
                "status": {
                    "conditions": [
                        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
                    ]
                },
            },
            "failed",
        ),
        (
            {
                "kind": "Job",
                "spec": {},
                "status": {"conditions": [{"type": "Failed", "status": "False"}]},
            },
            "pending",
        ),
        ({"kind": "Deployment", "spec": {}, "status": {"availableReplicas": 1}}, "running"),
        ({"kind": "Deployment", "spec": {}, "status": {}}, "pending"),
    ],
)
def test_job_and_deployment_states_map_to_run_states(obj: dict[str, Any], state: str) -> None:
    obj = {
        **obj,
        "metadata": {
            "name": "keel-x-0000000000-a1",
            "labels": {"kueue.x-k8s.io/queue-name": "keel-dc-a"},
        },
    }
    found = status_of(obj)
    assert found.state == state
    assert found.where == "keel-dc-a"
    if state == "failed":
        assert "BackoffLimitExceeded" in found.message


def test_keel_dispatch_dry_run_prints_the_objects_as_yaml(tmp_path: Path) -> None:
    import subprocess
    import sys

    _workspace(tmp_path, *_estate(tmp_path)).close()
    env = {
        **os.environ,
        "KEEL_PROGRESS": "0",
        "KEEL_DATABASE_URL": f"sqlite:///{tmp_path / 'keel.db'}",
    }
    env.pop("KEEL_PRINCIPAL", None)
    keel = str(Path(sys.executable).parent / "keel")
    done = subprocess.run(
        [keel, "--workspace", str(tmp_path), "dispatch", "--dry-run", "-o", "yaml"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = list(yaml.safe_load_all(done.stdout))
    assert {o["kind"] for o in printed} >= {"Job", "Deployment", "LocalQueue", "ClusterQueue"}
    assert printed == _dry_run_again(tmp_path)


def _dry_run_again(tmp_path: Path) -> list[dict[str, Any]]:
    ws = Workspace.open(tmp_path, database_url=f"sqlite:///{tmp_path / 'keel.db'}")
    try:
        return [dict(o) for o in dispatching.dispatch(ws, actor=ADMIN, dry_run=True).objects]
    finally:
        ws.close()
