"""Agent gateway: the verdict on one tool call, in process (issue 20).

1. **Detectors.** Times ``keel.gateway.screening.screen`` (every detector on every string of
   the arguments) on three kinds of calls: clean arguments, arguments with personal data to
   redact, and arguments with a key to block; and on the labelled corpus. Baseline in the
   same run: the same detectors with ``detect-secrets``' own scanner (``scan_line`` under its
   settings, as its documentation shows) instead of the pattern plugins called directly.
2. **Cedar rules.** Times the access policy's decision on a call
   (:class:`keel.policy.access.tools.ToolCallPolicy`), 1,000 agents round robin over 20
   tools: the baseline policy alone (decided once per tool: no policy reads the context);
   100 rules on arguments, budgets and rates spread over the tools; and 100 rules on one
   tool. Baseline in the same run: the same requests decided by Cedar over every policy (no
   narrowing), as ``cedarpy.is_authorized`` is called with a whole policy set. Then the whole
   verdict (detectors and Cedar with 100 rules) on the clean call.

Prints p50 and p99 in ms, and decisions per second on one core, next to the figures Microsoft
publishes for its Agent Governance Toolkit (0.011 ms p50 for one rule, 0.108 ms p99 for 100
rules, 47,085 decisions/s with 1,000 agents): policy rules without content scanning.

Then the added latency of a proxied MCP call: the same tool calls from a real MCP client over
stdio, to the bank tools' MCP server directly (the baseline) and through ``keel gateway``
(its checks, the result scan and the ledger entry committed to SQLite before the answer).

    python bench/gateway.py [--calls 20000] [--mcp-calls 300]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import anyio
import numpy as np

from keel.gateway import detectors
from keel.gateway.screening import Rules, screen
from keel.policy.access.engine import CALL, AccessEngine, Request
from keel.policy.access.tools import ToolCallPolicy, ToolLabels, reasons, tool_entity

Calls = list[tuple[str, dict[str, Any]]]
CALLS: dict[str, Calls] = {
    "clean": [("crm-read", {"customer_id": "C-1042", "fields": ["name", "segment", "limits"]})],
    "personal": [
        (
            "case-create",
            {
                "note": "customer asks to move card 4111 1111 1111 1111 to DE89 3704 0044 0532 0130 00",
                "callback": "+49 30 901820",
            },
        )
    ],
    "key": [("sanctions-screening", {"query": "ACME Ltd", "auth": "AKIAIOSFODNN7EXAMPLE"})],
}
"""The three calls the detectors were profiled and sped up on."""
CORPUS = Path(__file__).parents[1] / "tests" / "fixtures" / "tool_calls" / "corpus.jsonl"


def corpus_calls() -> Calls:
    """The labelled corpus (written for precision and recall, not for speed): one call each."""
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [("case-create", {"note": json.loads(line)["text"]}) for line in lines if line]


def _scanner_secrets(text: str) -> Iterator[tuple[int, int]]:
    """The baseline: detect-secrets' scanner, its settings entered for each string."""
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    plugins = {"plugins_used": [{"name": name} for name in detectors._SECRET_PLUGINS]}
    with transient_settings(plugins):
        for start, line in detectors._lines(text):
            for _found in scan_line(line):
                yield start, start + len(line)


def _unfiltered_secrets(text: str) -> Iterator[tuple[int, int]]:
    """The plugins on every line, without Keel's prefilter (what ``_secrets`` did before)."""
    plugins = detectors._secret_plugins()
    for start, line in detectors._lines(text):
        for plugin in plugins:
            for _found in plugin.analyze_line(filename="arguments", line=line, line_number=1):
                yield start, start + len(line)


def timed(kinds: dict[str, Calls], calls: int) -> dict[str, tuple[float, float, float]]:
    """Per kind of call: p50 and p99 in ms, and verdicts per second (calls taken in turn)."""
    return {label: _screened(batch, calls) for label, batch in kinds.items()}


def _screened(batch: Calls, calls: int) -> tuple[float, float, float]:
    rules = Rules()
    return _clock(lambda k: screen(rules, batch[k % len(batch)][1]), calls)


def _clock(decide: Any, calls: int) -> tuple[float, float, float]:
    """p50 and p99 in ms and decisions per second of ``decide(k)`` for k in 0..calls-1."""
    for k in range(200):  # warm up
        decide(k)
    times = np.empty(calls)
    began = time.perf_counter()
    for k in range(calls):
        start = time.perf_counter_ns()
        decide(k)
        times[k] = time.perf_counter_ns() - start
    elapsed = time.perf_counter() - began
    return (
        float(np.percentile(times, 50)) / 1e6,
        float(np.percentile(times, 99)) / 1e6,
        calls / elapsed,
    )


