"""Cross-resource checks and catalog resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.errors import Problem
from keel.estate import Estate, build_estate, load_manifests
from keel.estate.manifest import parse_bytes, to_resources
from sample_manifests import SITE

BASE = (
    SITE
    + """\
---
kind: Site
name: aws-use1
spec:
  kind: public_cloud
  provider: aws
  region: us-east-1
  pools:
    - {name: h100, accelerator: H100-SXM, count: 64}
---
kind: UserRegion
name: eu-users
spec: {country: DE, location: {latitude: 50.0, longitude: 8.0}}
---
kind: Dataset
name: cards
spec: {classification: restricted, size_gb: 100, replicas: [fra-dc1], residency: [EEA], tags: [pci]}
---
kind: Model
name: fraud
spec:
  risk_tier: minimal
  purpose: fraud scoring
  versions: [{version: "1.0", parameters_billion: 0.1, trained_on: [cards]}]
---
kind: Workload
name: score
spec:
  kind: online_inference
  model: fraud@1.0
  inputs: [cards]
  compute: {accelerators: [H100-SXM]}
  latency_slo_ms: 20
  serves: [eu-users]
"""
)


def build(text: str) -> tuple[Estate, list[Problem]]:
    docs, problems = parse_bytes(text.encode(), "e.yaml")
    resources, more = to_resources(docs)
    assert problems == [] and more == [], [str(p) for p in problems + more]
    return build_estate(resources)


def only_problem(text: str) -> Problem:
    _, problems = build(text)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_base_estate_is_valid() -> None:
    estate, problems = build(BASE)
    assert problems == []
    assert len(estate) == 6


def test_demo_estate_is_valid_and_shows_every_rule(demo_dir: Path) -> None:
    resources, problems = load_manifests([str(demo_dir)])
    estate, more = build_estate(resources)
    assert problems == [] and more == []
    sites = estate.sites.values()
    assert {s.kind for s in sites} == {"on_prem", "private_cloud", "public_cloud", "edge"}
    assert len(estate.sites) >= 8
    assert len({s.country for s in sites}) >= 4
    datasets = [r.spec for r in estate.of_kind("Dataset").values()]
    assert len(datasets) >= 12
    assert {d.classification for d in datasets} == {
        "public",
        "internal",
        "confidential",
        "restricted",
    }  # type: ignore[attr-defined]
    tags = {t for d in datasets for t in d.tags}  # type: ignore[attr-defined]
    assert {"personal", "phi", "pci"} <= tags
    assert any(d.residency == ["CN"] for d in datasets)  # type: ignore[attr-defined]
    models = [r.spec for r in estate.of_kind("Model").values()]
    assert len(models) >= 6 and any(m.risk_tier == "high" for m in models)  # type: ignore[attr-defined]
    workloads = [r.spec for r in estate.of_kind("Workload").values()]
    assert len(workloads) >= 25
    assert {w.kind for w in workloads} == {  # type: ignore[attr-defined]
        "training",
        "fine_tuning",
        "batch_inference",
        "online_inference",
        "agent",
    }
    assert len(estate.of_kind("Agent")) >= 3
    # A job too big for on-premises capacity: no owned pool has as many devices as it asks.
    biggest = max(w.compute.count for w in workloads)  # type: ignore[attr-defined]
    owned = [p.count for s in sites if s.kind == "on_prem" for p in s.pools]
    assert biggest > max(owned)
    # A latency SLO only an edge site meets (by declared or estimated RTT plus service time).
    copilot = estate.of_kind("Workload")["trading-desk-copilot"].spec
    meeting = [
        s.name
        for s in sites
        if all(
            estate.rtt_ms(s.name, region)[0] + copilot.service_time_ms <= copilot.latency_slo_ms  # type: ignore[attr-defined]
            for region in copilot.serves  # type: ignore[attr-defined]
        )
    ]
    assert meeting == ["par-edge"]


def test_dangling_references_suggest_the_right_name() -> None:
    problem = only_problem(BASE.replace("inputs: [cards]", "inputs: [crads]"))
    assert problem.resource == "Workload/score"
    assert problem.field == "spec.inputs[0]"
    assert problem.message == "Dataset 'crads' does not exist; did you mean 'cards'?"
    assert problem.line == BASE.splitlines().index("  inputs: [cards]") + 1


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ("model: fraud@1.0", "model: fraud@2.0", "spec.model", "has no version '2.0'"),
        ("model: fraud@1.0", "model: frod", "spec.model", "did you mean 'fraud'"),
        ("serves: [eu-users]", "serves: [us-users]", "spec.serves[0]", "UserRegion 'us-users'"),
        ("replicas: [fra-dc1]", "replicas: [fra-dc2]", "spec.replicas[0]", "Site 'fra-dc2'"),
        ("trained_on: [cards]", "trained_on: [cardz]", "spec.versions[0].trained_on[0]", "cards"),
        (
            "accelerators: [H100-SXM]",
            "accelerators: [H100-SMX]",
            "spec.compute.accelerators[0]",
            "did you mean 'H100-SXM'",
        ),
        ("residency: [EEA]", "residency: [EUR]", "spec.residency[0]", "unknown jurisdiction 'EUR'"),
        ("region: us-east-1", "region: us-east-9", "spec.region", "did you mean 'us-east-1'"),
    ],
)
def test_reference_checks(old: str, new: str, field: str, fragment: str) -> None:
    assert old in BASE
    problem = only_problem(BASE.replace(old, new))
    assert problem.field == field
    assert fragment in problem.message


def test_replica_outside_residency_is_an_error() -> None:
    text = BASE.replace(
        "replicas: [fra-dc1], residency: [EEA]", "replicas: [fra-dc1], residency: [US]"
    )
    problem = only_problem(text)
    assert problem.message == "replica at Site/fra-dc1 (DE) is outside the dataset's residency (US)"


def test_replica_above_site_classification_is_an_error() -> None:
    text = BASE.replace("replicas: [fra-dc1], residency: [EEA]", "replicas: [aws-use1]")
    problem = only_problem(text)
    assert (
        "cannot be held at Site/aws-use1, whose max_classification is internal" in problem.message
    )


def test_owned_hardware_must_state_its_price() -> None:
    problem = only_problem(BASE.replace(", usd_per_hour: 2.1}", "}"))
    assert problem.field == "spec.pools[0]"
    assert "never free" in problem.message


def test_duplicate_names_point_at_the_first_declaration() -> None:
    problem = only_problem(
        BASE
        + "---\nkind: UserRegion\nname: eu-users\nspec: {country: DE, location: {latitude: 1, longitude: 1}}\n"
    )
    assert problem.message == "duplicate: already declared at e.yaml:20"


def test_public_cloud_inherits_catalog_values_with_provenance() -> None:
    estate, _ = build(BASE)
    site = estate.sites["aws-use1"]
    assert (site.country, site.pue, site.carbon_intensity_gco2e_per_kwh) == ("US", 1.15, 322.0)
    assert site.pools[0].usd_per_hour == 4.25
    assert site.pools[0].power_w == 700
    assert site.defaults["pue"] == "catalog:regions aws/us-east-1"
    assert site.defaults["pools.h100.usd_per_hour"].startswith("catalog:prices H100-SXM")


def test_manifest_values_override_the_catalog() -> None:
    text = BASE.replace(
        "region: us-east-1\n",
        "region: us-east-1\n  pue: 1.3\n  carbon_intensity_gco2e_per_kwh: 100\n",
    )
    text = text.replace(
        "{name: h100, accelerator: H100-SXM, count: 64}",
        "{name: h100, accelerator: H100-SXM, count: 64, usd_per_hour: 3.3, power_w: 650}",
    )
    estate, problems = build(text)
    assert problems == []
    site = estate.sites["aws-use1"]
    assert (site.pue, site.carbon_intensity_gco2e_per_kwh) == (1.3, 100)
    assert (site.pools[0].usd_per_hour, site.pools[0].power_w) == (3.3, 650)
    assert "pue" not in site.defaults


def test_accelerator_resource_adds_to_the_catalog() -> None:
    custom = "---\nkind: Accelerator\nname: acme-npu\nspec: {vendor: acme, memory_gb: 64, power_w: 300}\n"
    text = (
        BASE.replace("accelerator: H100-SXM, count: 8", "accelerator: acme-npu, count: 8") + custom
    )
    estate, problems = build(text)
    assert problems == []
    assert estate.sites["fra-dc1"].pools[0].memory_gb == 64


def test_on_prem_carbon_defaults_to_country_average() -> None:
    estate, _ = build(BASE)
    site = estate.sites["fra-dc1"]
    assert site.carbon_intensity_gco2e_per_kwh == 381
    assert site.pue == 1.58
    assert site.defaults["carbon_intensity_gco2e_per_kwh"] == "catalog:countries DE"


def test_model_memory_is_estimated_from_parameters() -> None:
    estate, _ = build(BASE)
    resolved = estate.resolved("Model", "fraud")
    assert resolved is not None
    [version] = resolved["versions"]
    assert version["memory_gb"] == pytest.approx(0.2)
    assert version["training_memory_gb"] == pytest.approx(1.8)
