"""Local processes as an engine: for the demo, tests and a single workstation.

Each job gets a folder ``<root>/<name>/`` holding ``job.json`` (what to run), ``pid.json``,
``out.log`` and, once it ended, ``result.json``. The folder is written aside and renamed into
place, the submission's atomic step: a name whose folder exists was submitted. Its runner
(:mod:`keel.runtimes.local_job`, in a session of its own, outliving the Keel that started it)
takes the job's lock and marks it started before running the command, so a job runs at most
once even when two runners race; a job whose runner never started (a Keel killed between the
rename and the start) is started by the next look at the engine. So a Keel killed anywhere in
a dispatch and restarted never runs a job twice, and loses none.

What it cannot enforce, honestly: devices, memory and the pool's capacity. A job is told its
placement (``KEEL_SITE``, ``KEEL_POOL``, ``KEEL_DEVICES``) and nothing stops it using more; every
site the local cluster serves is this one machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keel.errors import EngineError
from keel.runtimes.base import (
    NAME_PREFIX,
    Capabilities,
    JobRequest,
    JobStatus,
    RunState,
    Runtime,
    tail_text,
)
from keel.runtimes.local_job import LOCK, STARTED, process_start_ticks

REVIVE_AFTER_S = 10.0
"""A job whose runner has not started this long after submission gets a runner started."""


class LocalRuntime(Runtime):
    """Runs jobs as processes on this machine.

    Args:
        cluster: The ``Cluster`` resource's name.
        root: The folder that holds one sub-folder per job.
    """

    type = "local"
    capabilities = Capabilities(
        enforces_devices=False, logs=True, measures_energy=True, containers=False
    )

    def __init__(self, cluster: str, root: Path) -> None:
        super().__init__(cluster)
        self.root = root

    def _folder(self, name: str) -> Path:
        if not name.startswith(NAME_PREFIX) or "/" in name or name in (".", ".."):
            raise EngineError(f"{name!r} is not a Keel job name", cluster=self.cluster)
        return self.root / name

    def submit(self, job: JobRequest) -> JobStatus:  # noqa: D102 - the contract's docstring
        folder = self._folder(job.name)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            draft = Path(tempfile.mkdtemp(prefix=f".{job.name}.", dir=self.root))
            (draft / "job.json").write_text(
                json.dumps(
                    {
                        "name": job.name,
                        "command": list(job.command),
                        "env": dict(job.env),
                        "working_dir": job.working_dir,
                        "site": job.site,
                        "pool": job.pool,
                        "queue": job.queue,
                    }
                )
            )
        except OSError as exc:
            raise EngineError(
                f"cannot write the job folder under {self.root}: {exc}", cluster=self.cluster
            ) from exc
        try:
            draft.rename(folder)  # the atomic step: a job exists whole or not at all
        except OSError:
            shutil.rmtree(draft, ignore_errors=True)
            if not folder.is_dir():
                raise
        self._start(folder)
        return self._status(folder)

    def _start(self, folder: Path) -> None:
        """Start the job's runner unless it started (a second runner of one job exits at once)."""
        if (folder / STARTED).exists():
            return
        try:
            subprocess.Popen(
                [sys.executable, "-m", "keel.runtimes.local_job", str(folder)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise EngineError(
                f"cannot start a process: {exc}", cluster=self.cluster, unreachable=False
            ) from exc

    def jobs(self) -> dict[str, JobStatus]:  # noqa: D102
        if not self.root.is_dir():
            return {}
        found = {}
        for folder in self.root.iterdir():
            if not folder.name.startswith(NAME_PREFIX):
                continue
            status = self._status(folder)
            if status.state == "pending" and _stale(folder) and _unclaimed(folder):
                self._start(folder)  # its runner never started (a Keel killed in between)
            found[folder.name] = status
        return found

    def cancel(self, name: str) -> None:  # noqa: D102
        folder = self._folder(name)
        if not folder.is_dir() or (folder / "result.json").exists():
            return
        (folder / "cancel").touch()
        pid = _live_pid(folder)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def logs(self, name: str, *, max_bytes: int = 65_536) -> str:  # noqa: D102
        folder = self._folder(name)
        if not folder.is_dir():
            raise EngineError(f"no job {name}", cluster=self.cluster, unreachable=False)
        log = folder / "out.log"
        if not log.exists():
            return ""
        return tail_text(log, max_bytes)

    def _status(self, folder: Path) -> JobStatus:
        # The order of the reads matters: the runner writes pid.json, then the started marker,
        # runs, then writes result.json and exits. Reading started, then the pid, then the
        # result, a job is never taken for dead while its runner is starting or finishing; and
        # a result, once written, wins over a runner that has not exited yet.
        name = folder.name
        job = _read_json(folder / "job.json") or {}
        where = str(job.get("queue")) if job.get("queue") else None
        started = _mtime(folder / STARTED)
        pid = _live_pid(folder)
        result = _read_json(folder / "result.json")
        if result is None and pid is not None:
            return JobStatus(
                name,
                str(pid),
                "running",
                started_at=started,
                node=os.uname().nodename,
                where=where,
            )
        if result is not None:
            cancelled = bool(result.get("cancelled")) or (folder / "cancel").exists()
            code = int(result["exit_code"])
            state: RunState = "cancelled" if cancelled else ("succeeded" if code == 0 else "failed")
            return JobStatus(
                name=name,
                engine_id=str((_read_json(folder / "pid.json") or {}).get("pid", "")),
                state=state,
                exit_code=code,
                started_at=datetime.fromisoformat(result["started_at"]),
                finished_at=datetime.fromisoformat(result["finished_at"]),
                node=os.uname().nodename,
                where=where,
                message=f"exit status {code}" if state == "failed" else "",
                energy_kwh=result.get("energy_kwh"),
                energy_source=result.get("energy_source"),
            )
        if started is not None:
            cancelled = (folder / "cancel").exists()
            return JobStatus(
                name,
                "",
                "cancelled" if cancelled else "failed",
                where=where,
                message="" if cancelled else "the job's process ended without a result",
            )
        return JobStatus(name, "", "pending", where=where)


def _stale(folder: Path) -> bool:
    """Whether a job was submitted long enough ago that its runner should have started."""
    return time.time() - folder.stat().st_mtime > REVIVE_AFTER_S


def _unclaimed(folder: Path) -> bool:
    """Whether no runner holds the job's lock (it never started, or its runner is starting)."""
    if (folder / STARTED).exists():
        return False
    try:
        with (folder / LOCK).open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except BlockingIOError:
        return False
    return not (folder / STARTED).exists()


def _mtime(path: Path) -> datetime | None:
    """When a marker file was written, or ``None`` when it does not exist."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _live_pid(folder: Path) -> int | None:
    record = _read_json(folder / "pid.json")
    if not record:
        return None
    pid = int(str(record["pid"]))
    start = process_start_ticks(pid)
    if start is None or start != record.get("start"):
        return None
    try:  # a zombie (exited, not yet reaped) is not running
        if Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z":
            return None
    except OSError:
        return None
    return pid
