"""Every CLI command that reads or changes state works against a live ``keel serve``.

One body and one renderer per command: with ``--server`` only the operations' implementation
changes, so a read prints the same text remotely as locally. Commands that only work on local
files are listed, as data, in :data:`keel.operations.LOCAL_ONLY`, and refuse ``--server``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from conftest import ROLES, Server, run
from keel.cli.main import app
from keel.cli.output import report_error
from keel.operations import LOCAL_ONLY
from live_server import KEEL, keel_serve

EVENT = {
    "eventType": "COMPLETE",
    "eventTime": "2026-11-28T12:00:00+00:00",
    "producer": "https://example.com/test",
    "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json",
    "run": {"runId": "21111111-2222-4333-8444-555555555555"},
    "job": {"namespace": "remote", "name": "cli"},
    "inputs": [{"namespace": "keel", "name": "eu-customer-profiles"}],
    "outputs": [{"namespace": "keel", "name": "remote-features"}],
}

DECISION = {
    "id": "remote-1",
    "model": "credit-scoring@3.1",
    "workload": "credit-decision-api",
    "input_digest": "sha256:" + "ab" * 32,
    "output": {"decision": "approve"},
    "explanation": {"reason_codes": ["R2"]},
    "subject": "cust-remote",
}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _commands(group: typer.Typer, prefix: str = "") -> set[str]:
    found = {
        prefix + (c.name or c.callback.__name__).replace("_", "-")
        for c in group.registered_commands
    }  # type: ignore[union-attr]
    for sub in group.registered_groups:
        found |= _commands(sub.typer_instance, f"{prefix}{sub.name} ")  # type: ignore[arg-type]
        info = sub.typer_instance.registered_callback  # type: ignore[union-attr]
        if info is not None and info.invoke_without_command:  # a group that is a command too
            found.add(f"{prefix}{sub.name}")
    return found


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("remote") / "ws"
    assert run("demo", "--keep", str(root), cwd=root.parent).returncode == 0
    keys = {}
    for role in ROLES:
        made = run("token", "create", "--name", f"{role}-key", "--role", role, cwd=root)
        keys[role] = made.stdout.strip()
    with keel_serve(root, "--rate-limit", "1000", "--auth-failure-rate", "1000") as url:
        yield Server(url, root, keys)


def _invoke(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI in this process (start-up would cost seconds per command in a subprocess)."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("KEEL_")}
    with contextlib.chdir(cwd):
        done = CliRunner().invoke(app, list(args), env=unset | env)
    if done.exception is None or isinstance(done.exception, SystemExit):
        return subprocess.CompletedProcess(list(args), done.exit_code, done.stdout, done.stderr)
    printed = io.StringIO()  # as the console script does: keel.cli.main.run
    with contextlib.redirect_stderr(printed):
        code = report_error(done.exception)
    return subprocess.CompletedProcess(list(args), code, done.stdout, printed.getvalue())


def remote(
    served: Server, tmp: Path, *args: str, who: str = "admin"
) -> subprocess.CompletedProcess[str]:
    return _invoke(*args, cwd=tmp, env={"KEEL_SERVER": served.url, "KEEL_TOKEN": served.keys[who]})


def local(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return _invoke(*args, cwd=cwd, env={"KEEL_PRINCIPAL": "user:root-ops"})


def _waiting_approval(root: Path) -> tuple[subprocess.Popen[str], int]:
    """The demo's KYC session through the gateway, once its case waits: (process, id)."""
    import time

    folder = root / "manifests"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    session = subprocess.Popen(
        [KEEL, "agents", "session", "kyc-review-agent", "--servers", str(folder / "gateway.json"),
         "--calls", str(folder / "sessions" / "kyc-review-agent.json")],
        cwd=root, env={**env, "KEEL_PRINCIPAL": "user:root-ops"}, text=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        found = json.loads(ok(local("agents", "approvals", "-o", "json", cwd=root)))["approvals"]
        if found:
            return session, int(found[0]["id"])
        assert time.monotonic() < deadline and session.poll() is None
        time.sleep(0.3)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}: {done.stderr}"
    return done.stdout


