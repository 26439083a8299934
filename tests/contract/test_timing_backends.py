"""Plans over a horizon of grid signals (``keel plan --horizon``), on both store backends.

Three sites of 8 devices: Frankfurt on DE-LU and San Francisco on US-CAL-CISO (48 real hours
of 2024 in ``tests/fixtures/grid``), Singapore with a zone the folder has no series for. Four
4-hour training jobs of 4 devices want the same clean Californian evening; a service holds
half of Frankfurt's pool all the time.
"""

from __future__ import annotations

import csv
import hashlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keel.errors import UserError
from keel.estate.digest import canonical_json
from keel.service import Workspace, apply_manifests, ledger
from keel.service.actor import Actor
from keel.service.planning import commit_plan, compute_plan, plan_data
from keel.service.timing import HorizonRequest

GRID = Path(__file__).parent.parent / "fixtures" / "grid"
START = datetime(2024, 1, 1, tzinfo=UTC)
SYSTEM = Actor.system("tests")

SITES = """\
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
kind: Model
name: m
spec:
  risk_tier: minimal
  purpose: tests
  versions: [{version: "1", parameters_billion: 7, state: approved}]
---
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


def _estate(folder: Path, jobs: list[tuple[str, str, str]]) -> Path:
    folder.mkdir()
    text = SITES + "".join(JOB.format(name=n, earliest=e, deadline=d) for n, e, d in jobs)
    (folder / "estate.yaml").write_text(text)
    return folder


def _series(zone: str) -> list[float]:
    with (GRID / f"{zone}_2024_hourly.csv").open() as handle:
        return [float(r["Carbon Intensity gCO₂eq/kWh (direct)"]) for r in csv.DictReader(handle)]


def _digest(zone: str | None, signal: str, values: list[float]) -> str:
    body = {
        "zone": zone,
        "signal": signal,
        "start": START.isoformat(),
        "step_s": 3600,
        "values": values,
    }
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


@pytest.fixture
def planned(workspace: Workspace, tmp_path: Path) -> tuple[Workspace, dict[str, Any]]:
    day = ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
    jobs = [(f"train-{i}", *day) for i in range(4)]
    jobs.append(("later", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"))
    apply_manifests(workspace, [str(_estate(tmp_path / "estate", jobs))], actor=SYSTEM)
    result = compute_plan(
        workspace, objective="carbon", horizon=HorizonRequest(START, 48, folder=GRID)
    )
    commit_plan(workspace, result, actor=SYSTEM)
    return workspace, plan_data(result)


def test_schedule_is_feasible_and_priced_on_the_hourly_signal(
    planned: tuple[Workspace, dict[str, Any]],
) -> None:
    _workspace, plan = planned
    schedule = plan["schedule"]
    runs = {r["workload"]: r for r in schedule["runs"]}
    assert set(runs) == {"train-0", "train-1", "train-2", "train-3", "later"}
    intensity = {"fra": _series("DE-LU"), "sfo": _series("US-CAL-CISO"), "sin": [480.0] * 48}
    pue = {"fra": 1.2, "sfo": 1.3, "sin": 1.4}
    held: dict[tuple[str, int], int] = defaultdict(int)
    chat = [p for p in plan["placements"] if p["workload"] == "chat"]
    for p in chat:  # the service holds its devices in every hour
        for hour in range(48):
            held[(p["site"], hour)] += p["devices"]
    for name in ("train-0", "train-1", "train-2", "train-3"):
        run = runs[name]
        begins = datetime.fromisoformat(run["start"])
        assert datetime.fromisoformat(run["end"]) - begins == timedelta(hours=4)
        assert begins >= START and datetime.fromisoformat(run["end"]) <= START + timedelta(days=1)
        first = int((begins - START).total_seconds() // 3600)
        for hour in range(first, first + 4):
            held[(run["site"], hour)] += 4
        kwh = 0.7 * pue[run["site"]] * 4 * 0.8  # H100-SXM 700 W, utilisation 0.8
        carbon = sum(kwh * intensity[run["site"]][h] for h in range(first, first + 4)) / 1000
        assert run["carbon_kgco2e"] == pytest.approx(carbon, rel=1e-3)
    assert all(devices <= 8 for devices in held.values())  # never overfilled
    assert [p["site"] for p in chat] == ["fra"]  # the service keeps its place near its users
    placed_at = {(p["workload"], p["site"]) for p in plan["placements"]}
    assert all((name, runs[name]["site"]) in placed_at for name in runs if runs[name]["site"])
    scored = {b["name"]: b for b in schedule["baselines"]}
    assert schedule["carbon_kgco2e"] < scored["run now"]["carbon_kgco2e"]
    assert scored["capacity-blind advice"]["overfilled_pool_hours"] > 0  # all chase sfo
    assert scored["capacity-blind advice"]["carbon_kgco2e"] <= schedule["carbon_kgco2e"]
    assert schedule["bound_usd"] <= schedule["objective_usd"] + 1e-6
    waited = [r for r in runs.values() if r["start"] and r["start"] != r["earliest"]]
    assert waited
    assert all("less carbon than starting at once" in r["why"] for r in waited)


def test_unschedulable_work_and_fallbacks_are_named(
    planned: tuple[Workspace, dict[str, Any]],
) -> None:
    _workspace, plan = planned
    later = next(u for u in plan["unplaced"] if u["workload"] == "later")
    assert later["reasons"] == ["window"]
    assert "after the horizon ends" in later["relaxations"][0]
    signals = {s["site"]: s for s in plan["schedule"]["signals"]}
    assert signals["sin"]["source"] == "annual figure"
    assert "no carbon_location series for zone SG" in signals["sin"]["note"]
    assert signals["sin"]["digest"] == _digest("SG", "annual", [480.0] * 48)
    assert signals["fra"]["note"] is None
    assert signals["fra"]["digest"] == _digest("DE-LU", "carbon_location", _series("DE-LU"))


def test_ledger_records_signal_digests_and_expected_saving(
    planned: tuple[Workspace, dict[str, Any]],
) -> None:
    workspace, plan = planned
    entries = [e.entry for e in ledger.show(workspace, start=0, limit=10_000)]
    committed = next(e for e in entries if e["type"] == "plan.committed")
    assert committed["horizon"]["start"] == "2024-01-01T00:00:00Z"
    assert committed["horizon"]["signals"]["sfo"] == _digest(
        "US-CAL-CISO", "carbon_location", _series("US-CAL-CISO")
    )
    decided = {e["workload"]: e for e in entries if e["type"] == "placement.decided"}
    runs = {r["workload"]: r for r in plan["schedule"]["runs"]}
    for name in ("train-0", "train-1", "train-2", "train-3"):
        record, run = decided[name], runs[name]
        assert record["starts"] == [run["start"]]
        assert record["signals"] == {run["site"]: committed["horizon"]["signals"][run["site"]]}
        saving = run["at_once_kgco2e"] - run["carbon_kgco2e"]
        assert record["expected_saving_kgco2e"] == pytest.approx(saving, abs=1e-3)
    assert "starts" not in decided["chat"]


@pytest.mark.parametrize(
    ("hours", "start", "signal", "needle"),
    [
        (0, START, "carbon_location", "whole hours from 1"),
        (1.5, START, "carbon_location", "whole hours from 1"),
        (48, START.replace(minute=30), "carbon_location", "whole hour"),
        (48, datetime(2024, 1, 1), "carbon_location", "UTC offset"),
        (48, START, "price", "carbon_location or carbon_marginal"),
    ],
)
def test_bad_horizons_are_refused(hours: float, start: datetime, signal: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        HorizonRequest.of(hours, start, signal, GRID)
