"""Agent gateway: the verdict on one tool call, in process (issue 20, first part).

Times ``keel.gateway.screening.screen`` (the grant, then every detector on every string of
the arguments) on three kinds of calls: clean arguments, arguments with personal data to
redact, and arguments with a key to block. 1,000 agents with their own grants are screened
round robin. Baseline in the same run: the same detectors with ``detect-secrets``' own
scanner (``scan_line`` under its settings, as its documentation shows) instead of the
pattern plugins called directly. Prints p50 and p99 in ms, and decisions per second on one
core, next to the figures Microsoft publishes for its Agent Governance Toolkit (0.011 ms p50
for one rule, 0.108 ms p99 for 100 rules, 47,085 decisions/s with 1,000 agents): those are
policy rules without content scanning, so they are a reference, not a like-for-like baseline.

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
from keel.gateway.screening import Grant, screen

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


def timed(
    kinds: dict[str, Calls], calls: int, grants: list[Grant]
) -> dict[str, tuple[float, float, float]]:
    """Per kind of call: p50 and p99 in ms, and verdicts per second (calls taken in turn)."""
    results = {}
    for label, batch in kinds.items():
        for k in range(200):  # warm up
            tool, arguments = batch[k % len(batch)]
            screen(grants[k % len(grants)], tool, arguments)
        times = np.empty(calls)
        began = time.perf_counter()
        for k in range(calls):
            tool, arguments = batch[k % len(batch)]
            start = time.perf_counter_ns()
            screen(grants[k % len(grants)], tool, arguments)
            times[k] = time.perf_counter_ns() - start
        elapsed = time.perf_counter() - began
        results[label] = (
            float(np.percentile(times, 50)) / 1e6,
            float(np.percentile(times, 99)) / 1e6,
            calls / elapsed,
        )
    return results


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
    tools = ["crm-read", "case-create", "sanctions-screening", "ticket-update", "web-search"]
    grants = [Grant(tools=frozenset(tools[: 2 + k % 4])) for k in range(1_000)]
    kinds = {**CALLS, "corpus": corpus_calls()}
    keel = timed(kinds, args.calls, grants)
    with mock.patch.dict(detectors._DETECTORS, {"secret": _scanner_secrets}):
        baseline = timed(kinds, max(args.calls // 20, 200), grants)
    with mock.patch.dict(detectors._DETECTORS, {"secret": _unfiltered_secrets}):
        unfiltered = timed({"corpus": kinds["corpus"]}, args.calls, grants)["corpus"]
    print("verdict per tool call, in process, 1,000 agents round robin, one core")
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
    proxied(args.mcp_calls)


if __name__ == "__main__":
    main()
