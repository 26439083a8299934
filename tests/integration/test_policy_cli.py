"""``keel policy`` as a user runs it: Rego tests, one workload's decision, the packs."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import keel

MODULE = """package team.gpu

import rego.v1

deny contains {"rule": "team.no_edge_training", "message": "no training at the edge"} if {
	input.workload.kind == "training"
	input.site_kind == "edge"
}
"""

TESTS = """package team.gpu_test

import rego.v1

import data.team.gpu

test_training_at_the_edge_is_denied if {
	count(gpu.deny) == 1 with input.workload as {"kind": "training"} with input.site_kind as "edge"
}

test_inference_at_the_edge_is_allowed if {
	count(gpu.deny) == 1 with input.workload as {"kind": "online_inference"} with input.site_kind as "edge"
}
"""


def test_policy_test_runs_the_shipped_packs_tests(tmp_path: Path) -> None:
    done = keel("policy", "test", "-v", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (
        "PASS: data.keel.packs.gdpr_test.test_eea_personal_data_stays_in_eea_or_adequacy"
        in done.stdout
    )
    assert done.stdout.strip().splitlines()[-1].startswith("PASS: ")


def test_policy_test_on_a_folder_reports_failures_with_exit_1(tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "gpu.rego").write_text(MODULE)
    (folder / "gpu_test.rego").write_text(TESTS)
    done = keel("policy", "test", str(folder), cwd=tmp_path)
    assert done.returncode == 1
    assert "FAIL: data.team.gpu_test.test_inference_at_the_edge_is_allowed" in done.stdout
    assert "test_training_at_the_edge_is_denied" not in done.stdout  # passes, not listed
    assert done.stdout.strip().endswith("FAIL: 1/2")


def test_policy_test_names_the_file_and_line_of_a_broken_module(tmp_path: Path) -> None:
    (tmp_path / "bad.rego").write_text(
        "package bad\n\nimport rego.v1\n\nallow if {\n  input.x ==\n}\n"
    )
    (tmp_path / "net.rego").write_text(
        'package net\n\nimport rego.v1\n\nok if net.cidr_contains("10.0.0.0/8", input.ip)\n'
    )
    done = keel("policy", "test", str(tmp_path / "bad.rego"), cwd=tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / 'bad.rego'}:6:" in done.stderr
    assert "error[E-POLICY]" in done.stderr
    done = keel("policy", "test", str(tmp_path / "net.rego"), cwd=tmp_path)
    assert done.returncode == 2
    assert f"{tmp_path / 'net.rego'}:5: built-in net.cidr_contains is not allowed" in done.stderr
    missing = keel("policy", "test", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_policy_eval_and_explain_name_the_rules(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert keel("demo", "--keep", str(ws), cwd=tmp_path).returncode == 0
    text = keel("-w", str(ws), "policy", "eval", "--workload", "cn-risk-retrain", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "Workload/cn-risk-retrain: allowed" in text.stdout
    assert "deny pipl.localisation: personal information collected in China" in text.stdout
    decision = json.loads(
        keel(
            "-w",
            str(ws),
            "policy",
            "eval",
            "--workload",
            "cn-risk-retrain",
            "-o",
            "json",
            cwd=tmp_path,
        ).stdout
    )
    denied_sites = {d["site"] for d in decision["deny"] if d["rule"] == "pipl.localisation"}
    assert "sha-dc1" not in denied_sites and {"fra-dc1", "ams-private"} <= denied_sites
    explained = keel(
        "-w", str(ws), "plan", "--explain", "cn-risk-retrain", "--no-commit", cwd=tmp_path
    )
    assert "policy:pipl.localisation" in explained.stdout
    unknown = keel("-w", str(ws), "policy", "eval", "--workload", "cn-risk-retrian", cwd=tmp_path)
    assert unknown.returncode == 2 and "did you mean 'cn-risk-retrain'" in unknown.stderr


def test_policy_packs_lists_every_pack(tmp_path: Path) -> None:
    done = keel("policy", "packs", cwd=tmp_path)
    assert done.returncode == 0
    for pack in ("gdpr", "pipl", "hipaa", "pci_dss", "classification", "eu_ai_act"):
        assert f"\n{pack} " in done.stdout


def test_access_check_exits_0_when_allowed_and_1_when_denied(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert keel("demo", "--keep", str(ws), cwd=tmp_path).returncode == 0
    base = ["-w", str(ws), "access", "check", "--action", "approve"]
    version = ["--resource", "ModelVersion/credit-scoring@3.2"]
    denied = keel(*base, "--as", "user:alice", *version, cwd=tmp_path)
    assert denied.returncode == 1
    assert (
        "denied: user:alice approve ModelVersion/credit-scoring@3.2 (by sod.no_self_approval)"
        in denied.stdout
    )
    allowed = keel(*base, "--as", "user:erin", *version, "-o", "json", cwd=tmp_path)
    assert allowed.returncode == 0
    assert json.loads(allowed.stdout) == {
        "principal": "user:erin",
        "action": "approve",
        "resource": "ModelVersion/credit-scoring@3.2",
        "allowed": True,
        "policies": ["approver.approve"],
        "errors": [],
    }
    missing = keel(
        *base, "--as", "user:erin", "--resource", "ModelVersion/credit-scoring@9", cwd=tmp_path
    )
    assert missing.returncode == 2 and "E-NOT-FOUND" in missing.stderr
