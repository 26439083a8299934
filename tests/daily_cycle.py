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
