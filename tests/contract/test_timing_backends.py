"""Plans over a horizon of grid signals (``keel plan --horizon``), on both store backends.

Three sites of 8 devices: Frankfurt on DE-LU and San Francisco on US-CAL-CISO (48 real hours
of 2024 in ``tests/fixtures/grid``), Singapore with a zone the folder has no series for. Four
4-hour training jobs of 4 devices want the same clean Californian evening; a service holds
half of Frankfurt's pool all the time.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from keel.api.charts import schedule_figure
from keel.energy.providers import Files
from keel.errors import UserError
from keel.placement.problem import PRESETS
from keel.service import Workspace, apply_manifests, conversion, ledger
from keel.service.actor import Actor
from keel.service.planning import commit_plan, compute_plan, plan_data, redact_plan
from keel.service.timing import HorizonRequest
from timing_estate import GRID, MODEL, START, digest, estate, fra_only, series

SYSTEM = Actor.system("tests")


@pytest.fixture
def planned(workspace: Workspace, tmp_path: Path) -> tuple[Workspace, dict[str, Any]]:
    day = ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
    jobs = [(f"train-{i}", *day) for i in range(4)]
    jobs.append(("later", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z"))
    apply_manifests(workspace, [str(estate(tmp_path / "estate", jobs))], actor=SYSTEM)
    result = compute_plan(
        workspace, objective="carbon", horizon=HorizonRequest(START, 48, source=Files(GRID))
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
    intensity = {"fra": series("DE-LU"), "sfo": series("US-CAL-CISO"), "sin": [480.0] * 48}
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
    assert schedule["objective_usd"] < scored["run now"]["objective_usd"]
    assert scored["capacity-blind advice"]["objective_usd"] <= schedule["objective_usd"]
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
    assert signals["sin"]["digest"] == digest("SG", "annual", [480.0] * 48)
    assert signals["fra"]["note"] is None
    assert signals["fra"]["digest"] == digest("DE-LU", "carbon_location", series("DE-LU"))


def test_ledger_records_signal_digests_and_expected_saving(
    planned: tuple[Workspace, dict[str, Any]],
) -> None:
    workspace, plan = planned
    entries = [e.entry for e in ledger.show(workspace, start=0, limit=10_000)]
    committed = next(e for e in entries if e["type"] == "plan.committed")
    assert committed["horizon"]["start"] == "2024-01-01T00:00:00Z"
    assert committed["horizon"]["signals"]["sfo"] == digest(
        "US-CAL-CISO", "carbon_location", series("US-CAL-CISO")
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
        (744, datetime(9999, 12, 31, 23, tzinfo=UTC), "carbon_location", "between 1990"),
    ],
)
def test_bad_horizons_are_refused(hours: float, start: datetime, signal: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        HorizonRequest.of(hours, start, signal, Files(GRID))


CHUNKED = (
    """\
kind: Site
name: dc
spec:
  kind: on_prem
  country: DE
  grid_zone: ZZ
  location: {latitude: 50.11, longitude: 8.68}
  pue: 1.0
  pools:
    - {name: h100, accelerator: H100-SXM, count: 8, usd_per_hour: 2.0}
---
"""
    + MODEL
    + """---
kind: Workload
name: ckpt
spec:
  kind: training
  model: m@1
  objective: carbon
  compute: {accelerators: [H100-SXM], count: 4, hours: 4, utilisation: 1.0}
  window: {earliest_start: "2024-01-01T00:00:00Z", deadline: "2024-01-02T00:00:00Z",
           interruptible: true}
  run: {command: ["true"]}
