"""keel gateway end to end: a real MCP client -> `keel gateway` -> the bank tools' MCP server.

Over stdio (the client starts the gateway, which starts the server) and over streamable
HTTP (the gateway as a server on loopback, keys checked); every call lands in the ledger and
in `keel agents calls` without the values it carried.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from test_cli import ADMIN, keel

from live_server import KEEL, clean_env

PHONE = "+48 601 234 567"


def workspace(root: Path) -> Path:
    assert keel("init", "estate", cwd=root).returncode == 0
    assert keel("apply", "-f", "estate", cwd=root).returncode == 0
    config = root / "gateway.yaml"
    config.write_text(
        "servers:\n"
        f"  bank: {{command: [{sys.executable}, -m, keel.gateway.bank_tools], timeout_s: 20}}\n"
        "tools:\n"
        "  crm-read: {returns: restricted}\n"
        "  ticket-update: {sink: internal}\n"
        "  case-create: {sink: confidential}\n"
    )
    return config


def session(client_of: Any, script: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def main() -> None:
        async with client_of() as client:
            seen["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
            seen["calls"] = [await client.call_tool(tool, args) for tool, args in script]

    anyio.run(main)
    return seen


CN_SCRIPT = [
    ("ticket-update", {"ticket": "T-9", "comment": f"customer asks to call {PHONE}"}),
    ("crm-read", {"customer_id": "C-1002"}),
    ("ticket-update", {"ticket": "T-9", "comment": "Wei Zhang, 5555 5555 5555 4444"}),
    ("email-send", {"to": "x@example.com", "body": "hello"}),
]


def check_recorded(root: Path, agent: str) -> list[dict[str, Any]]:
    shown = keel("agents", "calls", agent, "-o", "json", cwd=root)
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout)
    calls: list[dict[str, Any]] = list(reversed(found["calls"]))
    first = calls[0]["ledger_index"]
    ledger = keel("ledger", "show", "--from", str(first), "--limit", "10", cwd=root).stdout
    # Whole values: a short run of digits such as "5555" may occur in a hex digest by chance.
    assert "601 234" not in ledger and "5555 5555" not in ledger and "Wei" not in ledger
    entries = [json.loads(line)["entry"] for line in ledger.splitlines()]
    assert [e["type"] for e in entries] == ["agent.tool_call"] * len(calls)
    assert {e["via"] for e in entries} == {"mcp"}
    return calls


def test_stdio_gateway_filters_redacts_blocks_and_records(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    params = StdioServerParameters(
        command=KEEL,
        args=["gateway", "cn-service-agent", "--servers", str(config)],
        env=clean_env(KEEL_PRINCIPAL=ADMIN),
        cwd=str(tmp_path),
    )
    seen = session(lambda: Client(params), CN_SCRIPT)
    assert seen["tools"] == ["crm-read", "ticket-update"]
    first, read, leak, email = seen["calls"]
    assert "[PHONE]" in first.content[0].text and PHONE not in first.content[0].text
    assert "Wei Zhang" in read.content[0].text  # the agent may hold restricted data
    assert leak.is_error and "taint.exfiltration:restricted>internal" in leak.content[0].text
    assert email.is_error and "tool.not_granted" in email.content[0].text
    calls = check_recorded(tmp_path, "cn-service-agent")
    assert [c["decision"] for c in calls] == ["redact", "allow", "block", "block"]
    assert [c["outcome"] for c in calls] == ["ok", "ok", "not_run", "not_run"]
    assert len({c["session"] for c in calls}) == 1


FREEZE = """kind: PolicySet
name: crm-freeze
spec:
  access:
    - name: freeze
      cedar: |
        @id("crm.frozen")
        forbid (principal, action == Keel::Action::"call", resource == Keel::Tool::"crm-read")
        when { context.arguments has customer_id && context.arguments.customer_id != "C-1002" };
