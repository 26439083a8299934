"""The MCP gateway in process: a real MCP client, the gateway, real MCP servers over stdio.

Each test starts the servers as subprocesses (as the gateway does in production) and talks to
the gateway in process through the SDK's client, so every check runs on real MCP messages.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from keel.errors import UserError
from keel.gateway.calls import Call
from keel.gateway.proxy import Gateway
from keel.gateway.screening import Rules
from keel.gateway.upstreams import Upstreams
from keel.policy.access.engine import AccessEngine
from keel.policy.access.tools import ToolCallPolicy, ToolLabels, tool_entity
from keel.service.agent_gateway import GroupCommit

TROUBLED = str(Path(__file__).parents[1] / "fixtures" / "mcp" / "troubled_tools.py")
BANK = [sys.executable, "-m", "keel.gateway.bank_tools"]


def upstreams(**servers: dict[str, Any]) -> Upstreams:
    return Upstreams.model_validate({
        "servers": servers,
        "tools": {
            "crm-read": {"returns": "restricted"},
            "ticket-update": {"sink": "internal"},
            "case-create": {"sink": "confidential"},
            "echo": {"sink": "restricted"},
        },
    })  # fmt: skip


def policy_for(tools: set[str], custom: str | None = None) -> Callable[..., ToolCallPolicy]:
    """The access policy for agent-x, its manifest granting ``tools`` (the baseline decides)."""

    def build(routes: dict[str, str]) -> ToolCallPolicy:
        agent = {
            "uid": {"type": "Keel::Agent", "id": "agent-x"},
            "attrs": {"name": "agent-x", "owner": "o", "autonomy": "supervised", "datasets": [],
                      "tools": sorted(tools), "max_classification_rank": 3},
            "parents": [],
        }  # fmt: skip
        found = [agent] + [tool_entity(t, ToolLabels(s)) for t, s in routes.items()]
        engine = AccessEngine(found, {"custom": custom} if custom else None)
        return ToolCallPolicy(engine, "agent-x", routes)

    return build


def run(
    tools: set[str],
    ceiling: str,
    config: Upstreams,
    script: Callable[[Client, Gateway], Any],
    *,
    record: Callable[[Call], Any] | None = None,
    approvals: Any = None,
    custom: str | None = None,
) -> list[Call]:
    recorded: list[Call] = []

    async def keep(call: Call) -> int:
        if record is not None:
            record(call)
        recorded.append(call)
        return len(recorded)

    async def main() -> None:
        gateway = Gateway("agent-x", Rules(), policy_for(tools, custom), ceiling, config,  # type: ignore[arg-type]
                          record=keep, approvals=approvals)  # fmt: skip
        async with gateway, Client(gateway.server()) as client:
            await script(client, gateway)

    anyio.run(main)
    return recorded


def text(result: Any) -> str:
    return str(result.content[0].text)


def test_listing_is_filtered_and_taint_blocks_exfiltration_after_restricted_data() -> None:
    seen: dict[str, Any] = {}

    async def script(client: Client, gateway: Gateway) -> None:
        seen["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
        seen["before"] = await client.call_tool("ticket-update", {"ticket": "T1", "comment": "ok"})
        seen["read"] = await client.call_tool("crm-read", {"customer_id": "C-1002"})
        seen["after"] = await client.call_tool("ticket-update", {"ticket": "T1", "comment": "hi"})
        seen["kept"] = await client.call_tool("echo-missing", {})

    calls = run({"crm-read", "ticket-update"}, "restricted", upstreams(bank={"command": BANK}),
                script)  # fmt: skip
    assert seen["tools"] == ["crm-read", "ticket-update"]  # email-send and others hidden
    assert not seen["before"].is_error and not seen["read"].is_error
    assert "5555 5555 5555 4444" in text(seen["read"])  # labelled restricted, ceiling allows
    assert seen["after"].is_error and "taint.exfiltration:restricted>internal" in text(
        seen["after"]
    )
    assert [c.decision for c in calls] == ["allow", "allow", "block", "block"]
    assert calls[1].taint == "restricted" and calls[1].result_found["card"] >= 1
    assert calls[2].outcome == "not_run" and calls[2].arguments is None
    assert calls[0].tainted_by is None and calls[2].tainted_by == "crm-read"
    assert calls[3].reasons == ["tool.not_granted", "tool.unknown",
                                "taint.exfiltration:restricted>public"]  # fmt: skip


def test_ceiling_and_arguments_are_checked_before_the_server_sees_the_call() -> None:
    seen: dict[str, Any] = {}

    async def script(client: Client, gateway: Gateway) -> None:
        seen["read"] = await client.call_tool("crm-read", {"customer_id": "C-1001"})
        seen["case"] = await client.call_tool(
            "case-create", {"customer_id": "C-1001", "note": "call +48 601 234 567"}
        )
        seen["key"] = await client.call_tool(
            "case-create", {"customer_id": "C-1", "note": "ghp_" + "a" * 36}
        )
        seen["big"] = await client.call_tool(
            "case-create", {"customer_id": "C", "note": "n" * 70_000}
        )

    calls = run({"crm-read", "case-create"}, "confidential", upstreams(bank={"command": BANK}),
                script)  # fmt: skip
    assert seen["read"].is_error and "result.above_ceiling:restricted>confidential" in text(
        seen["read"]
    )
    assert not seen["case"].is_error and calls[1].decision == "redact"
    assert calls[1].arguments == {"customer_id": "C-1001", "note": "call [PHONE]"}
    assert seen["key"].is_error and calls[2].reasons == ["secret.in_arguments"]
    assert seen["big"].is_error and calls[3].reasons == ["arguments.too_large"]
    assert [c.outcome for c in calls] == ["not_run", "ok", "not_run", "not_run"]


def test_cedar_decides_each_call_on_its_arguments_and_the_session_budget() -> None:
    """Custom policies on the ``call`` action: an argument constraint and a session budget;
    what they forbid never reaches the server, and a policy that errs blocks (fail closed)."""
    rules = """@id("cases.for.eu.customers")
    forbid (principal, action == Keel::Action::"call", resource == Keel::Tool::"case-create")
    unless { context.arguments has customer_id && context.arguments.customer_id like "C-1*" };

    @id("tickets.budget")
    forbid (principal, action == Keel::Action::"call", resource == Keel::Tool::"ticket-update")
    when { context.session_calls >= 2 };

    @id("tickets.short")
    forbid (principal, action == Keel::Action::"call", resource == Keel::Tool::"ticket-update")
    when { context.arguments has priority && context.arguments.priority > 3 };"""
    seen: dict[str, Any] = {}

    async def script(client: Client, gateway: Gateway) -> None:
        seen["tools"] = sorted(t.name for t in (await client.list_tools()).tools)
        seen["eu"] = await client.call_tool("case-create", {"customer_id": "C-1001", "note": "a"})
        seen["other"] = await client.call_tool("case-create", {"customer_id": "X-9", "note": "b"})
        seen["typed"] = await client.call_tool(
            "ticket-update", {"ticket": "T1", "comment": "c", "priority": "high"}
        )
        seen["second"] = await client.call_tool("ticket-update", {"ticket": "T1", "comment": "d"})
        seen["third"] = await client.call_tool("ticket-update", {"ticket": "T1", "comment": "e"})

    calls = run({"case-create", "ticket-update"}, "confidential",
                upstreams(bank={"command": BANK}), script, custom=rules)  # fmt: skip
    assert seen["tools"] == ["ticket-update"]  # case-create needs a customer: not listed bare
    assert not seen["eu"].is_error and seen["other"].is_error
    assert calls[1].reasons == ["policy.forbid:cases.for.eu.customers"]
    assert calls[2].reasons == ["policy.error:tickets.short"] and "high" not in str(calls[2])
    assert not seen["second"].is_error  # the session's second forwarded call
    assert calls[4].reasons == ["policy.forbid:tickets.budget"]
    assert [c.outcome for c in calls] == ["ok", "not_run", "not_run", "ok", "not_run"]


def test_results_are_scanned_and_what_cannot_be_scanned_is_withheld() -> None:
    seen: dict[str, Any] = {}

    async def script(client: Client, gateway: Gateway) -> None:
        for tool in ("leak", "picture", "huge", "echo"):
            seen[tool] = await client.call_tool(tool, {"text": "plain"} if tool == "echo" else {})

    calls = run({"leak", "picture", "huge", "echo"}, "internal",
                upstreams(troubled={"command": [sys.executable, TROUBLED]}), script)  # fmt: skip
    assert not seen["leak"].is_error
    assert text(seen["leak"]) == "key [SECRET] for [PHONE]"
    assert seen["leak"].structured_content == {"result": "key [SECRET] for [PHONE]"}
    assert calls[0].reasons == ["result.redacted:phone", "result.redacted:secret"]
    assert seen["picture"].is_error and calls[1].reasons == ["result.unscannable:image"]
    assert seen["huge"].is_error and calls[2].reasons == ["result.too_large"]
    assert text(seen["echo"]) == "plain" and calls[3].decision == "allow"
    assert calls[0].taint == "public"  # the personal data was redacted: nothing tainted


def test_a_hanging_or_dying_server_fails_the_call_not_the_gateway() -> None:
    seen: dict[str, Any] = {}

    async def script(client: Client, gateway: Gateway) -> None:
        seen["hang"] = await client.call_tool("hang", {})
        seen["echo"] = await client.call_tool("echo", {"text": "still here"})
        seen["die"] = await client.call_tool("die", {})
        seen["after"] = await client.call_tool("echo", {"text": "again"})
        seen["tools"] = [t.name for t in (await client.list_tools()).tools]

    config = upstreams(troubled={"command": [sys.executable, TROUBLED], "timeout_s": 1.5})
    calls = run({"hang", "echo", "die"}, "internal", config, script)
    assert seen["hang"].is_error and calls[0].outcome == "timeout"
    assert calls[0].reasons == ["server.timeout"] and calls[0].arguments == {}
    assert text(seen["echo"]) == "still here"
    assert seen["die"].is_error and calls[2].outcome == "server_failed"
    assert seen["after"].is_error and calls[3].reasons == ["server.failed"]
    assert seen["tools"] == ["echo", "hang", "die"]


def test_a_call_that_cannot_be_recorded_is_refused() -> None:
    def fail(call: Call) -> None:
        raise OSError("disk full")

    async def script(client: Client, gateway: Gateway) -> None:
        answer = await client.call_tool("echo", {"text": "secret plan"})
        assert answer.is_error and "secret plan" not in str(answer)

    run({"echo"}, "internal", upstreams(troubled={"command": [sys.executable, TROUBLED]}), script,
        record=fail)  # fmt: skip


def test_a_server_that_does_not_start_or_clashes_is_a_clear_error() -> None:
    async def nothing(client: Client, gateway: Gateway) -> None:
        raise AssertionError("unreachable")

    with pytest.raises(UserError, match="server ghost: cannot start it"):
        run(set(), "internal", upstreams(ghost={"command": ["/nonexistent/mcp-server"]}), nothing)
    both = upstreams(a={"command": BANK}, b={"command": BANK})
    with pytest.raises(UserError, match="offered by servers a and b"):
        run(set(), "internal", both, nothing)


def test_group_commit_writes_concurrent_calls_in_batches_with_consecutive_indices() -> None:
    batches: list[int] = []

    def write(batch: list[Call]) -> int:
        anyio.from_thread.run_sync(lambda: None)  # a real thread hop, as a database write
        batches.append(len(batch))
        return 100 + sum(batches[:-1])

    commit = GroupCommit(write)
    got: dict[str, int] = {}

    async def one(i: int) -> None:
        got[f"c{i}"] = await commit.record(Call("a", "s", f"c{i}", "t", None))

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for i in range(50):
                group.start_soon(one, i)

    anyio.run(main)
    assert sum(batches) == 50 and len(batches) < 50
    assert sorted(got.values()) == list(range(100, 150))


def test_group_commit_failure_reaches_every_waiter() -> None:
    def write(batch: list[Call]) -> int:
        raise OSError("database gone")

    commit = GroupCommit(write)
    errors: list[BaseException] = []

    async def one(i: int) -> None:
        try:
            await commit.record(Call("a", "s", f"c{i}", "t", None))
        except OSError as exc:
            errors.append(exc)

    async def main() -> None:
        async with anyio.create_task_group() as group:
            for i in range(10):
                group.start_soon(one, i)

    anyio.run(main)
    assert len(errors) == 10


class Approver:
    """Approvals answered at once, as a fixed approver would."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.asked: list[tuple[str, object]] = []

    async def request(self, call: Call, arguments: object) -> int:
        self.asked.append((call.tool, arguments))
        return len(self.asked)

    async def outcome(self, approval_id: int, timeout_s: float) -> str:
        assert timeout_s == 300
        return self.answer


