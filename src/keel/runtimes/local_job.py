"""The process that carries one local job: ``python -m keel.runtimes.local_job FOLDER``.

The local runtime starts this in a session of its own, so a job outlives the Keel that started
it. It takes the job's lock and creates its ``started`` marker (a second runner of the same job
exits at once, so a job runs at most once), reads ``job.json`` from the folder, records its pid
(with the process's start time, so a reused pid is not taken for it), reads the energy meters,
runs the command with its output in
``out.log``, and writes ``result.json`` atomically when the command ends: exit status, start and
end times, measured energy. On SIGTERM (a cancel) it stops the command and records that.

Imports nothing heavy: a job's overhead is one Python start.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from keel.energy import meter

LOCK = "lock"
"""The file a runner holds an exclusive lock on while it runs the job."""

STARTED = "started"
"""Created once, by the one runner that runs the job, before the command starts."""


def process_start_ticks(pid: int) -> str | None:
    """The start time of a process in clock ticks since boot (``/proc/PID/stat`` field 22).

    Args:
        pid: A process id.

    Returns:
        The start time as text, or ``None`` when the process does not exist.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()[19]


def write_atomically(path: Path, data: dict[str, object]) -> None:
    """Write JSON so a reader sees the old file or the whole new one, never half.

    Args:
        path: The file.
        data: What to write.
    """
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data))
    os.replace(partial, path)


def main(folder: Path) -> int:
    """Run the job described in ``folder/job.json``.

    Args:
        folder: The job's folder.

    Returns:
        The command's exit status.
    """
    lock = (folder / LOCK).open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return 0  # another runner has the job
    if (folder / STARTED).exists():
        return 0  # it ran, or runs, already: never twice (checked under the lock)
    job = json.loads((folder / "job.json").read_text())
    child: subprocess.Popen[bytes] | None = None
    cancelled = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal cancelled
        cancelled = True
        if child is not None and child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    # The pid is written before the cancel marker is read; a canceller touches the marker before
    # it reads the pid: one of the two always sees the other, so a cancel is never lost.
    write_atomically(
        folder / "pid.json", {"pid": os.getpid(), "start": process_start_ticks(os.getpid())}
    )
    (folder / STARTED).touch()  # after the pid: a started job always has a process to look at
    env = {**os.environ, **job["env"]}
    started = datetime.now(UTC)
    before = meter.read()
    code = -signal.SIGTERM
    with (folder / "out.log").open("ab") as out:
        try:
            if not cancelled and not (folder / "cancel").exists():
                child = subprocess.Popen(
                    job["command"],
                    cwd=job.get("working_dir") or None,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
        except OSError as exc:
            out.write(f"keel: cannot start {job['command'][0]!r}: {exc}\n".encode())
            code = 127
        if child is not None:
            if cancelled:  # the signal came between the check and the start
                child.terminate()
            while True:
                try:
                    code = child.wait(timeout=1.0 if cancelled else None)
                    break
                except subprocess.TimeoutExpired:
                    child.kill()
        else:
            cancelled = cancelled or (folder / "cancel").exists()
    finished = datetime.now(UTC)
    measured = meter.used_kwh(before, meter.read())
    write_atomically(
        folder / "result.json",
        {
            "exit_code": code,
            "cancelled": cancelled,
            "started_at": started.isoformat(),
            "finished_at": finished.isoformat(),
            "energy_kwh": measured[0] if measured else None,
            "energy_source": measured[1] if measured else None,
        },
    )
    return code


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
