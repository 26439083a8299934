"""A synthetic demand trace in Keel's format: one class on a daily cycle, with noise."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def daily_cycle(folder: Path, days: int, seed: int = 0) -> Path:
    """A class whose devices in use follow a daily cycle plus noise, one row per hour."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    lines = ["start,class,devices,duration_s"]
    for hour in range(days * 24):
        level = 20 + 10 * math.sin(2 * math.pi * hour / 24) + rng.normal(0, 1.5)
        when = (start + timedelta(hours=hour)).isoformat()
        lines.append(f"{when},web,{max(level, 0.1):.3f},3600")
    return write(folder, f"cycle-{days}-{seed}.csv", "\n".join(lines) + "\n")


def two_classes(folder: Path, days: int, seed: int = 0) -> Path:
    """Two classes over ``days``: ``web`` (one-device requests of 10 minutes, more by day) and
    ``batch`` (two-device jobs of 3 hours, arriving every 4 hours), in time order."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows: list[tuple[datetime, str, float, int]] = []
    for hour in range(days * 24):
        busy = 4 + 3 * math.sin(2 * math.pi * hour / 24)
        for _ in range(int(rng.poisson(max(busy, 0.5) * 6))):
            when = start + timedelta(hours=hour, seconds=float(rng.uniform(0, 3600)))
            rows.append((when, "web", 1.0, 600))
        if hour % 4 == 0:
            rows.append((start + timedelta(hours=hour), "batch", 2.0, 3 * 3600))
    rows.sort(key=lambda r: r[0])
    lines = ["start,class,devices,duration_s"]
    lines += [f"{w.isoformat()},{c},{d},{s}" for w, c, d, s in rows]
    return write(folder, f"two-{days}-{seed}.csv", "\n".join(lines) + "\n")