def test_high_impact_calls_wait_for_an_approver_with_redacted_arguments() -> None:
    config = Upstreams.model_validate({
        "servers": {"bank": {"command": BANK}},
        "tools": {"case-create": {"sink": "confidential", "approval": True}},
    })  # fmt: skip
    note = {"customer_id": "C-1", "note": "call +48 601 234 567"}
    seen: dict[str, Any] = {}

    async def script(client: Client, gateway: Gateway) -> None:
        seen["answer"] = await client.call_tool("case-create", note)

    for answer, decision in [("approved", "redact"), ("denied", "block"), ("expired", "block")]:
        approver = Approver(answer)
        (call,) = run({"case-create"}, "confidential", config, script, approvals=approver)
        assert approver.asked == [("case-create", {"customer_id": "C-1", "note": "call [PHONE]"})]
        assert call.decision == decision and seen["answer"].is_error == (decision == "block")
        if answer == "approved":
            assert call.reasons[-1] == "approval.granted:1" and call.outcome == "ok"
        else:
            assert call.reasons[-1] == f"approval.{answer}:1" and call.outcome == "not_run"
    (alone,) = run({"case-create"}, "confidential", config, script)
    assert alone.reasons[-1] == "approval.unavailable" and alone.decision == "block"


def test_budgets_and_rates_block_calls_beyond_them() -> None:
    config = Upstreams.model_validate({
        "servers": {"troubled": {"command": [sys.executable, TROUBLED]}},
        "tools": {"echo": {"calls_per_minute": 2}},
        "calls_per_session": 3,
    })  # fmt: skip

    async def script(client: Client, gateway: Gateway) -> None:
        for tool in ("echo", "echo", "echo", "leak", "echo"):
            await client.call_tool(tool, {"text": "x"} if tool == "echo" else {})

    calls = run({"echo", "leak"}, "internal", config, script)
    assert [c.decision for c in calls] == ["allow", "allow", "block", "redact", "block"]
    assert calls[2].reasons == ["rate.tool:2/min"] and calls[2].outcome == "not_run"
    assert calls[4].reasons == ["budget.session:3", "rate.tool:2/min"]


