"""Energy meters: Intel/AMD RAPL through powercap, NVIDIA GPUs through NVML.

A meter is read before and after a job; the difference is the job's measured energy, labelled
with what measured it. What each meter covers, honestly:

* ``rapl``: every CPU package's counter under ``/sys/class/powercap`` (top-level
  ``intel-rapl:N`` zones; sub-zones are parts of them and are not added again). It measures the
  whole package, so other processes' work on the same machine is counted too. Counters wrap at
  ``max_energy_range_uj``; one wrap per reading interval is corrected. Reading needs permission
  (root on most kernels since 2020).
* ``nvml``: ``nvmlDeviceGetTotalEnergyConsumption`` of every visible GPU (Volta and later), when
  the ``pynvml`` module (``nvidia-ml-py``) and a driver are present.

Where neither is readable :func:`read` returns nothing and the caller estimates energy from the
pool's power and the measured duration, labelled ``estimated``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
"""Where the kernel exposes RAPL counters."""

_TOP_ZONE = re.compile(r"^intel-rapl:\d+$")


@dataclass(frozen=True, slots=True)
class Reading:
    """Counters at one instant: per source, per zone or device, in microjoules."""

    counters_uj: dict[str, dict[str, int]]
    ranges_uj: dict[str, dict[str, int]]


def _rapl(root: Path) -> tuple[dict[str, int], dict[str, int]]:
    counters: dict[str, int] = {}
    ranges: dict[str, int] = {}
    if not root.is_dir():
        return counters, ranges
    for zone in sorted(root.iterdir()):
        if not _TOP_ZONE.match(zone.name):
            continue
        try:
            counters[zone.name] = int((zone / "energy_uj").read_text().strip())
            ranges[zone.name] = int((zone / "max_energy_range_uj").read_text().strip())
        except (OSError, ValueError):
            continue
    return counters, ranges


def _nvml() -> dict[str, int]:
    try:
        import pynvml  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return {}
    try:
        pynvml.nvmlInit()
        try:
            found = {}
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                # millijoules since the driver loaded
                found[f"gpu{index}"] = (
                    int(pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)) * 1000
                )
            return found
        finally:
            pynvml.nvmlShutdown()
    except Exception:
        return {}


def read(powercap: Path = POWERCAP) -> Reading:
    """Read every available meter now.

    Args:
        powercap: The powercap folder (a test points it at a fake tree).

    Returns:
        The counters; empty when nothing is readable.
    """
    counters: dict[str, dict[str, int]] = {}
    ranges: dict[str, dict[str, int]] = {}
    rapl, rapl_ranges = _rapl(powercap)
    if rapl:
        counters["rapl"], ranges["rapl"] = rapl, rapl_ranges
    gpus = _nvml()
    if gpus:
        counters["nvml"] = gpus
    return Reading(counters, ranges)


def used_kwh(before: Reading, after: Reading) -> tuple[float, str] | None:
    """Energy used between two readings.

    Args:
        before: The reading at the start.
        after: The reading at the end.

    Returns:
        ``(kWh, source)`` with the sources joined by ``+`` (``rapl+nvml``), or ``None`` when no
        meter was readable both times.
    """
    total_uj = 0
    sources = []
    for source, start in before.counters_uj.items():
        end = after.counters_uj.get(source, {})
        common = start.keys() & end.keys()
        if not common:
            continue
        sources.append(source)
        for zone in common:
            delta = end[zone] - start[zone]
            if delta < 0:  # the counter wrapped once
                delta += before.ranges_uj.get(source, {}).get(zone, 0)
            total_uj += max(delta, 0)
    if not sources:
        return None
    return total_uj / 3.6e12, "+".join(sources)
