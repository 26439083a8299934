"""Benchmark: a mixed, hostile load on the API for a minute, counting every 5xx.

64 connections on loopback for 60 s (by default) against ``keel serve`` on the demo estate,
with 1 and 2 workers, on SQLite and (when a URL is given) PostgreSQL. Each connection cycles
through a mix of what real and hostile clients send:

* reads: the latest plan, the dataset list (filtered per item), model versions;
* mutations: ledger appends, plans computed and committed, re-applies, model evaluations;
* refusals: an operator applying a PolicySet (403, batched into the ledger), a viewer
  committing a plan (403), and a scan with a bad key (401, then 429 per address).

The target (issue 13): zero responses >= 500. The baseline in the same run is the framework's
floor, ``GET /healthz`` at the same 64 connections; the mix's throughput is printed as a ratio
of it. After each run the ledger is verified.

Usage::

    python bench/load.py [--seconds 60] [--connections 64] [--workers 1 2] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from api import _ms, keel, serve, wrk
from pgschema import postgres_schema, postgres_url

ADMIN = "user:root-ops"

POLICY = 'kind: PolicySet\nname: open-door\nspec:\n  access:\n    - name: all\n      cedar: |\n        @id("all")\n        permit (principal, action, resource);\n'


def _lua(root: Path, keys: dict[str, str]) -> Path:
    """A wrk script: one request of the mix per call, every status class counted."""
    sites = (root / "manifests" / "sites.yaml").read_text()
    evaluation = {"results": [{"kind": "probe", "name": "load", "passed": True}]}
    mix = [
        ("GET", "/v1/plans/latest", "viewer", None),
        ("GET", "/v1/resources/datasets", "viewer", None),
        ("GET", "/v1/plans/latest", "viewer", None),
        ("POST", "/v1/ledger/entries", "operator", {"entries": [{"type": "load", "n": 1}]}),
        ("GET", "/v1/models", "approver", None),
        ("POST", "/v1/plans", "operator", {"commit": "never"}),
        ("GET", "/v1/plans/latest", "viewer", None),
        ("POST", "/v1/apply", "operator", {"manifests": sites}),
        ("POST", "/v1/models/credit-scoring@3.2/evaluations", "operator", evaluation),
        ("POST", "/v1/apply", "operator", {"manifests": POLICY}),
        ("POST", "/v1/plans", "viewer", {"commit": "always"}),
        ("GET", "/v1/models", "bad", None),
        ("POST", "/v1/plans", "operator", {"commit": "always"}),
        ("GET", "/v1/resources/datasets", "viewer", None),
    ]
    keys = {**keys, "bad": "keel_000000000000_" + "x" * 43}
    lines = ["local mix = {"]
    for method, path, who, body in mix:
        payload = json.dumps(json.dumps(body)) if body is not None else "nil"
        lines.append(f'  {{"{method}", "{path}", "Bearer {keys[who]}", {payload}}},')
    lines.append("}")
    lines.append(
        """
local n = 0
s2, s3, s4, s5, s401, s403, s429 = 0, 0, 0, 0, 0, 0, 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = math.random(#mix) end
function request()
  n = n % #mix + 1
  local m = mix[n]
  local headers = {["Authorization"] = m[3], ["Content-Type"] = "application/json"}
  return wrk.format(m[1], m[2], headers, m[4])
end
function response(status, headers, body)
  if status >= 500 then s5 = s5 + 1
  elseif status >= 400 then
    s4 = s4 + 1
    if status == 401 then s401 = s401 + 1
    elseif status == 403 then s403 = s403 + 1
    elseif status == 429 then s429 = s429 + 1 end
  elseif status >= 300 then s3 = s3 + 1
  else s2 = s2 + 1 end
end
function done(summary, latency, requests)
  local t = {s2 = 0, s3 = 0, s4 = 0, s5 = 0, s401 = 0, s403 = 0, s429 = 0}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + thread:get(k) end
  end
  io.write(string.format(
    "STATUS {\\"2xx\\": %d, \\"3xx\\": %d, \\"4xx\\": %d, \\"5xx\\": %d, \\"401\\": %d,"
    .. " \\"403\\": %d, \\"429\\": %d}\\n", t.s2, t.s3, t.s4, t.s5, t.s401, t.s403, t.s429))
end
"""
    )
    script = root / "mix.lua"
    script.write_text("\n".join(lines))
    return script


def _mixed(url: str, seconds: int, connections: int, script: Path) -> dict[str, Any]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    found = _parse(out)
    found["connections"] = connections
    status = next(line for line in out.splitlines() if line.startswith("STATUS "))
    found["status"] = json.loads(status.removeprefix("STATUS "))
    return found


def _parse(out: str) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec"):
            found["requests_per_s"] = round(float(parts[1]))
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            found[f"p{parts[0][:-1]}_ms"] = round(_ms(parts[1]), 2)
    return found


def run_backend(
    name: str, root: Path, env: dict[str, str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    keel("init", "manifests", cwd=root, env=env)
    keel("apply", "-f", "manifests", cwd=root, env=env)
    keel("plan", cwd=root, env=env)
    keys = {
        role: keel(
            "token", "create", "--name", f"{name}-{role}", "--role", role, cwd=root, env=env
        ).strip()
        for role in ("viewer", "operator", "approver")
    }
    script = _lua(root, keys)
    results = []
    for workers in args.workers:
        process, url = serve(root, env, workers)
        try:
            floor = wrk(f"{url}/healthz", 10, args.connections)
            mixed = _mixed(url, args.seconds, args.connections, script)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        verified = json.loads(keel("ledger", "verify", "-o", "json", cwd=root, env=env))
        row = {
            "backend": name,
            "workers": workers,
            "seconds": args.seconds,
            "healthz": floor,
            "mixed": mixed,
            "mixed_over_floor": round(mixed["requests_per_s"] / floor["requests_per_s"], 3),
            "ledger_entries_after": verified["size"],
        }
        results.append(row)
        counts = mixed["status"]
        print(
            f"[{name}, {workers} worker{'s' if workers > 1 else ''}] mixed load, "
            f"{args.connections} connections, {args.seconds} s: {mixed['requests_per_s']:,}/s"
            f" (p50 {mixed['p50_ms']} ms, p99 {mixed['p99_ms']} ms; {row['mixed_over_floor']}x"
            f" the /healthz floor of {floor['requests_per_s']:,}/s); responses: 2xx {counts['2xx']:,},"
            f" 401 {counts['401']:,}, 403 {counts['403']:,}, 429 {counts['429']:,},"
            f" other 4xx {counts['4xx'] - counts['401'] - counts['403'] - counts['429']:,},"
            f" 5xx {counts['5xx']}; ledger verified at {verified['size']:,} entries",
            flush=True,
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--out", default="bench/results/load.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    base["KEEL_PRINCIPAL"] = ADMIN
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sqlite"
        root.mkdir()
        results += run_backend("sqlite", root, base, args)
        url = postgres_url(args.postgres)
        if url:
            with postgres_schema(url) as (_, schema_url):
                pg = Path(tmp) / "pg"
                pg.mkdir()
                results += run_backend(
                    "postgresql", pg, {**base, "KEEL_DATABASE_URL": schema_url}, args
                )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    failures = sum(r["mixed"]["status"]["5xx"] for r in results)
    print(f"wrote {args.out}; responses >= 500: {failures}")
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