def test_each_call_is_an_opentelemetry_genai_span() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the first test in this process to trace
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async def script(client: Client, gateway: Gateway) -> None:
        await client.call_tool("crm-read", {"customer_id": "C-1001"})
        await client.call_tool("email-send", {"to": "a@example.com", "body": "hi"})

    calls = run({"crm-read"}, "restricted", upstreams(bank={"command": BANK}), script)
    spans = [s for s in exporter.get_finished_spans() if s.name.startswith("execute_tool")]
    assert [s.name for s in spans] == ["execute_tool crm-read", "execute_tool email-send"]
    read, email = (dict(s.attributes or {}) for s in spans)
    assert (
        read["gen_ai.operation.name"] == "execute_tool" and read["gen_ai.agent.name"] == "agent-x"
    )
    assert read["keel.decision"] == "allow" and read["keel.taint"] == "restricted"
    assert read["keel.ledger_index"] == 1 and read["gen_ai.tool.call.id"] == calls[0].request_id
    assert email["keel.decision"] == "block" and email["error.type"] == "tool.not_granted"
    assert spans[1].status.status_code == trace.StatusCode.ERROR
    assert "C-1001" not in str([s.attributes for s in spans])  # no arguments in spans


def test_overlong_tool_names_are_refused_and_recorded_cut() -> None:
    seen: dict[str, Any] = {}

    async def script(client: Client, gateway: Gateway) -> None:
        seen["answer"] = await client.call_tool("x" * 5000, {})

    (call,) = run({"echo"}, "internal", upstreams(troubled={"command": [sys.executable, TROUBLED]}),
                  script)  # fmt: skip
    assert seen["answer"].is_error and call.reasons == ["call.name_too_long"]
    assert call.tool == "x" * 128 and call.outcome == "not_run"


