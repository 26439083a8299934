"""The README's tour runs as written, line by line, in a fresh folder.

Every line of the tour's ``bash`` block runs in a shell whose ``PATH`` starts with this
interpreter's ``bin`` (what ``source .venv/bin/activate`` does); ``export`` lines set the
environment of the lines after them. ``keel serve`` runs in the background on a free port, and
the remote line talks to it with the key the tour created. A line the README marks as refused
must fail with a Keel error, a line marked ``exit 1`` must exit 1 (a denial); every other line
must succeed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from live_server import clean_env, keel_serve

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent


def tour_lines() -> list[str]:
    """The tour's commands, continuation lines joined."""
    text = README.read_text(encoding="utf-8")
    block = text.split("## A short tour", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_tour_has_the_lines_this_test_knows_how_to_run() -> None:
    lines = tour_lines()
    assert lines[0] == "source .venv/bin/activate"
    assert any(line.startswith("keel serve") for line in lines)
    assert any("KEEL_SERVER=" in line for line in lines)
    assert len(lines) >= 30


def _run(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip


def test_every_line_of_the_readme_tour_runs(tmp_path: Path) -> None:
    env = clean_env(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("VIRTUAL_ENV", None)
    key, failures = "", []
    lines = tour_lines()
    serve_at = next(i for i, line in enumerate(lines) if line.startswith("keel serve"))
    for number, line in enumerate(lines[:serve_at], 1):
        if line.startswith("source "):
            continue
        if line.startswith("export "):
            name, value = shlex.split(line.split("#")[0])[1].split("=", 1)
            env[name] = value
            continue
        done = _run(line, tmp_path, env)
        if line.startswith("keel token create"):
            key = done.stdout.strip()
        comment = line.split("#", 1)[-1]
        if "refused" in comment:
            ok = done.returncode == 2 and "error[E-" in done.stderr
        else:
            ok = done.returncode == (1 if "exit 1" in comment else 0)
        if not ok:
            failures.append(
                f"line {number}: {line}\n  exit {done.returncode}: {done.stderr[-600:]}"
            )
    assert key.startswith("keel_"), "the tour creates an API key before it serves"
    with keel_serve(tmp_path, env=env) as url:
        for line in lines[serve_at + 1 :]:
            remote = re.sub(r"http://127\.0\.0\.1:8470", url, line).replace("keel_...", key)
            done = _run(remote, tmp_path, env)
            if done.returncode != 0:
                failures.append(f"{line}\n  exit {done.returncode}: {done.stderr[-600:]}")
            assert "fra-dc1" in done.stdout, "the remote line lists the sites"
    assert not failures, "\n".join(failures)
