"""The keel command, run as a user runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from keel.estate import demo_manifest_files
from keel.estate.resources import KINDS

DEMO_DOCUMENTS = [
    document
    for _, text in demo_manifest_files()
    for document in yaml.safe_load_all(text)
    if document
]
DEMO_RESOURCES = len(DEMO_DOCUMENTS)
DEMO_WORKLOADS = sum(1 for d in DEMO_DOCUMENTS if d["kind"] == "Workload")
_VERSIONS = [
    (d["name"], v) for d in DEMO_DOCUMENTS if d["kind"] == "Model" for v in d["spec"]["versions"]
]
_SERVING = {"batch_inference", "online_inference", "agent"}
# The first apply registers every model version, records the approvals declared with them, and
# moves each approved version a serving workload uses to deployed.
DEMO_REGISTRY_ENTRIES = (
    len(_VERSIONS)
    + sum(len(v.get("approved_by", [])) for _, v in _VERSIONS)
    + len(
        {
            d["spec"]["model"]
            for d in DEMO_DOCUMENTS
            if d["kind"] == "Workload" and d["spec"]["kind"] in _SERVING
        }
        & {f"{name}@{v['version']}" for name, v in _VERSIONS if v.get("state") == "approved"}
    )
)

DEMO_GOVERNANCE_ENTRIES = 1
"""The first apply creates principals, agents and policy sets: one governance.changed entry."""

KEEL = shutil.which("keel", path=str(Path(sys.executable).parent)) or "keel"


ADMIN = "user:root-ops"
"""The demo's admin: commands act as it unless a test names another principal (or none)."""


