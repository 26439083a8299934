"""An estate for plans over a horizon, and what a test computes on its own to check them.

Three sites of 8 devices: Frankfurt on DE-LU and San Francisco on US-CAL-CISO (48 real hours
of 2024 in ``tests/fixtures/grid``), Singapore with a zone that has no series. Jobs of 4
devices with windows; a service holds half of Frankfurt's pool all the time.
"""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from pathlib import Path

from keel.estate.digest import canonical_json

GRID = Path(__file__).parent / "fixtures" / "grid"
START = datetime(2024, 1, 1, tzinfo=UTC)

MODEL = """\
kind: Model
name: m
spec:
  risk_tier: minimal
  purpose: tests
  versions: [{version: "1", parameters_billion: 7, state: approved}]
"""

SITES = (
    """\
kind: Site
name: fra
spec:
  kind: on_prem
  country: DE
  grid_zone: DE-LU
  location: {latitude: 50.11, longitude: 8.68}
  pue: 1.2
  pools:
    - {name: h100, accelerator: H100-SXM, count: 8, usd_per_hour: 2.0}
---
kind: Site
name: sfo
spec:
  kind: on_prem
  country: US
  grid_zone: US-CAL-CISO
  location: {latitude: 37.77, longitude: -122.42}
  pue: 1.3
  pools:
    - {name: h100, accelerator: H100-SXM, count: 8, usd_per_hour: 2.0}
---
kind: Site
name: sin
spec:
  kind: on_prem
  country: SG
  grid_zone: SG
  location: {latitude: 1.35, longitude: 103.82}
  pue: 1.4
  carbon_intensity_gco2e_per_kwh: 480
  pools:
    - {name: h100, accelerator: H100-SXM, count: 8, usd_per_hour: 2.0}
---
"""
    + MODEL
    + """---
kind: UserRegion
name: eu
spec: {country: DE, location: {latitude: 50.11, longitude: 8.68}}
---
kind: Workload
name: chat
spec:
  kind: online_inference
  model: m@1
  compute: {accelerators: [H100-SXM], count: 4}
  latency_slo_ms: 15
  serves: [eu]
"""
)

JOB = """\
---
kind: Workload
name: {name}
spec:
  kind: training
  model: m@1
  objective: carbon
  compute: {{accelerators: [H100-SXM], count: 4, hours: 4}}
  window: {{earliest_start: "{earliest}", deadline: "{deadline}"}}
"""


def estate(folder: Path, jobs: list[tuple[str, str, str]]) -> Path:
    folder.mkdir()
    text = SITES + "".join(JOB.format(name=n, earliest=e, deadline=d) for n, e, d in jobs)
    (folder / "estate.yaml").write_text(text)
    return folder


def series(zone: str) -> list[float]:
    with (GRID / f"{zone}_2024_hourly.csv").open() as handle:
        return [float(r["Carbon Intensity gCO₂eq/kWh (direct)"]) for r in csv.DictReader(handle)]


def digest(zone: str | None, signal: str, values: list[float]) -> str:
    body = {
        "zone": zone,
        "signal": signal,
        "start": START.isoformat(),
        "step_s": 3600,
        "values": values,
    }
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def fra_only(folder: Path) -> Path:
    """San Francisco and Singapore unavailable, and one 4-hour job (balanced objective) that
    may start from 20:00 on the first day and must end by the third."""
    text = SITES.replace("  pue: 1.3\n", "  pue: 1.3\n  available: false\n").replace(
        "  pue: 1.4\n", "  pue: 1.4\n  available: false\n"
    )
    folder.mkdir()
    job = JOB.format(name="train", earliest="2024-01-01T20:00:00Z", deadline="2024-01-03T00:00:00Z")
    (folder / "estate.yaml").write_text(
        text + job.replace("objective: carbon", "objective: balanced")
    )
    return folder
