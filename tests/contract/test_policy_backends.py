"""Policy in force on each store backend: admission, placement, run-time change, attribution."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.errors import DeniedError, ManifestError
from keel.estate import demo_manifest_files
from keel.service import Workspace, access, apply_manifests, ledger, load_estate, planning, policy
from keel.service.actor import Actor

CUSTOM = """\
kind: PolicySet
name: house-rules
spec:
  modules:
    - name: no-kyc-in-amsterdam
      rego: |
        package house.kyc

        import rego.v1

        deny contains {"site": "ams-private", "rule": "house.kyc", "message": "not here"} if {
          input.workload.name == "kyc-agent"
        }
"""

BROKEN = CUSTOM.replace('input.workload.name == "kyc-agent"', "input.workload.name ==")

SYSTEM = Actor.system("tests")
"""Trusted: these tests exercise the store, not access control."""


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def placed(result: planning.PlanResult) -> dict[str, set[str]]:
    sites: dict[str, set[str]] = {}
    for p in result.plan.placements:
        sites.setdefault(p.workload, set()).add(p.site)
    return sites


def test_the_demo_policy_keeps_cn_data_in_cn_and_restricted_data_on_premises(
    workspace: Workspace, demo_dir: Path
) -> None:
    apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
    result = planning.compute_plan(workspace)
    estate = load_estate(workspace)
    datasets = estate.of_kind("Dataset")
    for workload, sites in placed(result).items():
        inputs = estate.of_kind("Workload")[workload].spec.inputs  # type: ignore[attr-defined]
        specs = [datasets[d].spec for d in inputs]
        for site in sites:
            resolved = estate.sites[site]
            if any(s.collected_in == "CN" and "personal" in s.tags for s in specs):  # type: ignore[attr-defined]
                assert resolved.country == "CN", (workload, site)
            if any(s.classification == "restricted" for s in specs):  # type: ignore[attr-defined]
                assert resolved.kind == "on_prem", (workload, site)
    why = planning.explain_workload(result, "cn-risk-retrain")
    assert "policy:pipl.localisation" in why["rejected"]["fra-dc1"]
    assert why["policy"]["policy_digest"] == result.plan.policy_digest
    # Every decision in the ledger names the policy set that made it.
    _, first = planning.commit_plan(workspace, result, actor=SYSTEM)
    entries = [item.entry for item in ledger.show(workspace, first, 100)]
    assert {e["policy_digest"] for e in entries} == {policy.engine_for(estate).digest}


def test_a_prohibited_model_is_refused_at_apply_and_nothing_changes(
    workspace: Workspace, demo_dir: Path, tmp_path: Path
) -> None:
    before = apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
    refused = tmp_path / "refused"
    for name, text in demo_manifest_files("demo_refused"):
        write(refused, name, text)
    with pytest.raises(DeniedError) as caught:
        apply_manifests(workspace, [str(refused)], actor=SYSTEM)
    # Both the compliance policy and the registry refuse it: a prohibited model, and a draft
    # version behind an online workload.
    problem, draft = caught.value.problems
    assert problem.resource == "Workload/staff-sentiment-monitor"
    assert problem.path.endswith("staff-sentiment-monitor.yaml") and problem.line == 4
    assert "eu_ai_act.prohibited" in problem.message
    assert draft.field == "spec.model" and "is draft" in draft.message
    assert apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM).revision == before.revision
    assert "staff-sentiment-monitor" not in load_estate(workspace).of_kind("Workload")


def test_a_new_policy_set_takes_effect_on_the_next_decision(
    workspace: Workspace, demo_dir: Path, tmp_path: Path
) -> None:
    apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
    first = planning.compute_plan(workspace)
    assert "ams-private" in placed(first)["kyc-agent"]
    _, first_index = planning.commit_plan(workspace, first, actor=SYSTEM)
    apply_manifests(workspace, [str(write(tmp_path / "p", "house.yaml", CUSTOM))], actor=SYSTEM)
    second = planning.compute_plan(workspace)
    assert "ams-private" not in placed(second)["kyc-agent"]
    assert second.plan.policy_digest != first.plan.policy_digest
    why = planning.explain_workload(second, "kyc-agent")
    assert "policy:house.kyc" in why["rejected"]["ams-private"]
    # The old decision stays attributable to the policy set that made it.
    _, second_index = planning.commit_plan(workspace, second, actor=SYSTEM)
    old = ledger.show(workspace, first_index, 1)[0].entry
    new = ledger.show(workspace, second_index, 1)[0].entry
    assert old["type"] == new["type"] == "plan.committed"
    assert old["policy_digest"] == first.plan.policy_digest
    assert new["policy_digest"] == second.plan.policy_digest


def test_a_broken_policy_is_rejected_with_its_line_and_the_old_one_stays(
    workspace: Workspace, demo_dir: Path, tmp_path: Path
) -> None:
    apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
    good = write(tmp_path / "p", "house.yaml", CUSTOM)
    apply_manifests(workspace, [str(good)], actor=SYSTEM)
    in_force = planning.compute_plan(workspace)
    broken = write(tmp_path / "q", "house.yaml", BROKEN)
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(broken)], actor=SYSTEM)
    (problem,) = caught.value.problems
    assert problem.path == str(broken)
    assert BROKEN.splitlines()[problem.line - 1].strip() == "input.workload.name =="
    assert problem.resource == "PolicySet/house-rules"
    after = planning.compute_plan(workspace)
    assert after.plan.policy_digest == in_force.plan.policy_digest
    assert "ams-private" not in placed(after)["kyc-agent"]


def test_a_change_that_makes_stored_workloads_denied_warns(
    workspace: Workspace, demo_dir: Path, tmp_path: Path
) -> None:
    apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
    models = (demo_dir / "models.yaml").read_text(encoding="utf-8")
    name = "name: credit-scoring\n"
    start = models.index(name)
    end = models.index("risk_tier: high", start)
    changed = models[:end] + "risk_tier: prohibited" + models[end + len("risk_tier: high") :]
    result = apply_manifests(
        workspace, [str(write(tmp_path / "m", "models.yaml", changed))], actor=SYSTEM
    )
    assert result.count("configured") == 1
    denied = [w for w in result.warnings if "now denied by eu_ai_act.prohibited" in w]
    assert any("Workload/credit-decision-api" in w for w in denied)
    plan = planning.compute_plan(workspace).plan
    assert "credit-decision-api" in {u.workload for u in plan.unplaced}


FREEZE = """\
kind: PolicySet
name: change-freeze
spec:
  access:
    - name: freeze
      cedar: |
        @id("freeze.no_site_changes")
        forbid (principal, action == Keel::Action::"apply", resource is Keel::Site);
