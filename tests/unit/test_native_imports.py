"""Every native dependency loads in one process and the process exits cleanly (DESIGN.md)."""

from __future__ import annotations

import subprocess
import sys

NATIVE = [
    "yaml._yaml",
    "orjson",
    "psycopg",
    "psycopg_binary",
    "cryptography.hazmat.bindings._rust",
    "pydantic_core",
    "sqlalchemy.cyextension",
]


def test_native_modules_load_together() -> None:
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\nprint('ok')"
    present = []
    for name in NATIVE:
        probe = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True)
        if probe.returncode == 0:
            present.append(name)
    assert {"yaml._yaml", "orjson", "psycopg", "pydantic_core"} <= set(present)
    result = subprocess.run(
        [sys.executable, "-c", code, *present], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
