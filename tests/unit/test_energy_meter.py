"""Energy meters: RAPL counters read from a powercap tree, differences, wraparound, absence."""

from __future__ import annotations

from pathlib import Path

from keel.energy import meter


def _zone(root: Path, name: str, energy_uj: int, range_uj: int = 262_143_328_850) -> None:
    zone = root / name
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{range_uj}\n")


def test_rapl_packages_are_summed_and_subzones_are_not_counted_twice(tmp_path: Path) -> None:
    _zone(tmp_path, "intel-rapl:0", 1_000_000)
    _zone(tmp_path, "intel-rapl:1", 2_000_000)
    _zone(tmp_path, "intel-rapl:0:0", 500_000)  # a part of package 0 (its cores)
    before = meter.read(tmp_path)
    _zone(tmp_path, "intel-rapl:0", 1_000_000 + 3_600_000_000)  # +1 Wh
    _zone(tmp_path, "intel-rapl:1", 2_000_000 + 7_200_000_000)  # +2 Wh
    _zone(tmp_path, "intel-rapl:0:0", 999_999_999_999)
    used = meter.used_kwh(before, meter.read(tmp_path))
    assert used is not None
    kwh, source = used
    assert source == "rapl"
    assert abs(kwh - 0.003) < 1e-12


def test_a_counter_that_wrapped_once_is_corrected(tmp_path: Path) -> None:
    _zone(tmp_path, "intel-rapl:0", 900, range_uj=1_000)
    before = meter.read(tmp_path)
    _zone(tmp_path, "intel-rapl:0", 100, range_uj=1_000)  # 900 -> 1000 -> 0 -> 100: 200 uJ
    kwh, _ = meter.used_kwh(before, meter.read(tmp_path)) or (None, None)
    assert kwh is not None
    assert abs(kwh - 200 / 3.6e12) < 1e-18


def test_no_readable_meter_means_no_measurement(tmp_path: Path) -> None:
    nothing = meter.read(tmp_path / "absent")
    assert nothing.counters_uj.get("rapl") is None
    assert meter.used_kwh(nothing, meter.read(tmp_path / "absent")) is None
    _zone(tmp_path, "intel-rapl:0", 5)
    (tmp_path / "intel-rapl:0" / "energy_uj").write_text("not a number")
    assert meter.read(tmp_path).counters_uj.get("rapl") is None
