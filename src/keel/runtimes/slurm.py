"""Slurm as an engine: ``sbatch``, ``scontrol``, ``scancel`` on the dispatching machine.

A job is a batch script read from standard input: its environment exported with shell quoting,
then the command. It goes to the partition of its site and pool (``ClusterSiteSpec.queue``),
named with Keel's job name, with ``--gres=gpu:N`` when the cluster requests devices. State comes
from ``scontrol show job`` (Slurm without accounting has no ``sacct``), which remembers finished
jobs for ``MinJobAge`` seconds: set it to cover a dispatch interval, as ``scripts/slurm.sh``
does. Output goes to ``<log folder>/<name>.out``, which Keel reads for ``keel runs logs``: on a
real cluster that folder must be on a file system the dispatching machine shares.
"""

from __future__ import annotations

import math
import os
import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path

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

TIMEOUT_S = 30.0
"""Longest wait for one Slurm command."""

_STATES: dict[str, RunState] = {
    "PENDING": "pending",
    "CONFIGURING": "pending",
    "REQUEUED": "pending",
    "RESIZING": "pending",
    "RUNNING": "running",
    "COMPLETING": "running",
    "SUSPENDED": "running",
    "STAGE_OUT": "running",
    "COMPLETED": "succeeded",
    "FAILED": "failed",
    "TIMEOUT": "failed",
    "NODE_FAIL": "failed",
    "OUT_OF_MEMORY": "failed",
    "BOOT_FAIL": "failed",
    "DEADLINE": "failed",
    "PREEMPTED": "failed",
    "CANCELLED": "cancelled",
}

_UNREACHABLE = (
    "Unable to contact slurm controller",
    "Connection refused",
    "Unable to establish",
    "Zero Bytes were transmitted",
    "Could not establish a configuration source",
)


def parse_jobs(text: str) -> list[dict[str, str]]:
    """Parse ``scontrol -o show job``: one job per line, ``Key=Value`` pairs.

    Args:
        text: The command's output.

    Returns:
        One mapping per job (values may contain spaces only in the last field, ``Command``
        and the like, which Keel does not read).
    """
    found = []
    for line in text.splitlines():
        fields: dict[str, str] = {}
        for part in line.split():
            key, sep, value = part.partition("=")
            if sep:
                fields[key] = value
        if "JobId" in fields:
            found.append(fields)
    return found


def _time(value: str | None) -> datetime | None:
    if not value or value in ("Unknown", "None", "N/A"):
        return None
    try:  # Slurm prints local time without a zone
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def status_of(fields: dict[str, str]) -> JobStatus:
    """A job's status from its ``scontrol`` fields.

    Args:
        fields: One job from :func:`parse_jobs`.

    Returns:
        The normalised status.
    """
    raw = fields.get("JobState", "")
    state = _STATES.get(raw, "unknown")
    code_text, _, signal_text = fields.get("ExitCode", "").partition(":")
    exit_code = int(code_text) if code_text.isdigit() and state in ("succeeded", "failed") else None
    if exit_code == 0 and signal_text not in ("", "0"):
        exit_code = 128 + int(signal_text)
    reason = fields.get("Reason", "None")
    return JobStatus(
        name=fields.get("JobName", ""),
        engine_id=fields["JobId"],
        state=state,
        exit_code=exit_code,
        started_at=_time(fields.get("StartTime")) if state != "pending" else None,
        finished_at=_time(fields.get("EndTime")) if state in ("succeeded", "failed") else None,
        node=fields.get("NodeList") if fields.get("NodeList") not in (None, "", "(null)") else None,
        where=fields.get("Partition"),
        message="" if reason == "None" or state in ("running", "succeeded") else f"{raw}: {reason}",
    )


class SlurmRuntime(Runtime):
    """Submits to a Slurm cluster through its command-line tools.

    Args:
        cluster: The ``Cluster`` resource's name.
        conf: Path of ``slurm.conf`` (``SLURM_CONF``), or ``None`` for Slurm's default.
        log_dir: Where jobs write their output.
        request_devices: Ask Slurm for the placed GPUs (``--gres=gpu:N``).
    """

    type = "slurm"
    capabilities = Capabilities(
        enforces_devices=True, logs=True, measures_energy=False, containers=False
    )

    def __init__(
        self, cluster: str, *, conf: str | None, log_dir: Path, request_devices: bool = True
    ) -> None:
        super().__init__(cluster)
        self.env = {**os.environ, **({"SLURM_CONF": conf} if conf else {})}
        self.log_dir = log_dir
        self.request_devices = request_devices

    def _run(self, args: list[str], script: str | None = None) -> str:
        try:
            done = subprocess.run(
                args,
                input=script,
                capture_output=True,
                text=True,
                env=self.env,
                timeout=TIMEOUT_S,
                check=False,
            )
        except FileNotFoundError as exc:
            raise EngineError(
                f"{args[0]} is not installed on this machine",
                cluster=self.cluster,
                hint="install Slurm's client commands (Debian: slurm-client)",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EngineError(
                f"{args[0]} did not answer in {TIMEOUT_S:.0f} s", cluster=self.cluster
            ) from exc
        if done.returncode != 0:
            reason = (done.stderr or done.stdout).strip()
            raise EngineError(
                f"{args[0]}: {reason or f'exit status {done.returncode}'}",
                cluster=self.cluster,
                unreachable=any(marker in reason for marker in _UNREACHABLE),
            )
        return done.stdout

    def _all(self) -> list[dict[str, str]]:
        return parse_jobs(self._run(["scontrol", "-o", "show", "job"]))

    def submit(self, job: JobRequest) -> JobStatus:  # noqa: D102 - the contract's docstring
        existing = self._named(job.name)
        if existing is not None:
            return existing
        self.log_dir.mkdir(parents=True, exist_ok=True)
        args = [
            "sbatch",
            "--parsable",
            f"--job-name={job.name}",
            f"--partition={job.queue}",
            f"--output={self.log_dir / (job.name + '.out')}",
            "--ntasks=1",
            f"--comment=keel:{job.workload}:{job.replica}",
        ]
        if job.time_limit_s:
            args.append(f"--time={max(1, math.ceil(job.time_limit_s / 60))}")
        if job.working_dir:
            args.append(f"--chdir={job.working_dir}")
        if self.request_devices and job.devices:
            args.append(f"--gres=gpu:{job.devices}")
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in sorted(job.env.items()))
        script = f"#!/bin/sh\n{exports}exec {shlex.join(job.command)}\n"
        job_id = self._run(args, script).strip().split(";")[0]
        for fields in self._all():
            if fields.get("JobId") == job_id:
                return status_of(fields)
        return JobStatus(job.name, job_id, "pending", where=job.queue)

    def _named(self, name: str) -> JobStatus | None:
        matches = [f for f in self._all() if f.get("JobName") == name]
        return status_of(matches[-1]) if matches else None

    def jobs(self) -> dict[str, JobStatus]:  # noqa: D102
        found: dict[str, JobStatus] = {}
        for fields in self._all():  # in job id order: a resubmitted name's newest wins
            if fields.get("JobName", "").startswith(NAME_PREFIX):
                found[fields["JobName"]] = status_of(fields)
        return found

    def cancel(self, name: str) -> None:  # noqa: D102
        self._run(["scancel", f"--name={name}"])

    def logs(self, name: str, *, max_bytes: int = 65_536) -> str:  # noqa: D102
        path = self.log_dir / f"{name}.out"
        if not path.exists():
            if self._named(name) is None:
                raise EngineError(f"no job {name}", cluster=self.cluster, unreachable=False)
            return ""
        return tail_text(path, max_bytes)