"""


def test_a_policy_applied_while_the_gateway_runs_decides_its_next_calls(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    (tmp_path / "freeze.yaml").write_text(FREEZE)
    params = StdioServerParameters(
        command=KEEL,
        args=["gateway", "cn-service-agent", "--servers", str(config)],
        env=clean_env(KEEL_PRINCIPAL=ADMIN),
        cwd=str(tmp_path),
    )
    seen: list[Any] = []

    async def main() -> None:
        async with Client(params) as client:
            seen.append(await client.call_tool("crm-read", {"customer_id": "C-1001"}))
            applied = await anyio.to_thread.run_sync(
                lambda: keel("apply", "-f", "freeze.yaml", cwd=tmp_path)
            )
            assert applied.returncode == 0, applied.stderr
            await anyio.sleep(1.2)  # the gateway reads the estate's revision once a second
            seen.append(await client.call_tool("crm-read", {"customer_id": "C-1001"}))
            seen.append(await client.call_tool("crm-read", {"customer_id": "C-1002"}))

    anyio.run(main)
    before, after, other = seen
    assert not before.is_error and not other.is_error
    assert after.is_error and "policy.forbid:crm.frozen" in after.content[0].text
    shown = keel("agents", "calls", "cn-service-agent", "-o", "json", cwd=tmp_path).stdout
    calls = list(reversed(json.loads(shown)["calls"]))
    assert [c["reasons"] for c in calls] == [[], ["policy.forbid:crm.frozen"], []]


def test_stdio_gateway_refuses_a_viewer_and_a_bad_file_before_serving(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    viewer = keel("gateway", "cn-service-agent", "--servers", str(config), cwd=tmp_path,
                  env={"KEEL_PRINCIPAL": "user:dana"})  # fmt: skip
    assert viewer.returncode != 0 and "E-FORBIDDEN" in viewer.stderr and viewer.stdout == ""
    bad = tmp_path / "bad.yaml"
    bad.write_text("servers:\n  bank: {command: [x], url: http://h/mcp}\n")
    wrong = keel("gateway", "cn-service-agent", "--servers", str(bad), cwd=tmp_path)
    assert wrong.returncode != 0 and "servers.bank" in wrong.stderr
    assert "either command (stdio) or url" in wrong.stderr
    remote = keel("gateway", "cn-service-agent", "--servers", str(config), cwd=tmp_path,
                  env={"KEEL_SERVER": "http://127.0.0.1:9"})  # fmt: skip
    assert remote.returncode != 0 and "drop --server" in remote.stderr


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _key(root: Path, name: str, role: str) -> str:
    which = ["--agent", role] if role.endswith("-agent") else ["--role", role]
    made = keel("token", "create", "--name", name, *which, cwd=root)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _http_gateway(root: Path, agent: str, config: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``keel gateway AGENT --http PORT``, once it answers; and its URL."""
    port = _port()
    process = subprocess.Popen(
        [KEEL, "gateway", agent, "--servers", str(config), "--http", str(port)],
        cwd=root,
        env=clean_env(KEEL_PRINCIPAL=ADMIN),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.post(url, json={}, timeout=2)
            return process, url
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise AssertionError("the HTTP gateway did not start") from None
            time.sleep(0.1)


def test_a_gateway_reaches_a_server_behind_a_key_from_its_environment(tmp_path: Path) -> None:
    """A stdio gateway in front of an HTTP gateway (a server that needs a key): the key comes
    from the environment through ``headers``, never from the file."""
    config = workspace(tmp_path)
    own = _key(tmp_path, "kyc-own", "kyc-review-agent")
    process, url = _http_gateway(tmp_path, "kyc-review-agent", config)
    front = tmp_path / "front.yaml"
    front.write_text(
        f"servers:\n  inner: {{url: '{url}', headers: {{Authorization: 'Bearer ${{KYC_KEY}}'}}}}\n"
    )
    try:
        unset = keel("gateway", "kyc-review-agent", "--servers", str(front), cwd=tmp_path,
                     stdin="")  # fmt: skip
        assert unset.returncode != 0
        assert "servers.inner.headers.Authorization: the environment variable KYC_KEY" in (
            unset.stderr
        )
        wrong = keel("gateway", "kyc-review-agent", "--servers", str(front), cwd=tmp_path,
                     stdin="", env={"KYC_KEY": "keel_x_y"})  # fmt: skip
        assert wrong.returncode != 0 and "server inner: cannot start it" in wrong.stderr
        params = StdioServerParameters(
            command=KEEL,
            args=["gateway", "kyc-review-agent", "--servers", str(front)],
            env=clean_env(KEEL_PRINCIPAL=ADMIN, KYC_KEY=own),
            cwd=str(tmp_path),
        )
        seen = session(lambda: Client(params), [("sanctions-screening", {"name": "Marta Nowak"})])
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert seen["tools"] == ["case-create", "crm-read", "sanctions-screening"]
    (screened,) = seen["calls"]
    assert not screened.is_error, screened
    calls = keel("agents", "calls", "kyc-review-agent", "-o", "json", cwd=tmp_path).stdout
    first = min(c["ledger_index"] for c in json.loads(calls)["calls"])
    shown = keel("ledger", "show", "--from", str(first), cwd=tmp_path).stdout
    entries = [json.loads(line)["entry"] for line in shown.splitlines()]
    callers = [e.get("caller") for e in entries if e["type"] == "agent.tool_call"]
    assert len(callers) == 2 and set(callers) == {"agent:kyc-review-agent", None}  # inner, front
    assert own not in shown


def test_http_gateway_needs_an_operator_key_and_survives_garbage(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    operator, viewer = _key(tmp_path, "agent-runner", "operator"), _key(tmp_path, "v", "viewer")
    own, other = (
        _key(tmp_path, "kyc-own", "kyc-review-agent"),
        _key(tmp_path, "cn", "cn-service-agent"),
    )
    process, url = _http_gateway(tmp_path, "kyc-review-agent", config)
    try:
        assert httpx.post(url, json={}, timeout=2).status_code == 401
        wrong = httpx.post(url, json={}, headers={"Authorization": f"Bearer {other}"})
        assert wrong.status_code == 403 and "belongs to agent cn-service-agent" in wrong.text
        assert (
            httpx.post(url, json={}, headers={"Authorization": f"Bearer {viewer}"}).status_code
            == 403
        )
        auth = {"Authorization": f"Bearer {operator}", "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json"}  # fmt: skip
        garbage = httpx.post(url, content=b"{not json", headers=auth, timeout=5)
        assert 400 <= garbage.status_code < 500

        def client() -> Client:  # the agent's own key
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {own}"})
            return Client(streamable_http_client(url, http_client=http))

        seen = session(client, [
            ("crm-read", {"customer_id": "C-1001"}),
            ("case-create", {"customer_id": "C-1001", "note": f"call {PHONE}"}),
            ("sanctions-screening", {"name": "Marta Nowak"}),
        ])  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert seen["tools"] == ["case-create", "crm-read", "sanctions-screening"]
    read, case, screening = seen["calls"]
    assert read.is_error and "result.above_ceiling:restricted>confidential" in read.content[0].text
    assert not case.is_error and not screening.is_error
    calls = check_recorded(tmp_path, "kyc-review-agent")
    assert [c["decision"] for c in calls] == ["block", "redact", "allow"]
    first = str(calls[0]["ledger_index"])
    shown = keel("ledger", "show", "--from", first, "--limit", "3", cwd=tmp_path).stdout
    assert {json.loads(line)["entry"]["caller"] for line in shown.splitlines()} == {
        "agent:kyc-review-agent"
    }
    everything = keel("ledger", "show", "--from", "0", "--limit", "1000", cwd=tmp_path).stdout
    denied = [json.loads(line)["entry"] for line in everything.splitlines()]
    assert {"type": "access.denied", "principal": "agent:cn-service-agent", "action": "deploy",
            "resource": "Agent/kyc-review-agent", "policies": []} in denied  # fmt: skip
    listed = json.loads(keel("token", "list", "-o", "json", cwd=tmp_path).stdout)["tokens"]
    mine = next(t for t in listed if t["name"] == "kyc-own")
    assert mine["role"] == "agent" and mine["principal"] == "agent:kyc-review-agent"
    bad = keel("token", "create", "--name", "x", "--agent", "kyc-agent", cwd=tmp_path)
    assert bad.returncode != 0 and "no agent 'kyc-agent'" in bad.stderr
    assert "kyc-review-agent" in bad.stderr


def test_a_high_impact_call_waits_for_an_approver_other_than_the_runner(tmp_path: Path) -> None:
    config = workspace(tmp_path)
    config.write_text(
        config.read_text().replace(
            "case-create: {sink: confidential}",
            "case-create: {sink: confidential, approval: true}",
        )
        + "approval_timeout_s: 90\n"
    )
    calls = tmp_path / "calls.json"
    note = {"customer_id": "C-1001", "note": f"call {PHONE}"}
    calls.write_text(json.dumps([
        {"id": "1", "type": "function",
         "function": {"name": "case-create", "arguments": json.dumps(note)}},
    ]))  # fmt: skip
    outcomes = {}
    for decide in ("approve", "deny"):
        session_run = subprocess.Popen(
            [KEEL, "agents", "session", "kyc-review-agent", "--servers", str(config),
             "--calls", str(calls), "-o", "json"],
            cwd=tmp_path, env=clean_env(KEEL_PRINCIPAL=ADMIN), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            listed = json.loads(keel("agents", "approvals", "-o", "json", cwd=tmp_path).stdout)
            if listed["approvals"]:
                break
            assert time.monotonic() < deadline and session_run.poll() is None
            time.sleep(0.3)
        (waiting,) = listed["approvals"]
        assert waiting["arguments"] == {"customer_id": "C-1001", "note": "call [PHONE]"}
        assert waiting["requested_by"] == ADMIN and waiting["tool"] == "case-create"
        seen_by_viewer = keel("agents", "approvals", "-o", "json", cwd=tmp_path,
                              env={"KEEL_PRINCIPAL": "user:dana"})  # fmt: skip
        (unseen,) = json.loads(seen_by_viewer.stdout)["approvals"]
        assert unseen["id"] == waiting["id"] and unseen["arguments"] is None  # may not decide
        number = str(waiting["id"])
        runner = keel("agents", "approve", number, cwd=tmp_path)  # the admin runs the gateway
        assert runner.returncode != 0 and "separation of duties" in runner.stderr
        viewer = keel(
            "agents", "approve", number, cwd=tmp_path, env={"KEEL_PRINCIPAL": "user:dana"}
        )
        assert viewer.returncode != 0 and "E-FORBIDDEN" in viewer.stderr
        extra = ["--deny", "--reason", "not now"] if decide == "deny" else []
        erin = keel("agents", "approve", number, *extra, cwd=tmp_path,
                    env={"KEEL_PRINCIPAL": "user:erin"})  # fmt: skip
        assert erin.returncode == 0, erin.stderr
        out, err = session_run.communicate(timeout=60)
        assert session_run.returncode == 0, err
        (outcomes[decide],) = json.loads(out)["calls"]
        again = keel("agents", "approve", number, cwd=tmp_path, env={"KEEL_PRINCIPAL": "user:erin"})
        assert again.returncode != 0 and "not pending" in again.stderr
    assert outcomes["approve"]["decision"] == "redact" and outcomes["approve"]["outcome"] == "ok"
    assert outcomes["approve"]["reasons"][-1].startswith("approval.granted:")
    assert outcomes["deny"]["decision"] == "block" and outcomes["deny"]["outcome"] == "not_run"
    decided = json.loads(keel("agents", "approvals", "--state", "all", "-o", "json",
                              cwd=tmp_path).stdout)["approvals"]  # fmt: skip
    assert [a["state"] for a in decided] == ["denied", "approved"]
    assert all(a["arguments"] is None and a["decided_by"] == "user:erin" for a in decided)
    shown = keel("ledger", "show", "--from", "0", "--limit", "1000", cwd=tmp_path).stdout
    assert shown.count('"agent.approval_decided"') == 2 and "601 234" not in shown


def test_tools_serving_datasets_are_checked_by_the_access_policy(tmp_path: Path) -> None:
    workspace(tmp_path)
    config = tmp_path / "datasets.yaml"
    config.write_text(
        "servers:\n"
        f"  bank: {{command: [{sys.executable}, -m, keel.gateway.bank_tools]}}\n"
        "tools:\n"
        "  crm-read: {reads: [cn-customer-profiles]}\n"
        "  ticket-update: {sink: internal}\n"
    )
    script = tmp_path / "script.json"
    script.write_text(json.dumps([
        {"id": str(i), "type": "function", "function": {"name": tool, "arguments": json.dumps(a)}}
        for i, (tool, a) in enumerate([
            ("crm-read", {"customer_id": "C-1002"}),
            ("ticket-update", {"ticket": "T-1", "comment": "done"}),
        ])
    ]))  # fmt: skip

    def session_of(agent: str) -> list[dict[str, Any]]:
        done = keel("agents", "session", agent, "--servers", str(config), "--calls", str(script),
                    "-o", "json", cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout)["calls"])

    read, update = session_of("cn-service-agent")  # granted the PIPL data: Cedar permits
    assert read["decision"] == "allow" and read["taint"] == "restricted"  # the dataset's class
    assert update["reasons"] == ["taint.exfiltration:restricted>internal"]
    refused, _ = session_of("kyc-review-agent")  # not granted: Cedar refuses
    assert refused["decision"] == "block" and refused["outcome"] == "not_run"
    assert "dataset.refused:cn-customer-profiles" in refused["reasons"]
    config.write_text(config.read_text().replace("cn-customer-profiles", "cn-customers"))
    bad = keel("agents", "session", "cn-service-agent", "--servers", str(config), "--calls",
               str(script), cwd=tmp_path)  # fmt: skip
    assert bad.returncode != 0 and "tools.crm-read.reads: no dataset 'cn-customers'" in bad.stderr
