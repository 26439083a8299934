"""``keel sketch``, ``keel drift`` and ``keel monitor`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli import keel

from keel.monitor.synthetic import credit_traffic


def test_drift_json_table_html_and_sketches(tmp_path: Path) -> None:
    credit_traffic(3000, seed=1).to_parquet(tmp_path / "ref.parquet", index=False)
    credit_traffic(2000, seed=2, drifted=True).to_csv(tmp_path / "cur.csv", index=False)
    done = keel(
        "drift", "--reference", "ref.parquet", "--current", "cur.csv", "-o", "json", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["dataset_drift"] is True
    by_column = {c["column"]: c for c in report["columns"]}
    assert by_column["income"]["method"] == "wasserstein" and by_column["income"]["drifted"]
    for column in by_column.values():
        assert {"method", "statistic", "threshold", "drifted"} <= column.keys()
    sketched = keel("sketch", "ref.parquet", "--out", "ref.sketch.json", cwd=tmp_path)
    assert sketched.returncode == 0 and "3,000 rows, 8 columns" in sketched.stdout
    table = keel(
        "drift",
        "--reference",
        "ref.sketch.json",
        "--current",
        "cur.csv",
        "--column",
        "income=psi:0.2",
        "--html",
        "r.html",
        cwd=tmp_path,
    )
    assert table.returncode == 0, table.stderr
    income = next(line for line in table.stdout.splitlines() if line.startswith("income "))
    assert income.split()[:3] == ["income", "numerical", "psi"] and "DATASET DRIFT" in table.stdout
    page = (tmp_path / "r.html").read_text()
    assert "<h1>Drift report: dataset drift</h1>" in page
    assert "<script src" not in page  # plotly.js is inlined: the report opens offline
    assert "Plotly" in page and page.count('class="plotly-graph-div"') == sum(
        c["drifted"] for c in report["columns"]
    )


def test_drift_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    credit_traffic(500, seed=1).to_parquet(tmp_path / "ref.parquet", index=False)
    (tmp_path / "empty.csv").write_text("income,age\n")
    cases = [
        (["--current", "missing.csv"], "missing.csv: no such file"),
        (["--current", "empty.csv"], "the current window is empty"),
        (["--current", "ref.parquet", "--column", "incme=psi"], "did you mean 'income'"),
        (["--current", "ref.parquet", "--column", "income=pis"], "did you mean 'psi'"),
        (["--current", "ref.parquet", "--column", "income"], "COLUMN=METHOD[:THRESHOLD]"),
    ]
    for args, message in cases:
        done = keel("drift", "--reference", "ref.parquet", *args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stdout)
        assert message in done.stderr, (args, done.stderr)
    (tmp_path / "edited.sketch.json").write_text('{"format": "keel.sketch/1", "rows": 1}')
    done = keel(
        "drift", "--reference", "edited.sketch.json", "--current", "ref.parquet", cwd=tmp_path
    )
    assert done.returncode == 2 and "not a readable Keel sketch" in done.stderr


def test_monitor_run_alerts_and_metrics(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert keel("demo", "--keep", str(ws), cwd=tmp_path).returncode == 0
    every = keel("-w", str(ws), "monitor", "alerts", "--all", cwd=tmp_path)
    assert every.stdout.count("resolved") == 4  # the demo raised four and resolved them
    ran = keel("-w", str(ws), "monitor", "run", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert "Monitor/credit-decision-health (credit-decision-api): ok" in ran.stdout
    metrics = keel("-w", str(ws), "monitor", "metrics", cwd=tmp_path)
    assert "# TYPE keel_monitor_drift_share gauge" in metrics.stdout


def test_metrics_are_served_over_http_and_read_fresh(tmp_path: Path) -> None:
    import os
    import socket
    import subprocess
    import time
    import urllib.request

    from test_cli import KEEL

    ws = tmp_path / "ws"
    assert keel("demo", "--keep", str(ws), cwd=tmp_path).returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    server = subprocess.Popen(
        [KEEL, "-w", str(ws), "monitor", "metrics", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = ""
        deadline = time.monotonic() + 60  # the server imports Keel first; CI machines are busy
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    body = r.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        assert 'keel_monitor_firing{monitor="credit-decision-health"} 0.0' in body
        # A new check is visible at the next scrape, without restarting the server.
        data = ws / "manifests" / "data"
        from keel.service import monitoring

        monitoring.write_demo_windows(data, drifted=True)
        assert keel("-w", str(ws), "monitor", "run", cwd=tmp_path).returncode == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            after = r.read().decode()
        assert 'keel_monitor_firing{monitor="credit-decision-health"} 1.0' in after
        assert (
            'keel_monitor_alert_firing{condition="drift",monitor="credit-decision-health"} 1.0'
            in after
        )
    finally:
        server.terminate()
        server.wait(10)