def test_a_stdio_server_gets_its_env_from_the_gateways_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = Upstreams.model_validate({
        "servers": {"troubled": {"command": [sys.executable, TROUBLED],
                                 "env": {"TROUBLED_TOKEN": "t-${KEEL_TEST_TOKEN}"}}},
    })  # fmt: skip
    seen: dict[str, Any] = {}

    async def script(client: Client, gateway: Gateway) -> None:
        seen["token"] = await client.call_tool("getenv", {"name": "TROUBLED_TOKEN"})
        seen["other"] = await client.call_tool("getenv", {"name": "KEEL_TEST_TOKEN"})

    monkeypatch.setenv("KEEL_TEST_TOKEN", "s3cr3t")
    run({"getenv"}, "internal", config, script)
    assert text(seen["token"]) == "t-s3cr3t"
    assert text(seen["other"]) == "(unset)"  # only what the file names reaches the server
    monkeypatch.delenv("KEEL_TEST_TOKEN")
    with pytest.raises(UserError, match=r"servers\.troubled\.env\.TROUBLED_TOKEN: the "
                       "environment variable KEEL_TEST_TOKEN is not set"):  # fmt: skip
        run({"getenv"}, "internal", config, script)


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ({"command": ["x"], "headers": {"A": "b"}}, "headers are for a url"),
        ({"url": "http://127.0.0.1:9/mcp", "env": {"A": "b"}}, "env is for a command"),
        (
            {
                "url": "http://127.0.0.1:9/mcp",
                "headers": {"Authorization": "Bearer ghp_" + "a1B2" * 9},
            },
            "headers.Authorization holds a key",
        ),
        ({"command": ["x"], "env": {"AWS": "AKIAIOSFODNN7EXAMPLE"}}, "env.AWS holds a key"),
        ({"url": "http://127.0.0.1:9/mcp", "headers": {"bad header": "x"}}, "headers.bad header"),
    ],
)
def test_server_credentials_in_the_file_are_refused(server: dict[str, Any], message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        Upstreams.model_validate({"servers": {"s": server}})
