"""Every native dependency loads in one process and the process exits cleanly (DESIGN.md).

HiGHS comes through SciPy (``scipy.optimize``); ``highspy`` must never be imported, because it
aborts the process when loaded after regopy.
"""

from __future__ import annotations

import subprocess
import sys

NATIVE = [
    "yaml._yaml",
    "orjson",
    "psycopg",
    "psycopg_binary",
    "pydantic_core",
    "cryptography.hazmat.bindings._rust",
    "numpy",
    "scipy.optimize",
    "keel.cli.main",
]

CODE = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
assert "highspy" not in sys.modules, "highspy was imported"
print("ok")
"""


def test_native_modules_load_together() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CODE, *NATIVE], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_cli_loads_no_heavy_library_until_a_command_runs() -> None:
    """keel --help stays fast: the services and their libraries load inside commands."""
    heavy = [
        "sqlalchemy",
        "numpy",
        "scipy",
        "pandas",
        "pyarrow",
        "httpx",
        "cedarpy",
        "keel.service",
    ]
    code = f"import sys, keel.cli.main; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == ""