"""


def test_custom_access_policy_takes_effect_and_a_broken_one_is_refused(
    workspace: Workspace, demo_dir: Path, tmp_path: Path
) -> None:
    apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
    assert access.check(workspace, "user:bob", "apply", "Site/fra-dc1").allowed
    apply_manifests(workspace, [str(write(tmp_path / "a", "freeze.yaml", FREEZE))], actor=SYSTEM)
    decision = access.check(workspace, "user:bob", "apply", "Site/fra-dc1")
    assert not decision.allowed and decision.policies == ("freeze.no_site_changes",)
    broken = write(
        tmp_path / "b", "freeze.yaml", FREEZE.replace("is Keel::Site", "is Keel::Planet")
    )
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(broken)], actor=SYSTEM)
    problem = caught.value.problems[0]
    assert (problem.path, problem.line) == (str(broken), 6)
    assert problem.field == "spec.access[0].cedar"
    assert "freeze.no_site_changes" in problem.message and "Keel::Planet" in problem.message
    assert not access.check(workspace, "user:bob", "apply", "Site/fra-dc1").allowed


def test_a_module_from_a_file_is_stored_inline_and_errors_point_into_the_file(
    workspace: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "team"
    manifest = write(
        folder,
        "set.yaml",
        "kind: PolicySet\nname: team\nspec:\n  modules:\n    - {name: gpu, file: gpu.rego}\n",
    )
    module = write(folder, "gpu.rego", "package team.gpu\n\nimport rego.v1\n\nx := time.now_ns()\n")
    with pytest.raises(ManifestError) as caught:
        apply_manifests(workspace, [str(manifest)], actor=SYSTEM)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == (str(module), 5) and "time.now_ns" in problem.message
    module.write_text("package team.gpu\n\nimport rego.v1\n\nx := 1\n")
    apply_manifests(workspace, [str(manifest)], actor=SYSTEM)
    module.unlink()  # the stored policy does not depend on the file any more
    stored = load_estate(workspace).of_kind("PolicySet")["team"].spec
    assert stored.modules[0].rego.endswith("x := 1\n")  # type: ignore[attr-defined]
    with pytest.raises(ManifestError, match="1 problem") as missing:
        apply_manifests(workspace, [str(manifest)], actor=SYSTEM)
    assert "cannot read" in missing.value.problems[0].message
