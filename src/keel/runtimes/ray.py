"""Ray as an engine: Ray Jobs through ``JobSubmissionClient`` (the ``keel[ray]`` extra).

A job's driver is pinned to its site's nodes by a custom resource: each node of a site is
started with ``--resources '{"site:<site>": N}'`` (or the name in ``ClusterSiteSpec.queue``)
and the job asks for one unit of it (``entrypoint_resources``) and no CPU, so the driver lands
on that site's node and its tasks inherit nothing unasked. With ``request_devices`` the driver
also asks for the placed GPUs (``entrypoint_num_gpus``); otherwise the job's own tasks request
them, the usual Ray pattern. The Ray submission id is Keel's job name, and Ray refuses a
submission id it knows, so a job is never submitted twice and a submission is one call. Where
a job ran is read back from its driver's node: the node's ``site:*`` resources are reported in
:attr:`JobStatus.where`.

Works the same against KubeRay: point ``address`` at the RayCluster's dashboard service.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from keel.errors import EngineError
from keel.runtimes.base import NAME_PREFIX, Capabilities, JobRequest, JobStatus, RunState, Runtime

if TYPE_CHECKING:
    from ray.job_submission import JobDetails, JobSubmissionClient

_STATES: dict[str, RunState] = {
    "PENDING": "pending",
    "RUNNING": "running",
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "STOPPED": "cancelled",
}


_NODE_SITES: dict[str, dict[str, str]] = {}
"""Per Ray address, each node's site resources (a node keeps its resources for its life)."""


def _ms(value: int | None) -> datetime | None:
    return None if not value else datetime.fromtimestamp(value / 1000, UTC)


class RayRuntime(Runtime):
    """Submits Ray Jobs to one Ray cluster.

    Args:
        cluster: The ``Cluster`` resource's name.
        address: The Ray dashboard's URL (``http://head:8265``).
        token: A bearer token for the dashboard, or ``None``.
        request_devices: Ask Ray for the placed GPUs for the driver.
    """

    type = "ray"
    capabilities = Capabilities(
        enforces_devices=False, logs=True, measures_energy=False, containers=False
    )

    def __init__(
        self, cluster: str, *, address: str, token: str | None, request_devices: bool = False
    ) -> None:
        super().__init__(cluster)
        self.address = address.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.request_devices = request_devices
        self._client: JobSubmissionClient | None = None
        self._sites = _NODE_SITES.setdefault(self.address, {})

    def _connect(self) -> JobSubmissionClient:
        if self._client is None:
            try:
                from ray.job_submission import JobSubmissionClient
            except ImportError as exc:
                raise EngineError(
                    "the ray package is not installed",
                    cluster=self.cluster,
                    hint="pip install 'keel[ray]'",
                ) from exc
            try:
                self._client = JobSubmissionClient(self.address, headers=self.headers)
            except Exception as exc:
                raise EngineError(
                    f"cannot reach Ray at {self.address}: {_first_line(exc)}",
                    cluster=self.cluster,
                    hint="is the Ray head running and its dashboard port open?",
                ) from exc
        return self._client

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except (ConnectionError, httpx.TransportError, OSError) as exc:
            raise EngineError(
                f"Ray at {self.address} stopped answering ({what}): {_first_line(exc)}",
                cluster=self.cluster,
            ) from exc
        except RuntimeError as exc:
            text = str(exc)
            unreachable = "Failed to connect" in text or "Connection" in text
            reason = "the job already exists" if "already exists" in text else _first_line(exc)
            raise EngineError(
                f"Ray refused {what}: {reason}",
                cluster=self.cluster,
                unreachable=unreachable,
            ) from exc

    def submit(self, job: JobRequest) -> JobStatus:  # noqa: D102 - the contract's docstring
        client = self._connect()
        runtime_env: dict[str, Any] = dict(job.runtime_env)
        runtime_env["env_vars"] = {**runtime_env.get("env_vars", {}), **job.env}
        if job.working_dir and "working_dir" not in runtime_env:
            runtime_env["working_dir"] = job.working_dir
        try:  # one call: Ray refuses a submission id it knows, which is the idempotence
            self._call(
                "the job",
                client.submit_job,
                entrypoint=shlex.join(job.command),
                submission_id=job.name,
                entrypoint_resources={job.queue: 1},
                entrypoint_num_cpus=0,
                entrypoint_num_gpus=job.devices if self.request_devices else 0,
                runtime_env=runtime_env,
                metadata={k: str(v) for k, v in job.labels.items()},
            )
        except EngineError as exc:
            if exc.unreachable or "the job already exists" not in exc.message:
                raise
            return self._status(self._call("status", client.get_job_info, job.name))
        return JobStatus(job.name, job.name, "pending", where=job.queue)

    def jobs(self) -> dict[str, JobStatus]:  # noqa: D102
        client = self._connect()
        found = self._call("the job list", client.list_jobs)
        return {
            details.submission_id: self._status(details)
            for details in found
            if (details.submission_id or "").startswith(NAME_PREFIX)
        }

    def cancel(self, name: str) -> None:  # noqa: D102
        client = self._connect()
        if name in self.jobs():
            self._call("the stop", client.stop_job, name)

    def logs(self, name: str, *, max_bytes: int = 65_536) -> str:  # noqa: D102
        client = self._connect()
        if name not in self.jobs():
            raise EngineError(f"no job {name}", cluster=self.cluster, unreachable=False)
        text: str = self._call("the logs", client.get_job_logs, name)
        return text[-max_bytes:]

    def _status(self, details: JobDetails) -> JobStatus:
        state = _STATES.get(str(details.status.value), "unknown")
        node = details.driver_node_id or None
        exit_code = getattr(details, "driver_exit_code", None)
        return JobStatus(
            name=details.submission_id or "",
            engine_id=details.submission_id or "",
            state=state,
            exit_code=exit_code if state in ("succeeded", "failed") else None,
            started_at=_ms(details.start_time) if state != "pending" else None,
            finished_at=_ms(details.end_time),
            node=node,
            where=self._site_of(node) if node else None,
            message=(details.message or "") if state in ("failed", "cancelled") else "",
        )

    def _site_of(self, node: str) -> str | None:
        if node not in self._sites:
            try:
                answer = httpx.get(
                    f"{self.address}/api/v0/nodes",
                    params={"detail": "1", "limit": "10000"},
                    headers=self.headers,
                    timeout=10.0,
                )
                answer.raise_for_status()
                for found in answer.json()["data"]["result"]["result"]:
                    resources = sorted(
                        r for r in found.get("resources_total", {}) if r.startswith("site:")
                    )
                    self._sites[found["node_id"]] = ",".join(resources)
            except (httpx.HTTPError, KeyError, ValueError):
                return None
        return self._sites.get(node) or None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
