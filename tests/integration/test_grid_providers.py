"""The Electricity Maps and WattTime providers against a local server replaying their formats.

No network: ``grid_replay`` serves the excerpts in ``tests/fixtures/grid`` as the APIs
document them. The providers must give the same numbers as the files they came from.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from grid_replay import GRID, KEY, PASSWORD, USER, Replay, replay
from keel.energy import grid, providers
from keel.energy.providers import ElectricityMaps, WattTime
from keel.errors import GridError
from live_server import KEEL
from timing_estate import digest, estate, series

JAN = datetime(2024, 1, 1, tzinfo=UTC)
JULY = datetime(2021, 7, 31, tzinfo=UTC)
REGIONS = {"US-CAL-CISO": "CAISO_NORTH"}


@pytest.fixture(scope="module")
def server() -> Replay:
    with replay() as found:
        yield found


@pytest.fixture(autouse=True)
def _reset(server: Replay) -> None:
    server.mode = "ok"
    server.requests.clear()


def test_electricity_maps_gives_the_numbers_of_its_own_export(
    server: Replay, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(providers, "EM_MAX_DAYS", 1)  # page the 48 hours a day at a time
    em = ElectricityMaps(KEY, url=f"{server.url}/v3")
    found = em.hourly("DE-LU", "carbon_location", JAN, 48)
    exported = grid.read(GRID / "DE-LU_2024_hourly.csv").window(JAN, 48)
    np.testing.assert_array_equal(found.values, exported.values)
    assert found.source == "electricitymaps:DE-LU" and not found.estimated.any()
    ranges = [q for path, q in server.requests if path.endswith("/past-range")]
    assert [(q["start"], q["end"]) for q in ranges] == [
        ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"),
        ("2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z"),
    ]


def test_electricity_maps_hours_from_now_on_come_from_its_forecast(server: Replay) -> None:
    now = datetime(2024, 1, 8, 12, tzinfo=UTC)  # the replay's forecast: the week before, again
    em = ElectricityMaps(KEY, url=f"{server.url}/v3", now=lambda: now)
    found = em.hourly("DE-LU", "carbon_location", datetime(2024, 1, 8, tzinfo=UTC), 24)
    assert [p for p, _ in server.requests] == [
        "/v3/carbon-intensity/past-range",
        "/v3/carbon-intensity/forecast",
    ]
    assert np.isnan(found.values[:12]).all()  # nothing recorded for the week after the excerpt
    exported = grid.read(GRID / "DE-LU_2024_hourly.csv").window(JAN, 24)
    np.testing.assert_array_equal(found.values[12:], exported.values[12:])
    assert found.estimated[12:].all() and not found.estimated[:12].any()


def test_watttime_converts_pounds_per_mwh_and_folds_five_minutes_into_hours(
    server: Replay,
) -> None:
    wt = WattTime(USER, PASSWORD, regions=REGIONS, url=server.url)
    found = wt.hourly("US-CAL-CISO", "carbon_marginal", JULY, 1)
    from_file = grid.read(GRID / "CAISO-PGE_moer.csv").hourly().window(JULY, 1)
    assert found.values[0] == pytest.approx(from_file.values[0], rel=1e-9)  # g/kWh both
    assert found.source == "watttime:CAISO_NORTH"
    assert server.requests[0][0] == "/login"
    historical = [q for path, q in server.requests if path == "/v3/historical"]
    assert historical[0]["signal_type"] == "co2_moer"


@pytest.mark.parametrize(
    ("make", "mode", "says"),
    [
        (lambda url: ElectricityMaps("wrong", url=f"{url}/v3"), "ok", "refused the credentials"),
        (lambda url: ElectricityMaps(KEY, url=f"{url}/v3"), "broken", "no list 'data'"),
        (lambda url: ElectricityMaps(KEY, url=f"{url}/v3"), "html", "not JSON"),
        (lambda url: WattTime(USER, "wrong", regions=REGIONS, url=url), "ok", "refused"),
        (lambda url: WattTime(USER, PASSWORD, regions=REGIONS, url=url), "units", "units"),
        (lambda url: WattTime(USER, PASSWORD, regions={}, url=url), "ok", "no region"),
        (lambda url: ElectricityMaps(KEY, url="http://127.0.0.1:9/v3"), "ok", "failed"),
    ],
)
def test_every_provider_failure_is_a_grid_error_naming_the_provider(
    server: Replay, make: object, mode: str, says: str
) -> None:
    server.mode = mode
    source = make(server.url)  # type: ignore[operator]
    signal = "carbon_location" if isinstance(source, ElectricityMaps) else "carbon_marginal"
    zone = "DE-LU" if signal == "carbon_location" else "US-CAL-CISO"
    start = JAN if signal == "carbon_location" else JULY
    with pytest.raises(GridError, match=says) as caught:
        source.hourly(zone, signal, start, 1)
    assert caught.value.message.startswith(("electricitymaps", "watttime"))


def test_keys_come_from_the_environment() -> None:
    with pytest.raises(GridError, match="ELECTRICITYMAPS_API_KEY"):
        providers.source_from("electricitymaps", None, {})
    with pytest.raises(GridError, match="WATTTIME_USER"):
        providers.source_from("watttime", None, {"WATTTIME_USER": "u"})
    with pytest.raises(GridError, match="ZONE=REGION"):
        providers.watttime_regions({"KEEL_WATTTIME_REGIONS": "US-TEX-ERCO"})
    found = providers.source_from(
        "watttime",
        None,
        {"WATTTIME_USER": "u", "WATTTIME_PASSWORD": "p", "KEEL_WATTTIME_REGIONS": "GB=UK"},
    )
    assert isinstance(found, WattTime) and found.regions["GB"] == "UK"


def test_a_plan_over_a_horizon_reads_electricity_maps_and_records_the_samedigest(
    server: Replay, tmp_path: Path
) -> None:
    """``keel plan --horizon`` with ``grid_source: electricitymaps``: the same numbers as the
    export give the same signal digest; a zone the API has no data for falls back, named."""
    day = ("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
    estate(tmp_path / "estate", [(f"train-{i}", *day) for i in range(2)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEEL_", "ELECTRICITY"))}
    env |= {
        "KEEL_PRINCIPAL": "user:root-ops",
        "KEEL_GRID_SOURCE": "electricitymaps",
        "KEEL_ELECTRICITYMAPS_URL": f"{server.url}/v3",
        "ELECTRICITYMAPS_API_KEY": KEY,
    }

    def keel(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KEEL, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )

    assert keel("apply", "-f", "estate").returncode == 0
    done = keel(
        "plan", "-o", "json", "--no-commit", "--horizon", "48h", "--start", "2024-01-01T00:00Z"
    )
    assert done.returncode == 0, done.stderr
    signals = {s["site"]: s for s in json.loads(done.stdout)["schedule"]["signals"]}
    assert signals["fra"]["source"] == "electricitymaps:DE-LU"
    assert signals["fra"]["digest"] == digest("DE-LU", "carbon_location", series("DE-LU"))
    assert signals["sfo"]["source"] == "annual figure"
    assert "electricitymaps:US-CAL-CISO: no value" in signals["sfo"]["note"]
    env.pop("ELECTRICITYMAPS_API_KEY")
    refused = keel("plan", "--no-commit", "--horizon", "48h")
    assert refused.returncode == 2 and "ELECTRICITYMAPS_API_KEY" in refused.stderr