def _this_time(text: str) -> str:
    """Blank what differs between two runs: how long a policy took (or that this process had
    decided the same input before, as another test may have), when a sheet was made."""
    text = re.sub(r"\((\d+(\.\d+)? ms|an earlier evaluation)\)", "(ms)", text)
    return re.sub(r'"generated_at": "[^"]+"', '"generated_at": ""', text)


def test_every_state_command_runs_against_the_server(  # noqa: PLR0915 (one command each)
    served: Server, tmp_path: Path
) -> None:
    tried: set[str] = set()

    def both(*args: str, command: str | None = None) -> None:
        """A read: the same output remotely as on the workspace itself."""
        tried.add(command or " ".join(a for a in args[:2] if not a.startswith("-")))
        there = _this_time(ok(remote(served, tmp_path, *args)))
        assert there == _this_time(ok(local(*args, cwd=served.root))), args

    def once(*args: str, command: str, who: str = "admin") -> str:
        tried.add(command)
        return ok(remote(served, tmp_path, *args, who=who))

    both("get", "sites", command="get")
    both("get", "site", "fra-dc1", "-o", "yaml", command="get")
    both("model", "list")
    both("model", "show", "credit-scoring@3.2", "-o", "json")
    both("lineage", "show", "dataset:eu-customer-profiles", "--depth", "2")
    both("lineage", "impact", "dataset:eu-customer-profiles", "-o", "json")
    both("policy", "eval", "--workload", "cn-risk-retrain")
    both("access", "check", "--as", "user:erin", "--action", "approve",
         "--resource", "ModelVersion/credit-scoring@3.1")  # fmt: skip
    both("monitor", "alerts", "--all")
    both("monitor", "metrics")
    both("ledger", "pubkey")
    both("token", "list")
    both("plan", "--explain", "trading-desk-copilot", command="plan")
    both("model", "factsheet", "credit-scoring@3.2", "-o", "json")

    site = tmp_path / "site.yaml"
    site.write_text((served.root / "manifests" / "sites.yaml").read_text())
    assert "unchanged" in once("apply", "-f", str(site), command="apply")
    assert once("apply", "-f", str(site), "--dry-run", "-o", "json", command="apply")
    (tmp_path / "region.yaml").write_text(
        "kind: UserRegion\nname: remote-users\nspec: {country: FR, location:"
        " {latitude: 48.8, longitude: 2.3}, users: 10}\n"
    )
    assert "created" in once("apply", "-f", str(tmp_path / "region.yaml"), command="apply")
    assert "deleted" in once("delete", "userregion", "remote-users", command="delete")
    assert "committed plan" in once("plan", "--commit", command="plan")
    assert "against plan" in once("plan", "--diff", command="plan")
    shown = once("ledger", "show", "--from", "0", "--limit", "2", command="ledger show")
    assert all("personal" not in json.loads(line) for line in shown.splitlines())  # commitments
    assert "ok:" in once("ledger", "verify", command="ledger verify")
    assert "keel.local/ledger/" in once("ledger", "checkpoint", command="ledger checkpoint")
    proof = tmp_path / "e3.tlog-proof"
    assert "wrote" in once("ledger", "prove", "3", "--out", str(proof), command="ledger prove")
    key = tmp_path / "keel.pub"
    key.write_text(once("ledger", "pubkey", command="ledger pubkey"))
    assert "ok: entry 3" in ok(local("ledger", "verify-proof", str(proof), "--key", str(key),
                                   cwd=tmp_path))  # fmt: skip
    assert "Monitor/" in once("monitor", "run", command="monitor run")
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(EVENT) + "\n")
    assert "1 events stored" in once("lineage", "ingest", str(events), command="lineage ingest")
    assert "retrain" in once("lineage", "erase", "dataset:remote-features", "--reason", "test",
                             command="lineage erase")  # fmt: skip
    ref = "fraud-detector@7.1"
    once("model", "evaluate", ref, "--benchmark", "auc=0.9", "--probe", "evasion=pass",
         command="model evaluate", who="operator")  # fmt: skip
    assert "validated" in once("model", "promote", ref, "--to", "validated",
                               command="model promote", who="operator")  # fmt: skip
    assert "approved by service_account:token:approver-key" in once(
        "model", "approve", ref, command="model approve", who="approver"
    )
    assert "fraud-detector@champion -> 7.1" in once("model", "alias", ref, "champion",
                                                    command="model alias")  # fmt: skip
    made = remote(served, tmp_path, "token", "create", "--name", "remote", "--role", "viewer")
    tried.add("token create")
    assert ok(made).startswith("keel_")
    assert "revoked" in once("token", "revoke", "remote", command="token revoke")
    entries = json.loads(ok(local("ledger", "show", "--from", "0", "--limit", "1000",
                                cwd=served.root)).splitlines()[-1])  # fmt: skip
    commitment = next(iter(entries["entry"]["personal"].values()))
    assert "erased" in once("ledger", "erase", commitment, "--reason", "test",
                            command="ledger erase")  # fmt: skip
    both("runs", "--all")
    both("runs", "logs", "nightly-aml-scoring", command="runs logs")
    assert "would" in once("dispatch", "--dry-run", command="dispatch")
    refused = remote(served, tmp_path, "dispatch", who="operator")
    assert refused.returncode == 2 and "E-FORBIDDEN" in refused.stderr  # a local cluster
    assert "Cluster/workstation is local" in refused.stderr
    assert "cancelled 0 runs" in once("runs", "cancel", command="runs cancel")
    assert "readiness" in once("readiness", command="readiness", who="operator")
    both("readiness", "--latest", "-o", "json", command="readiness")
    records = tmp_path / "decisions.jsonl"
    records.write_text(json.dumps(DECISION | {"decided_at": _now()}) + "\n")
    assert "stored 1 records" in once("decisions", "record", str(records),
                                      command="decisions record", who="operator")  # fmt: skip
    both("decisions", "show", "remote-1", "-o", "json")
    both("decisions", "subject", "cust-remote")
    both("decisions", "sheet", "remote-1")
    both("decisions", "summary", "--model", "credit-scoring", "--since", "2026-01-01T00:00:00Z",
         "--until", "2099-01-01T00:00:00Z")  # fmt: skip
    decision_proof, opening = tmp_path / "d.tlog-proof", tmp_path / "d.json"
    once("decisions", "prove", "remote-1", "--out", str(decision_proof), "--opening",
         str(opening), command="decisions prove")  # fmt: skip
    checked = ok(local("ledger", "verify-proof", str(decision_proof), "--key", str(key),
                       "--opening", str(opening), cwd=tmp_path))  # fmt: skip
    assert '"subject":"cust-remote"' in checked
    assert "pruned 0 records" in once("decisions", "prune", command="decisions prune")
    assert "erased the contents of 1 records" in once(
        "decisions", "erase", "--subject", "cust-remote", "--reason", "test",
        command="decisions erase",
    )  # fmt: skip
    both("monitor", "actions", "-o", "json")
    both("monitor", "serving", "credit-decision-api")
    # The demo's rollback (action 1) was approved by erin; ask for another and decide it.
    assert "rolled back by action 1" in once("monitor", "serving", "credit-decision-api",
                                              command="monitor serving")  # fmt: skip
    refused = remote(served, tmp_path, "monitor", "approve", "1", who="approver")
    assert refused.returncode == 2 and "is applied: nothing to decide" in refused.stderr
    tried.add("monitor approve")
    refused = remote(served, tmp_path, "monitor", "reject", "1", "--reason", "r", who="operator")
    assert refused.returncode == 2 and "E-FORBIDDEN" in refused.stderr  # operators may not
    tried.add("monitor reject")
    assert "serves credit-scoring@3.1" in once("monitor", "release", "credit-decision-api",
                                               "--reason", "fixed", command="monitor release")  # fmt: skip
    from daily_cycle import two_classes

    trace = two_classes(tmp_path, 3, seed=8)
    ok(local("capacity", "advise", str(trace), "--like", "*=doc-search-api", "--horizon", "12h",
             "--no-check", cwd=served.root))  # fmt: skip
    both("capacity", "advice", "-o", "json", command="capacity advice")
    both("capacity", "advice", "--list", command="capacity advice")
    tool_calls = tmp_path / "calls.json"
    tool_calls.write_text(json.dumps([{"id": "r1", "type": "function",
                                       "function": {"name": "crm-read", "arguments": "{}"}}]))  # fmt: skip
    assert "1 allowed" in once("agents", "check", "kyc-review-agent", "--calls",
                               str(tool_calls), command="agents check", who="operator")  # fmt: skip
    answers = tmp_path / "results.json"
    answers.write_text(json.dumps([{"role": "tool", "tool_call_id": "r1",
                                    "content": "card 4111 1111 1111 1111"}]))  # fmt: skip
    assert "1 redacted" in once("agents", "check", "kyc-review-agent", "--results",
                                str(answers), command="agents check", who="operator")  # fmt: skip
    both("agents", "calls", "kyc-review-agent", command="agents calls")
    both("agents", "duplicates", "-o", "json", command="agents duplicates")
    both("agents", "approvals", "--state", "all", command="agents approvals")
    waiting = _waiting_approval(served.root)
    assert "approved by service_account:token:approver-key" in once(
        "agents",
        "approve",
        str(waiting[1]),
        "--reason",
        "remote",
        command="agents approve",
        who="approver",
    )
    assert waiting[0].wait(timeout=60) == 0
    new_key = once("ledger", "rotate-key", command="ledger rotate-key")
    assert new_key.strip() == ok(local("ledger", "pubkey", cwd=served.root)).strip()

    stateful = _commands(app) - set(LOCAL_ONLY)
    assert tried == stateful, f"not tried remotely: {sorted(stateful - tried)}"