AGENTS = [f"agent-{i:04d}" for i in range(1_000)]
TOOLS = [f"tool-{i:02d}" for i in range(20)]
CLEAN = {"customer_id": "C-1042", "fields": ["name", "segment", "limits"], "limit": 5}
USAGE = {"session_calls": 12, "agent_calls_last_minute": 3, "tool_calls_last_minute": 1}


def _rule(k: int, tool: str) -> str:
    """One of four kinds of rule on ``tool`` (none forbids the clean call: all are evaluated)."""
    scope = f'action == Keel::Action::"call", resource == Keel::Tool::"{tool}"'
    return [
        f"forbid (principal, {scope})"
        f" when {{ context.arguments has limit && context.arguments.limit > {100 + k} }};",
        f"forbid (principal, {scope}) when {{ context.session_calls >= {1_000 + k} }};",
        f"forbid (principal, {scope}) when {{ context.arguments has customer_id &&"
        f' context.arguments.customer_id like "X-{k}*" }};',
        f'forbid (principal == Keel::Agent::"{AGENTS[k]}", {scope})'
        " when { context.tool_calls_last_minute > 50 };",
    ][(k // len(TOOLS)) % 4]  # each tool gets every kind


def rule_sets() -> dict[str, str | None]:
    """The policies timed: none but the baseline, 100 spread over the tools, 100 on one."""
    return {
        "baseline only": None,
        "100 rules, 20 tools": "\n".join(
            f'@id("r{k}") {_rule(k, TOOLS[k % len(TOOLS)])}' for k in range(100)
        ),
        "100 rules, one tool": "\n".join(f'@id("r{k}") {_rule(k, TOOLS[0])}' for k in range(100)),
    }


def _agents() -> list[dict[str, Any]]:
    return [
        {
            "uid": {"type": "Keel::Agent", "id": agent},
            "attrs": {
                "name": agent,
                "owner": "o",
                "autonomy": "supervised",
                "datasets": [],
                "tools": TOOLS,
                "max_classification_rank": 2,
            },
            "parents": [],
        }
        for agent in AGENTS
    ] + [tool_entity(tool, ToolLabels("bank")) for tool in TOOLS]


Timing = tuple[float, float, float]


def _one_set(
    custom: str | None, one_tool: bool, calls: int
) -> tuple[Timing, Timing, float, list[ToolCallPolicy]]:
    """Keel's decisions and Cedar over every policy, on the same requests (checked equal)."""
    engine = AccessEngine(_agents(), {"rules": custom} if custom else None)
    began = time.perf_counter()
    policies = [ToolCallPolicy(engine, agent, TOOLS) for agent in AGENTS]
    built = time.perf_counter() - began

    def tool(k: int) -> str:
        return TOOLS[0] if one_tool else TOOLS[k % len(TOOLS)]

    def ours(k: int) -> list[str]:
        return policies[k % len(AGENTS)].decide(tool(k), CLEAN, USAGE)

    context = {"arguments": CLEAN, "via": "mcp", "session_taint_rank": 0, **USAGE}

    def whole(k: int) -> list[str]:
        asked = Request(("Agent", AGENTS[k % len(AGENTS)]), CALL, ("Tool", tool(k)), context)
        return reasons(engine.authorize(asked))

    assert all(ours(k) == whole(k) == [] for k in range(500)), "the two must agree"
    return _clock(ours, calls), _clock(whole, max(calls // 4, 500)), built, policies


def cedar_timed(calls: int) -> None:
    """The access policy's decision per call, narrowed and cached, against Cedar over all."""
    print("Cedar decision per tool call, in process, 1,000 agents round robin over 20 tools")
    print(f"  {'policies':<20} {'keel p50':>9} {'p99':>7} {'per s':>8}   {'all-policies p50':>16}"
          f" {'p99':>7} {'per s':>7} {'speed-up p99':>12}")  # fmt: skip
    spread: list[ToolCallPolicy] = []
    for label, custom in rule_sets().items():
        ours, theirs, built, policies = _one_set(custom, "one tool" in label, calls)
        print(f"  {label:<20} {ours[0]:>8.3f}ms {ours[1]:>6.3f}ms {ours[2]:>8,.0f}   "
              f"{theirs[0]:>15.3f}ms {theirs[1]:>6.3f}ms {theirs[2]:>7,.0f}"
              f" {theirs[1] / ours[1]:>11.1f}x")  # fmt: skip
        print(f"  {'':<20} (1,000 agents' decisions built in {built:.1f} s)")
        if "20 tools" in label:
            spread = policies
    rules = Rules()

    def verdict(k: int) -> object:
        return screen(rules, CLEAN), spread[k % 1000].decide(TOOLS[k % 20], CLEAN, USAGE)

    p50, p99, rate = _clock(verdict, calls)
    print(f"  whole verdict on the clean call (detectors + Cedar, 100 rules over 20 tools):"
          f" {p50:.3f} ms p50, {p99:.3f} ms p99, {rate:,.0f} per s")  # fmt: skip


MCP_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("ticket-update", {"ticket": "T-1", "comment": "customer called about a fee"}),
    ("crm-read", {"customer_id": "C-1002"}),  # a result with a card and a phone to scan
]


def _mcp_times(params: Any, calls: int) -> dict[str, np.ndarray]:
    from mcp import Client

    times = {tool: np.empty(calls) for tool, _ in MCP_CALLS}

    async def main() -> None:
        async with Client(params) as client:
            for tool, arguments in MCP_CALLS:
                for _ in range(20):  # warm up
                    await client.call_tool(tool, arguments)
                for k in range(calls):
                    start = time.perf_counter_ns()
                    answer = await client.call_tool(tool, arguments)
                    times[tool][k] = time.perf_counter_ns() - start
                    assert not answer.is_error, answer

    anyio.run(main)
    return times


def proxied(calls: int) -> None:
    """A real MCP client to the server directly, and through ``keel gateway``."""
    from mcp import StdioServerParameters

    keel = shutil.which("keel", path=str(Path(sys.executable).parent)) or "keel"
    server = [sys.executable, "-m", "keel.gateway.bank_tools"]
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "KEEL_PRINCIPAL": "user:root-ops"}
        for step in (["init", "estate"], ["apply", "-f", "estate"]):
            subprocess.run([keel, *step], cwd=folder, env=env, check=True, capture_output=True)
        config = Path(folder) / "gateway.yaml"
        config.write_text(
            f"servers:\n  bank: {{command: [{', '.join(server)}]}}\n"
            "tools:\n  crm-read: {returns: restricted}\n  ticket-update: {sink: restricted}\n"
        )
        direct = _mcp_times(StdioServerParameters(command=server[0], args=server[1:]), calls)
        through = _mcp_times(
            StdioServerParameters(
                command=keel,
                args=["gateway", "cn-service-agent", "--servers", str(config)],
                env=env,
                cwd=folder,
            ),
            calls,
        )
    print(f"MCP tools/call over stdio, {calls} sequential calls each, one client")
    print(f"  {'tool':<14} {'direct p50':>10} {'p99':>8}   {'gateway p50':>11} {'p99':>8}"
          f"   {'added p50':>9}")  # fmt: skip
    for tool, _ in MCP_CALLS:
        d50, d99 = (float(np.percentile(direct[tool], q)) / 1e6 for q in (50, 99))
        g50, g99 = (float(np.percentile(through[tool], q)) / 1e6 for q in (50, 99))
        print(f"  {tool:<14} {d50:>8.2f}ms {d99:>6.2f}ms   {g50:>9.2f}ms {g99:>6.2f}ms"
              f"   {g50 - d50:>7.2f}ms")  # fmt: skip
    print("  the gateway's time includes one more stdio hop and a ledger commit per call")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--mcp-calls", type=int, default=300)
    args = parser.parse_args()
    kinds = {**CALLS, "corpus": corpus_calls()}
    keel = timed(kinds, args.calls)
    with mock.patch.dict(detectors._DETECTORS, {"secret": _scanner_secrets}):
        baseline = timed(kinds, max(args.calls // 20, 200))
    with mock.patch.dict(detectors._DETECTORS, {"secret": _unfiltered_secrets}):
        unfiltered = timed({"corpus": kinds["corpus"]}, args.calls)["corpus"]
    print("detectors' verdict per tool call, in process, one core")
    print("  (clean, personal, key: the calls the detectors were tuned on; corpus: the 40 texts")
    print("  of tests/fixtures/tool_calls/corpus.jsonl in turn, not used for tuning)")
    print(f"  {'call':<9} {'keel p50':>9} {'p99':>7} {'per s':>8}   {'scanner p50':>11} {'p99':>7}"
          f" {'per s':>7} {'speed-up':>8}")  # fmt: skip
    for label, (p50, p99, rate) in keel.items():
        b50, b99, brate = baseline[label]
        print(
            f"  {label:<9} {p50:>8.3f}ms {p99:>6.3f}ms {rate:>8,.0f}   {b50:>10.3f}ms"
            f" {b99:>6.3f}ms {brate:>7,.0f} {rate / brate:>7.1f}x"
        )
    print(
        "  reference (Microsoft Agent Governance Toolkit, published; rules only, no content"
        " scanning): 0.011 ms p50 one rule, 0.108 ms p99 100 rules, 47,085 decisions/s;"
        " issue 20's target: p99 under 0.2 ms"
    )
    p50, p99, _ = keel["corpus"]
    print(
        f"  corpus without the secret prefilter: {unfiltered[0]:.3f} ms p50, {unfiltered[1]:.3f}"
        f" ms p99 (the prefilter: {unfiltered[0] / p50:.2f}x at p50, {unfiltered[1] / p99:.2f}x"
        " at p99)"
    )
    cedar_timed(args.calls)
    proxied(args.mcp_calls)


if __name__ == "__main__":
    main()