def keel(
    *args: str, cwd: Path, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    full_env["KEEL_PRINCIPAL"] = ADMIN
    full_env.update(env or {})
    if not full_env["KEEL_PRINCIPAL"]:
        del full_env["KEEL_PRINCIPAL"]
    return subprocess.run(
        [KEEL, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = keel("demo", "--keep", str(tmp_path / "ws"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"validated {DEMO_RESOURCES} resources: no problems" in result.stdout
    assert f"{DEMO_RESOURCES} created in one transaction" in result.stdout
    assert f"re-applied: {DEMO_RESOURCES} unchanged" in result.stdout
    assert "cn-customer-profiles     CN" in result.stdout
    # Readiness, assessed after planning and at the end: the monitors, lineage, registry and
    # runs of the steps between raise the measured maturity.
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("   readiness ") and "->" in x]
    numbers = re.findall(r"maturity ([\d.]+) -> ([\d.]+)", line)
    assert numbers and float(numbers[0][1]) > float(numbers[0][0]), line
    listed = keel("--workspace", str(tmp_path / "ws"), "get", "sites", cwd=tmp_path)
    assert listed.returncode == 0
    assert "par-edge" in listed.stdout and "8xL4" in listed.stdout


def test_init_then_validate_apply_get(tmp_path: Path) -> None:
    assert keel("init", "estate", cwd=tmp_path).returncode == 0
    again = keel("init", "estate", cwd=tmp_path)
    assert again.returncode == 2 and "already has" in again.stderr
    assert keel("validate", "-f", "estate", cwd=tmp_path).stdout.startswith(
        f"ok: {DEMO_RESOURCES} resources"
    )
    dry = keel("apply", "-f", "estate", "--dry-run", "-v", cwd=tmp_path)
    assert "Site/fra-dc1 created" in dry.stdout  # -v: every resource
    applied = keel("apply", "-f", "estate", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.startswith("KIND") and "Site/fra-dc1" not in applied.stdout  # summary
    assert f"({DEMO_RESOURCES} resources changed; -v lists each" in applied.stdout
    assert (tmp_path / ".keel" / "keel.db").exists()  # default workspace: the current folder
    ingested = keel("lineage", "ingest", "estate/events.jsonl", cwd=tmp_path)  # the tour's file
    assert ingested.returncode == 0 and "events stored" in ingested.stdout, ingested.stderr
    got = json.loads(
        keel("get", "dataset", "cn-customer-profiles", "-o", "json", cwd=tmp_path).stdout
    )
    assert got["spec"]["residency"] == ["CN"]
    assert got["status"]["generation"] == 1
    site = json.loads(keel("get", "site", "gcp-en1", "-o", "json", cwd=tmp_path).stdout)
    assert site["status"]["resolved"]["carbon_intensity_gco2e_per_kwh"] == 46
    listing = json.loads(keel("get", "workloads", "-o", "json", cwd=tmp_path).stdout)
    assert len(listing["items"]) == DEMO_WORKLOADS
    # Every kind has a table view.
    for kind in KINDS:
        table = keel("get", kind, cwd=tmp_path)
        assert table.returncode == 0, (kind, table.stderr)
        names = {d["name"] for d in DEMO_DOCUMENTS if d["kind"] == kind}
        assert all(name in table.stdout for name in names), kind


def test_yaml_output_is_reapplicable(tmp_path: Path) -> None:
    keel("init", "estate", cwd=tmp_path)
    keel("apply", "-f", "estate", cwd=tmp_path)
    exported = keel("get", "site", "-o", "yaml", cwd=tmp_path).stdout
    assert len(list(yaml.safe_load_all(exported))) == 10
    result = keel("apply", "-f", "-", cwd=tmp_path, stdin=exported)
    assert result.returncode == 0, result.stderr
    assert "10 unchanged" in result.stdout


def test_errors_are_located_with_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Site\nname: x\nspec:\n  kind: on_prem\n  countyr: DE\n")
    result = keel("validate", "-f", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert f"{bad}:5: Site/x: spec.countyr: unknown key 'countyr'; did you mean 'country'?" in lines
    assert lines[-2].startswith("error[E-MANIFEST]: ")
    assert lines[-1].startswith("  hint: ")
    assert "Traceback" not in result.stderr


def test_debug_shows_traceback(tmp_path: Path) -> None:
    result = keel("get", "site", "nope", cwd=tmp_path, env={"KEEL_DEBUG": "1"})
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert "is not a Keel workspace" in result.stderr  # nothing here: refused, not created
    assert not (tmp_path / ".keel").exists()


def test_internal_errors_exit_1(tmp_path: Path) -> None:
    result = keel(
        "get",
        "site",
        cwd=tmp_path,
        env={"KEEL_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error[E-STORE]: cannot prepare the database")
    assert "hint:" in result.stderr


def test_a_server_that_is_not_running_is_a_user_error_naming_it(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
        result = keel("--server", url, "get", "sites", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error[E-UNREACHABLE]: cannot reach {url}: connection refused")
    assert "hint: is keel serve running there" in result.stderr
    assert "bug" not in result.stderr


def test_bad_database_url_is_a_config_error(tmp_path: Path) -> None:
    result = keel("get", "site", cwd=tmp_path, env={"KEEL_DATABASE_URL": "mysql://x/y"})
    assert result.returncode == 2
    assert "error[E-CONFIG]: unsupported database 'mysql'" in result.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    result = keel("get", cwd=tmp_path)
    assert result.returncode == 2
    assert "Missing argument" in result.stderr


def test_schema_validates_the_demo_and_rejects_typos(tmp_path: Path) -> None:
    schema = json.loads(keel("schema", cwd=tmp_path).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    keel("init", "estate", cwd=tmp_path)
    documents = [
        d
        for f in sorted((tmp_path / "estate").glob("*.yaml"))
        for d in yaml.safe_load_all(f.read_text())
    ]
    assert len(documents) == DEMO_RESOURCES
    for raw in documents:
        document = json.loads(json.dumps(raw, default=str))
        errors = list(validator.iter_errors(document))
        assert errors == [], (document["name"], [e.message for e in errors])
    typo = {
        "kind": "Dataset",
        "name": "x",
        "spec": {"clasification": "public", "size_gb": 1, "replicas": ["a"]},
    }
    assert list(validator.iter_errors(typo))


def test_thousands_of_files(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    site = "kind: Site\nname: s{i}\nspec: {{kind: edge, country: DE, location: {{latitude: 50, longitude: 8}}, pools: [{{name: p, accelerator: L4, count: 1, usd_per_hour: 0.5}}]}}\n"
    for i in range(3000):
        (folder / f"site-{i:04}.yaml").write_text(site.format(i=i))
    applied = keel("apply", "-f", str(folder), cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr[-2000:]
    assert "3000 created" in applied.stdout
    for i in range(0, 3000, 7):
        (folder / f"site-{i:04}.yaml").write_bytes(os.urandom(64))
    broken = keel("apply", "-f", str(folder), cwd=tmp_path)
    assert broken.returncode == 2
    assert "error[E-MANIFEST]: 429 problems in the manifests" in broken.stderr
    assert "site-0007.yaml" in broken.stderr
    after = keel("get", "site", "s7", "-o", "json", cwd=tmp_path)
    assert json.loads(after.stdout)["status"]["generation"] == 1


@pytest.mark.parametrize("stdin", ["", "\x00\x01\x02", "kind: Site\n" * 3])
def test_stdin_garbage(tmp_path: Path, stdin: str) -> None:
    result = keel("apply", "-f", "-", cwd=tmp_path, stdin=stdin)
    assert result.returncode == 2
    assert "error[E-" in result.stderr


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, f"{prefix}{name} ")
        else:
            found.append((f"{prefix}{name}", command))
    return found


def test_every_output_option_is_a_format_with_json_and_yaml() -> None:
    """-o means a format everywhere, and every command that prints data offers json and yaml."""
    from enum import Enum

    import typer.main

    from keel.cli.main import app

    root = typer.main.get_command(app)
    with_output = {}
    for name, command in _commands(root):
        for param in command.params:
            if "-o" in getattr(param, "opts", []):
                assert param.name == "output", f"keel {name}: -o is {param.name}, not a format"
                kind = param.type_descriptor.annotation
                assert isinstance(kind, type) and issubclass(kind, Enum), f"keel {name}: any text"
                with_output[name] = {member.value for member in kind}
    for name, choices in with_output.items():
        if name != "model factsheet":  # a document: md, json or html
            assert {"table", "json", "yaml"} <= choices, f"keel {name}: {sorted(choices)}"
    prints_data = {"get", "plan", "model list", "model show", "monitor alerts", "monitor run",
                   "token list", "lineage show", "lineage impact", "ledger verify", "policy packs",
                   "policy eval", "access check", "drift"}  # fmt: skip
    assert prints_data <= set(with_output)