---
kind: Cluster
name: here
spec: {type: local, sites: [{site: dc}]}
"""
)


def test_an_interruptible_job_runs_in_chunks_in_the_clean_hours_and_is_recorded(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Two clean valleys two hours wide: a checkpointing 4-hour job takes both."""
    folder = tmp_path / "grid"
    folder.mkdir()
    values = [500.0] * 24
    values[2] = values[3] = 50.0
    values[14] = values[15] = 60.0
    rows = [f"{(START + timedelta(hours=h)).isoformat()},{v}" for h, v in enumerate(values)]
    (folder / "ZZ_test.csv").write_text(
        "time,carbon_location_gco2e_per_kwh\n" + "\n".join(rows) + "\n"
    )
    (tmp_path / "estate").mkdir()
    (tmp_path / "estate" / "estate.yaml").write_text(CHUNKED)
    apply_manifests(workspace, [str(tmp_path / "estate")], actor=SYSTEM)
    horizon = HorizonRequest(START, 24, source=Files(folder))
    result = compute_plan(workspace, objective="carbon", horizon=horizon)
    commit_plan(workspace, result, actor=SYSTEM)
    (run,) = plan_data(result)["schedule"]["runs"]
    assert run["chunks"] == [
        ["2024-01-01T02:00:00Z", "2024-01-01T04:00:00Z"],
        ["2024-01-01T14:00:00Z", "2024-01-01T16:00:00Z"],
    ]
    assert run["carbon_kgco2e"] == pytest.approx(0.7 * 4 * (50 + 50 + 60 + 60) / 1000)
    assert "runs in 2 chunks" in run["why"]
    entries = [e.entry for e in ledger.show(workspace, start=0, limit=10_000)]
    (decided,) = [e for e in entries if e["type"] == "placement.decided"]
    assert decided["chunks"] == [run["chunks"]]
    from keel.service import dispatch

    intents = dispatch.intents(
        result.estate, dispatch.conversion.plan(plan_data(result), plan_id=1), {}
    )
    assert [(i.chunk, i.start, i.stop) for i in intents] == [  # a run per chunk, stopped at its end
        ("1/2", START + timedelta(hours=2), START + timedelta(hours=4)),
        ("2/2", START + timedelta(hours=14), START + timedelta(hours=16)),
    ]
    assert len({i.key for i in intents}) == 2 and len({i.group for i in intents}) == 1


def test_a_reader_who_may_not_read_a_job_sees_neither_its_run_nor_totals_that_cover_it(
    planned: tuple[Workspace, dict[str, Any]],
) -> None:
    _workspace, data = planned
    plan = conversion.plan(data, plan_id=1)
    assert redact_plan(plan, lambda names: [True] * len(names)) is plan
    seen = redact_plan(plan, lambda names: [n != "Workload/train-1" for n in names])
    assert seen.schedule is not None
    assert {r.workload for r in seen.schedule.runs} == {"train-0", "train-2", "train-3", "later"}
    assert seen.schedule.totals_withheld
    assert seen.schedule.baselines == [] and seen.schedule.bound_usd is None
    assert seen.schedule.carbon_kgco2e == seen.schedule.objective_usd == 0
    assert "train-1" not in seen.model_dump_json()


def _prices() -> list[float]:
    with (GRID / "DE-LU_electricity_prices_2024.csv").open() as handle:
        return [float(r["Price (USD/MWh)"]) for r in csv.DictReader(handle)]


@pytest.fixture
def priced_plans(workspace: Workspace, tmp_path: Path) -> dict[bool, dict[str, Any]]:
    """The fra-only estate planned over 48 h without and with ``energy_price``."""
    apply_manifests(workspace, [str(fra_only(tmp_path / "estate"))], actor=SYSTEM)
    return {
        priced: plan_data(
            compute_plan(
                workspace,
                objective="balanced",
                horizon=HorizonRequest(START, 48, source=Files(GRID), energy_price=priced),
            )
        )
        for priced in (False, True)
    }


def test_energy_price_moves_a_job_to_cheap_hours_and_is_recorded(
    priced_plans: dict[bool, dict[str, Any]],
) -> None:
    """With ``energy_price``, an owned site's hourly price joins carbon in the objective (its
    deviation from the horizon's mean: the compute price already holds power); the start is
    the cheapest of every start the window allows, computed here from the fixture files."""
    plans = priced_plans
    prices, carbon = _prices(), series("DE-LU")
    kwh = 0.7 * 1.2 * 4 * 0.8  # per hour: H100-SXM 700 W, PUE 1.2, 4 devices, utilisation 0.8
    usd_per_g = PRESETS["balanced"].carbon_usd_per_t / 1e6
    mean = sum(prices) / len(prices)

    def cost(start: int, priced: bool) -> float:
        hours = range(start, start + 4)
        grams = sum(kwh * carbon[h] for h in hours)
        paid = sum(kwh * (prices[h] - mean) for h in hours) / 1000 if priced else 0.0
        return usd_per_g * grams + paid

    best = {priced: min(range(20, 48 - 4 + 1), key=lambda s: cost(s, priced)) for priced in plans}
    assert best[True] != best[False]  # the prices change the answer: the test can fail
    for priced, plan in plans.items():
        (run,) = plan["schedule"]["runs"]
        assert run["site"] == "fra"
        assert run["start"] == (START + timedelta(hours=best[priced])).isoformat().replace(
            "+00:00", "Z"
        )
        assert plan["schedule"]["energy_price"] is priced
    (run,) = plans[True]["schedule"]["runs"]
    first = best[True]
    assert run["electricity_usd"] == pytest.approx(
        sum(kwh * prices[h] for h in range(first, first + 4)) / 1000, abs=1e-4
    )
    assert run["at_once_electricity_usd"] == pytest.approx(
        sum(kwh * prices[h] for h in range(20, 24)) / 1000, abs=1e-4
    )
    assert "cheaper electricity than starting at once" in run["why"]
    signals = {s["site"]: s for s in plans[True]["schedule"]["signals"]}
    assert signals["fra"]["price_digest"] == digest("DE-LU", "price", prices)
    assert "not priced by the hour" in signals["sfo"]["price_note"]
    assert plans[False]["schedule"]["runs"][0]["electricity_usd"] is None
    assert plans[True]["schedule"]["electricity_usd"] == pytest.approx(run["electricity_usd"])
    assert all(s["price_digest"] is None for s in plans[False]["schedule"]["signals"])


