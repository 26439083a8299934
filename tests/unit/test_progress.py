"""Long work reports its steps to whoever watches, and the CLI draws them only on a terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from keel import progress
from keel.cli.progress import TerminalProgress
from keel.service import Workspace, apply_manifests, ledger, planning
from keel.service.actor import Actor

SYSTEM = Actor.system("tests")


class Recorder:
    """A reporter that keeps what it was told."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, int | None]] = []
        self.done: dict[str, int] = {}
        self.open: list[str] = []

    def start(self, name: str, total: int | None) -> None:
        self.steps.append((name, total))
        self.open.append(name)
        self.done[name] = 0

    def advance(self, items: int) -> None:
        self.done[self.open[-1]] += items

    def finish(self) -> None:
        self.open.pop()


def test_nothing_is_reported_without_a_reporter() -> None:
    with progress.step("alone", total=3) as done:
        done(3)  # no reporter installed: a no-op, no error


def test_apply_plan_commit_and_verify_report_their_steps(tmp_path: Path, demo_dir: Path) -> None:
    workspace = Workspace.open(tmp_path, database_url=f"sqlite:///{tmp_path / 'k.db'}")
    recorder = Recorder()
    try:
        with progress.reporting(recorder):
            apply_manifests(workspace, [str(demo_dir)], actor=SYSTEM)
            result = planning.compute_plan(workspace)
            planning.commit_plan(workspace, result, actor=SYSTEM)
            report = ledger.verify(workspace)
    finally:
        workspace.close()
    names = [name for name, _ in recorder.steps]
    workloads = len({p.workload for p in result.plan.placements} | set(result.plan.unplaced))
    assert names[0] == "reading manifests"
    assert names[1].startswith("checking ") and names[1].endswith(" resources")
    assert names[2].startswith("writing ")
    assert f"solving {workloads:,} workloads (fast solver)" in names
    assert names.index("compiling the placement problem") < names.index(
        f"solving {workloads:,} workloads (fast solver)"
    )
    verifying = f"verifying {report.size:,} entries"
    assert (verifying, report.size) in recorder.steps
    assert recorder.done[verifying] == report.size - report.size % 4096  # whole batches
    assert not recorder.open  # every step finished


def test_the_terminal_shows_long_steps_with_their_time_and_hides_short_ones() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    reporter = TerminalProgress(console, quiet_s=0.05)
    with progress.reporting(reporter):
        with progress.step("quick"):
            pass
        with progress.step("verifying 10 entries", total=10) as done:
            time.sleep(0.3)
            done(10)
    text = out.getvalue()
    assert "verifying 10 entries: 0." in text or "verifying 10 entries: 1." in text
    assert "quick:" not in text


def _on_terminal(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[bytes, bytes]:
    """Run with stderr on a pseudo-terminal and stdout on a pipe: (stdout, what was drawn)."""
    main, other = pty.openpty()
    try:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=other)
        os.close(other)
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the other end closed (Linux reports EIO)
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main)
    assert done.returncode == 0, drawn[-2000:]
    return done.stdout, drawn


@pytest.mark.skipif(sys.platform != "linux", reason="needs a pseudo-terminal")
def test_the_cli_draws_on_a_terminal_and_stays_quiet_in_a_pipe(tmp_path: Path) -> None:
    keel = str(Path(sys.executable).with_name("keel"))
    env = {**os.environ, "KEEL_PRINCIPAL": "user:root-ops", "KEEL_PROGRESS_QUIET_S": "0"}
    subprocess.run([keel, "init", "."], cwd=tmp_path, env=env, check=True, capture_output=True)
    subprocess.run(
        [keel, "apply", "-f", "."], cwd=tmp_path, env=env, check=True, capture_output=True
    )
    command = [keel, "plan", "--no-commit", "-o", "json"]
    piped = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True)
    assert piped.returncode == 0 and piped.stderr == b""  # a pipe gets the answer, nothing else
    stdout, drawn = _on_terminal(command, tmp_path, env)
    assert json.loads(stdout)["placements"]  # the answer on stdout is untouched
    for step in (b"loading the estate", b"compiling the placement problem", b"workloads (fast"):
        assert step in drawn, drawn[-2000:]
    _, off = _on_terminal(command, tmp_path, {**env, "KEEL_PROGRESS": "0"})
    assert off == b""
