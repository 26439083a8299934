"""Benchmark: the HTTP API under load, against the framework's floor (``/healthz``) in the same run.

Measured with wrk on loopback, on SQLite and (when a URL is given) PostgreSQL, with 1 and 2
uvicorn workers:

* the floor: ``GET /healthz``, anonymous, no database (what FastAPI and uvicorn cost);
* an authenticated read: ``GET /v1/plans/latest`` with an API key (authentication, rate limit,
  a Cedar decision, the latest plan from the store);
* ledger appends: ``POST /v1/ledger/entries``, one record per request (each a signed
  checkpoint, plus the audit entry of the mutation);
* computing a plan for 100 workloads: ``POST /v1/plans`` (not committed), two connections;
* the read and the floor again at 8 connections, for latency at a lighter load.

Targets (issue 8): authenticated reads within 3x of the floor's throughput, p99 under 50 ms.

On PostgreSQL, ``--instances 1 2 3`` also runs that many ``keel serve`` processes on the one
database (as behind a load balancer: one wrk per server, the connections split between them)
for the authenticated read and ledger appends, with the rate limits shared in the database;
and one server with ``--local-rate-limits``, to show what sharing them costs.

Usage::

    python bench/api.py [--seconds 8] [--connections 32] [--postgres URL] [--instances 1 2 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from pgschema import postgres_schema, postgres_url

KEEL = shutil.which("keel", path=str(Path(sys.executable).parent)) or "keel"
HERE = Path(__file__).parent
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def keel(*args: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([KEEL, *args], cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"keel {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def estate(root: Path, env: dict[str, str]) -> None:
    """The demo estate grown to 100 workloads (copies of its serving workloads), applied."""
    keel("init", "manifests", cwd=root, env=env)
    documents = list(yaml.safe_load_all((root / "manifests" / "workloads.yaml").read_text()))
    serving = [
        d for d in documents if d and d["spec"]["kind"] in ("online_inference", "batch_inference")
    ]
    extra = []
    n = 0
    while len(documents) + len(extra) < 100:
        copy = json.loads(json.dumps(serving[n % len(serving)]))
        copy["name"] = f"{copy['name']}-copy{n}"
        extra.append(copy)
        n += 1
    (root / "manifests" / "more-workloads.yaml").write_text(yaml.safe_dump_all(extra))
    keel("apply", "-f", "manifests", cwd=root, env=env)
    keel("plan", cwd=root, env=env)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    assert match, text
    return float(match[1]) * UNITS[match[2]]


def wrk(
    url: str, seconds: int, connections: int, key: str | None = None, script: Path | None = None
) -> dict[str, Any]:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if key:
        command += ["-H", f"Authorization: Bearer {key}"]
    if script:
        command += ["-s", str(script)]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    found: dict[str, Any] = {"connections": connections}
    for line in out.splitlines():
        parts = line.split()
        if line.startswith("Requests/sec"):
            found["requests_per_s"] = round(float(parts[1]))
        elif len(parts) == 2 and parts[0] in ("50%", "99%"):
            found[f"p{parts[0][:-1]}_ms"] = round(_ms(parts[1]), 2)
        elif "Non-2xx" in line:
            found["non_2xx"] = int(parts[-1])
    return found


def serve(
    root: Path, env: dict[str, str], workers: int, *extra: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = _port()
    process = subprocess.Popen(
        [
            KEEL,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--rate-limit",
            "1000000",
            *extra,
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("keel serve did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wrk_all(
    urls: list[str], seconds: int, connections: int, key: str, script: Path | None = None
) -> dict[str, Any]:
    """One wrk per server at once, the connections split: their rates summed."""
    each = max(1, connections // len(urls))
    command = ["wrk", "-t1", f"-c{each}", f"-d{seconds}s", "-H", f"Authorization: Bearer {key}"]
    command += ["-s", str(script)] if script else []
    running = [subprocess.Popen([*command, url], stdout=subprocess.PIPE, text=True) for url in urls]
    rates = []
    for process in running:
        out, _ = process.communicate()
        line = next(li for li in out.splitlines() if li.startswith("Requests/sec"))
        rates.append(float(line.split()[1]))
    return {"requests_per_s": round(sum(rates)), "per_server": [round(r) for r in rates]}


def instances(
    root: Path, env: dict[str, str], args: argparse.Namespace, key: str, script: Path
) -> list[dict[str, Any]]:
    """Reads and appends through 1, 2, 3... servers on one database."""
    rows = []
    for count, extra in [(1, ("--local-rate-limits",))] + [(n, ()) for n in args.instances]:
        started = [serve(root, env, 1, *extra) for _ in range(count)]
        urls = [url for _, url in started]
        try:
            read = wrk_all(
                [f"{u}/v1/plans/latest" for u in urls], args.seconds, args.connections, key
            )
            append = wrk_all(
                [f"{u}/v1/ledger/entries" for u in urls],
                args.seconds,
                args.connections,
                key,
                script,
            )
        finally:
            for process, _ in started:
                stop(process)
        limits = "local" if extra else "shared"
        rows.append({"instances": count, "rate_limits": limits, "read": read, "append": append})
        print(
            f"[postgresql, {count} server{'s' if count > 1 else ''}, {limits} rate limits]"
            f" GET /v1/plans/latest {read['requests_per_s']:,}/s {read['per_server']};"
            f" ledger appends {append['requests_per_s']:,}/s {append['per_server']}",
            flush=True,
        )
    return rows


def run_backend(
    name: str, root: Path, env: dict[str, str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    estate(root, env)
    key = keel(
        "token", "create", "--name", f"bench-{name}", "--role", "admin", cwd=root, env=env
    ).strip()
    script = root / "append.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        'wrk.body = \'{"entries": [{"type": "decision", "agent": "bench", "action": "allow"}]}\'\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    plan_script = root / "plan.lua"
    plan_script.write_text(
        'wrk.method = "POST"\nwrk.body = \'{"commit": "never"}\'\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    results = []
    for workers in args.workers:
        process, url = serve(root, env, workers)
        try:
            floor = wrk(f"{url}/healthz", args.seconds, args.connections)
            read = wrk(f"{url}/v1/plans/latest", args.seconds, args.connections, key)
            # Latency at a lighter load: 8 connections, the floor again as reference.
            floor_light = wrk(f"{url}/healthz", args.seconds, 8)
            read_light = wrk(f"{url}/v1/plans/latest", args.seconds, 8, key)
            append = wrk(f"{url}/v1/ledger/entries", args.seconds, args.connections, key, script)
            plan = wrk(f"{url}/v1/plans", args.seconds, 2, key, plan_script)
        finally:
            stop(process)
        row = {
            "backend": name,
            "workers": workers,
            "healthz": floor,
            "authenticated_read": read,
            "ledger_append": append,
            "plan_100_workloads": plan,
            "read_over_floor": round(read["requests_per_s"] / floor["requests_per_s"], 2),
        }
        results.append(row)
        print(
            f"[{name}, {workers} worker{'s' if workers > 1 else ''}] /healthz {floor['requests_per_s']:,}/s"
            f" (p99 {floor['p99_ms']} ms); GET /v1/plans/latest {read['requests_per_s']:,}/s"
            f" (p50 {read['p50_ms']} ms, p99 {read['p99_ms']} ms, {row['read_over_floor']}x the floor;"
            f" at 8 connections p99 {read_light['p99_ms']} ms against the floor's"
            f" {floor_light['p99_ms']} ms);"
            f" ledger appends {append['requests_per_s']:,}/s (p99 {append['p99_ms']} ms);"
            f" plan of 100 workloads {plan['requests_per_s']}/s (p50 {plan['p50_ms']} ms)",
            flush=True,
        )
    if name == "postgresql" and args.instances:
        results.append({"backend": name, "instances": instances(root, env, args, key, script)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--postgres", default=None)
    parser.add_argument("--instances", type=int, nargs="*", default=[], help="PostgreSQL only.")
    parser.add_argument("--out", default="bench/results/api.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    base = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    base["KEEL_PRINCIPAL"] = "user:root-ops"  # the demo's admin acts for the set-up
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
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