def test_a_priced_schedule_is_withheld_and_drawn_as_the_others(
    priced_plans: dict[bool, dict[str, Any]],
) -> None:
    """The electricity total is withheld with the other totals from a reader who may not read
    every job; the dashboard draws a priced site's prices, and nothing of the kind otherwise."""
    plans, prices = priced_plans, _prices()
    hidden = redact_plan(
        conversion.plan(plans[True], plan_id=1), lambda names: [False] * len(names)
    ).schedule
    assert hidden is not None and hidden.totals_withheld and hidden.electricity_usd is None
    priced = conversion.plan(plans[True], plan_id=1).schedule
    assert priced is not None
    lines = {t["name"]: t for t in schedule_figure(priced)["data"] if t["type"] == "scatter"}
    assert lines["fra price (DE-LU)"]["y"] == [round(v, 2) for v in prices]  # the dashboard's
    assert lines["fra price (DE-LU)"]["yaxis"] == "y3"
    assert "yaxis3" in schedule_figure(priced)["layout"]  # type: ignore[operator]
    unpriced = conversion.plan(plans[False], plan_id=1).schedule
    assert unpriced is not None
    assert not [t for t in schedule_figure(unpriced)["data"] if "price" in str(t["name"])]
    assert "yaxis3" not in schedule_figure(unpriced)["layout"]  # type: ignore[operator]


def test_the_ledger_records_the_prices_a_priced_plan_used(
    workspace: Workspace, tmp_path: Path
) -> None:
    apply_manifests(workspace, [str(fra_only(tmp_path / "estate"))], actor=SYSTEM)
    request = HorizonRequest(START, 48, source=Files(GRID), energy_price=True)
    result = compute_plan(workspace, objective="balanced", horizon=request)
    commit_plan(workspace, result, actor=SYSTEM)
    entries = [e.entry for e in ledger.show(workspace, start=0, limit=10_000)]
    committed = next(e for e in entries if e["type"] == "plan.committed")
    assert committed["horizon"]["prices"] == {"fra": digest("DE-LU", "price", _prices())}
    decided = next(e for e in entries if e.get("workload") == "train")
    (run,) = plan_data(result)["schedule"]["runs"]
    assert decided["prices"] == {"fra": digest("DE-LU", "price", _prices())}
    saved = run["at_once_electricity_usd"] - run["electricity_usd"]
    assert decided["expected_saving_usd"] == pytest.approx(saved, abs=1e-3)


SPREAD_JOB = """\
---
kind: Workload
name: spread
spec:
  kind: training
  model: m@1
  objective: carbon
  min_sites: 2
  compute: {accelerators: [H100-SXM], count: 4, hours: 4, replicas: 2}
  window: {earliest_start: "2024-01-01T17:00:00Z", deadline: "2024-01-02T00:00:00Z"}
"""


def test_a_spread_jobs_first_replicas_run_at_as_many_sites_over_a_horizon(
    workspace: Workspace, tmp_path: Path
) -> None:
    """``min_sites: 2``: both replicas would take San Francisco's clean evening (it has room
    for both, and Frankfurt's evening is dirtier); they run at two sites."""
    folder = estate(tmp_path / "estate", [])
    (folder / "spread.yaml").write_text(SPREAD_JOB)
    apply_manifests(workspace, [str(folder)], actor=SYSTEM)
    request = HorizonRequest(START, 48, source=Files(GRID))
    runs = plan_data(compute_plan(workspace, objective="carbon", horizon=request))["schedule"][
        "runs"
    ]
    sites = {r["replica"]: r["site"] for r in runs if r["workload"] == "spread"}
    assert None not in sites.values() and len(sites) == 2
    assert sites[0] != sites[1]
    assert "sfo" in (sites[0], sites[1])  # the cleanest site takes one of them
