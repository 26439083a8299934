"""Clusters and run sections: what a manifest may say, and every mistake located by field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dispatch_estate import SITES, cluster, workload
from keel.errors import Problem
from keel.estate import Limits, build_estate, load_manifests
from keel.runtimes.base import MAX_NAME, job_name


def _problems(tmp_path: Path, *docs: dict[str, object]) -> list[Problem]:
    path = tmp_path / "estate.yaml"
    path.write_text(SITES + "".join("---\n" + yaml.safe_dump(d) for d in docs))
    located, problems = load_manifests([str(path)], Limits())
    if problems:
        return problems
    return build_estate(located)[1]


def _one(tmp_path: Path, *docs: dict[str, object]) -> tuple[str, str, str]:
    found = _problems(tmp_path, *docs)
    assert len(found) == 1, found
    return found[0].resource, found[0].field, found[0].message


def test_a_valid_cluster_and_run_section_load(tmp_path: Path) -> None:
    docs = [cluster(), workload("job", ["echo", "hi"], image="registry/x:1")]
    assert _problems(tmp_path, *docs) == []


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"type": "nomad"}, "spec.type", "'local', 'ray', 'slurm' or 'kubernetes'"),
        ({"type": "ray"}, "spec", "dashboard URL"),
        ({"type": "ray", "address": "ftp://x"}, "spec", "dashboard URL"),
        ({"address": "http://x"}, "spec", "local cluster takes no address"),
        ({"type": "slurm", "credentials": {"env": "TOKEN"}}, "spec", "munge"),
        (
            {"type": "kubernetes", "credentials": {"env": "A", "file": "/k"}},
            "spec.credentials",
            "exactly one",
        ),
        (
            {"type": "kubernetes", "credentials": {"token": "s3cret"}},
            "spec.credentials.token",
            "unknown",
        ),
        (
            {"type": "kubernetes", "credentials": {"env": "not a name"}},
            "spec.credentials.env",
            "pattern",
        ),
        ({"type": "slurm", "context": "x"}, "spec", "only for kubernetes"),
        ({"sites": []}, "spec.sites", "at least 1"),
        ({"sites": [{"site": "dc-a"}, {"site": "dc-a"}]}, "spec", "more than once"),
        ({"namespace": "Not_A_Namespace"}, "spec.namespace", "pattern"),
    ],
)
def test_cluster_mistakes_name_their_field(
    tmp_path: Path, change: dict[str, object], field: str, fragment: str
) -> None:
    made = cluster()
    made["spec"] = {**made["spec"], **change}  # type: ignore[dict-item]
    resource, where, message = _one(tmp_path, made)
    assert resource == "Cluster/local-engine"
    assert where == field, message
    assert fragment in message


def test_cross_resource_cluster_mistakes(tmp_path: Path) -> None:
    made = cluster()
    made["spec"]["sites"] = [{"site": "dc-c"}]  # type: ignore[index]
    resource, field, message = _one(tmp_path, made)
    assert (field, message[:28]) == ("spec.sites[0].site", "Site 'dc-c' does not exist; ")
    assert "did you mean" in message
    made["spec"]["sites"] = [{"site": "dc-a", "pools": {"gpus": "p"}}]  # type: ignore[index]
    resource, field, message = _one(tmp_path, made)
    assert (
        field == "spec.sites[0].pools.gpus" and "no pool 'gpus'" in message and "'gpu'" in message
    )
    other = cluster("slurm")
    other["name"] = "hpc"
    other["spec"]["sites"] = [{"site": "dc-b"}]  # type: ignore[index]
    resource, field, message = _one(tmp_path, cluster(), other)
    assert resource == "Cluster/hpc" and field == "spec.sites[0].site"
    assert "already served by Cluster/local-engine" in message


@pytest.mark.parametrize(
    ("run", "field"),
    [
        ({"command": []}, "spec.run.command"),
        ({"command": ["x"], "env": {"1BAD": "x"}}, "spec.run.env.1BAD.[key]"),
        ({"command": ["x"], "max_retries": -1}, "spec.run.max_retries"),
        ({"command": ["x"], "image": "bad image"}, "spec.run.image"),
        ({"command": ["x"], "secret": "x"}, "spec.run.secret"),
    ],
)
def test_run_section_mistakes_name_their_field(
    tmp_path: Path, run: dict[str, object], field: str
) -> None:
    made = workload("job", ["x"])
    made["spec"]["run"] = run  # type: ignore[index]
    resource, where, _ = _one(tmp_path, made)
    assert (resource, where) == ("Workload/job", field)


def test_job_names_are_deterministic_engine_safe_and_distinct() -> None:
    long = "w" * 63
    name = job_name(long, "key-1", 12)
    assert len(name) <= MAX_NAME and name.startswith("keel-w") and name.endswith("-a12")
    assert job_name("Scoring_Job.v2", "k", 1).startswith("keel-scoring-job-v2-")
    assert job_name("a", "k1", 1) == job_name("a", "k1", 1) != job_name("a", "k2", 1)
    assert job_name("a", "k1", 1) != job_name("a", "k1", 2)


def test_keel_get_has_a_table_for_every_kind() -> None:
    from keel.cli.views import _COLUMNS
    from keel.estate import KINDS

    assert set(_COLUMNS) == set(KINDS)
    cells = _COLUMNS["Cluster"][1](
        {"type": "ray", "address": "http://h:8265", "credentials": {"env": "TOKEN"},
         "sites": [{"site": "a"}, {"site": "b"}]},
        None,
    )  # fmt: skip
    assert cells == ["ray", "http://h:8265", "a, b", "env TOKEN"]