@pytest.mark.parametrize("command", sorted(LOCAL_ONLY))
def test_local_only_commands_refuse_a_server(served: Server, tmp_path: Path, command: str) -> None:
    args = {
        "init": ["init", "x"],
        "demo": ["demo"],
        "validate": ["validate", "-f", "x.yaml"],
        "schema": ["schema"],
        "drift": ["drift", "--reference", "a.parquet", "--current", "b.parquet"],
        "sketch": ["sketch", "a.parquet", "--out", "a.json"],
        "serve": ["serve"],
        "policy test": ["policy", "test"],
        "policy packs": ["policy", "packs"],
        "ledger verify-proof": ["ledger", "verify-proof", "p", "--key", "k"],
        "grid show": ["grid", "show", "DE-LU", "--data", "."],
        "capacity history": ["capacity", "history", "t.csv"],
        "capacity forecast": ["capacity", "forecast", "t.csv"],
        "capacity simulate": ["capacity", "simulate", "t.csv", "--like", "*=w"],
        "capacity advise": ["capacity", "advise", "t.csv", "--like", "*=w"],
        "gateway": ["gateway", "kyc-review-agent", "--servers", "g.yaml"],
        "agents session": ["agents", "session", "a", "--servers", "g.yaml", "--calls", "c.json"],
    }[command]
    refused = remote(served, tmp_path, *args)
    assert refused.returncode == 2 and "drop --server" in refused.stderr, refused.stderr
    assert not (tmp_path / ".keel").exists() and not (tmp_path / "x").exists()
