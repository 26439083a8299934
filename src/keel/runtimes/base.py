"""The contract every execution engine adapter meets: submit, observe, cancel, read logs.

A :class:`Runtime` drives one engine (local processes, Ray, Slurm, Kubernetes) for one
``Cluster`` resource. Keel names every job it submits (:attr:`JobRequest.name`, deterministic
per workload, replica, placement and attempt) and the engine is the source of truth for what
exists under that name. Invariants every adapter keeps, checked by one contract test suite
(``tests/contract/test_runtime_contract.py``):

* :meth:`Runtime.submit` is idempotent: a name the engine already knows is not submitted
  again; the existing job's status comes back.
* :meth:`Runtime.jobs` reports every Keel job the engine knows (names starting with
  :data:`NAME_PREFIX`), finished ones included while the engine remembers them.
* An engine that cannot be reached raises :class:`keel.errors.EngineError` with
  ``unreachable=True``; one that refuses a job raises it with ``unreachable=False`` and the
  engine's reason. No vendor exception leaves an adapter.
* Energy is reported only when measured (``energy_source`` says by what); otherwise it is
  ``None`` and the caller estimates it, labelled as an estimate.
"""

from __future__ import annotations

import hashlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

RunState = Literal[
    "submitting", "pending", "running", "succeeded", "failed", "cancelled", "rejected", "unknown"
]
"""A run's state. ``submitting``: recorded by Keel, not yet confirmed by the engine (a Keel
killed here finds the job by name when it restarts). ``unknown``: the engine could not be asked.
"""

TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "rejected"})
"""States a run never leaves."""

NAME_PREFIX = "keel-"
"""Every job Keel submits is named ``keel-...``; adapters list only these."""

MAX_NAME = 63
"""Longest job name: a Kubernetes label value and DNS label (Slurm and Ray take longer)."""


def job_name(workload: str, key: str, attempt: int) -> str:
    """The engine-side name of one attempt of one run: deterministic, engine-safe.

    Args:
        workload: The workload's name (shortened to fit, never the only part).
        key: What identifies the run (workload, replica, site, pool, run digest).
        attempt: 1 for the first submission, 2 for the first retry, ...

    Returns:
        ``keel-<workload prefix>-<10 hex of the key>-a<attempt>``, lowercase letters, digits
        and ``-`` only, at most :data:`MAX_NAME` characters.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    tail = f"-{digest}-a{attempt}"
    stem = re.sub(r"[^a-z0-9-]+", "-", workload.lower()).strip("-")
    room = MAX_NAME - len(NAME_PREFIX) - len(tail)
    return f"{NAME_PREFIX}{stem[:room].rstrip('-') or 'w'}{tail}"


def tail_text(path: Path, max_bytes: int) -> str:
    """The end of a text file, at most ``max_bytes`` of it (bytes that do not decode replaced).

    Args:
        path: The file (a job's output).
        max_bytes: How much, from the end.

    Returns:
        The text.
    """
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - max_bytes))
        return handle.read().decode(errors="replace")


@dataclass(frozen=True, slots=True)
class JobRequest:
    """One attempt of one run, as an engine should start it.

    Attributes:
        name: The deterministic job name (:func:`job_name`).
        workload: The workload it carries out.
        replica: Which replica of the workload (0-based, across its placements).
        site: The site the plan chose.
        pool: The pool the plan chose.
        queue: Where on the engine that site and pool are: Slurm partition, Kueue LocalQueue,
            Ray custom resource (see ``ClusterSiteSpec``).
        devices: Accelerators per replica, from the plan.
        accelerator: The pool's accelerator (catalog name).
        accelerator_resource: The engine's resource name for it (``nvidia.com/gpu``), or
            ``None`` when devices are not requested from the engine.
        command: The argument vector.
        env: Environment variables (the workload's, plus ``KEEL_*`` facts of the placement).
        working_dir: Where the command starts, or ``None`` for the engine's default.
        image: Container image (Kubernetes), or ``None``.
        runtime_env: Ray's runtime environment, passed as is.
        service: ``True`` for online services and agents (run until stopped), ``False`` for
            jobs (run to completion).
        labels: Facts to attach where the engine keeps labels or metadata.
        time_limit_s: Stop the job after this long, where the engine enforces limits.
    """

    name: str
    workload: str
    replica: int
    site: str
    pool: str
    queue: str
    devices: int
    accelerator: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    image: str | None = None
    runtime_env: Mapping[str, Any] = field(default_factory=dict)
    service: bool = False
    accelerator_resource: str | None = None
    time_limit_s: float | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class JobStatus:
    """What an engine reports about one job.

    Attributes:
        name: The job's name.
        engine_id: The engine's own id (Slurm job id, Ray submission id, Kubernetes uid, pid).
        state: Normalised state (never ``submitting``; ``unknown`` only when the engine said
            something Keel cannot map).
        exit_code: The process's exit status once finished, when the engine reports one.
        started_at: When it started running.
        finished_at: When it finished.
        node: The node it ran on (Slurm node, Ray node id, pod's node), when known.
        where: Where the engine says it ran, in the engine's terms (Slurm partition, the Ray
            node's site resource, the Kueue queue), to check against the placement.
        message: The engine's reason for a failure or refusal, or ``""``.
        energy_kwh: Measured energy, or ``None``.
        energy_source: What measured it (``rapl``, ``nvml``), or ``None``.
    """

    name: str
    engine_id: str
    state: RunState
    exit_code: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    node: str | None = None
    where: str | None = None
    message: str = ""
    energy_kwh: float | None = None
    energy_source: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an adapter can and cannot do, as data (shown by ``keel runs`` and the docs).

    Attributes:
        enforces_devices: The engine reserves the placed accelerators for the job.
        logs: The adapter can read a job's output.
        measures_energy: The adapter may report measured energy.
        containers: Jobs run in a container image (``run.image`` is required).
    """

    enforces_devices: bool
    logs: bool
    measures_energy: bool
    containers: bool


class Runtime(ABC):
    """An execution engine's adapter, for one ``Cluster``.

    Attributes:
        cluster: The ``Cluster`` resource's name (named in errors).
    """

    type: ClassVar[str]
    capabilities: ClassVar[Capabilities]

    def __init__(self, cluster: str) -> None:
        self.cluster = cluster

    @abstractmethod
    def submit(self, job: JobRequest) -> JobStatus:
        """Start a job, unless the engine already knows its name.

        Args:
            job: The job.

        Returns:
            Its status right after submission (or the existing job's).

        Raises:
            keel.errors.EngineError: Unreachable, or the engine refused the job.
        """

    @abstractmethod
    def jobs(self) -> dict[str, JobStatus]:
        """Every Keel job the engine knows, by name.

        Raises:
            keel.errors.EngineError: The engine cannot be reached.
        """

    @abstractmethod
    def cancel(self, name: str) -> None:
        """Stop a job; stopping one that finished or does not exist is not an error.

        Args:
            name: The job's name.

        Raises:
            keel.errors.EngineError: The engine cannot be reached.
        """

    @abstractmethod
    def logs(self, name: str, *, max_bytes: int = 65_536) -> str:
        """The end of a job's output.

        Args:
            name: The job's name.
            max_bytes: At most this much, from the end.

        Returns:
            The text (``""`` when the job wrote nothing).

        Raises:
            keel.errors.EngineError: The engine cannot be reached or has no such job.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections (nothing to do for most adapters)."""
