"""Kubernetes with Kueue and MultiKueue as an engine (the ``keel[kubernetes]`` extra).

Keel talks to the MultiKueue *manager* cluster. For every site a cluster serves it keeps:

* one ``ResourceFlavor`` per pool (``<site>-<pool>``, or the name in ``pools``), labelled with
  the site and pool so nodes can be matched;
* a ``MultiKueueCluster`` named after the site (its kubeconfig in the Secret
  ``keel-<site>-kubeconfig`` of Kueue's namespace, made by the cluster's admin);
* a ``MultiKueueConfig`` that lists **only that worker cluster**, an ``AdmissionCheck`` using
  it, and a ``ClusterQueue`` with the check and the pools' devices as quota;
* a ``LocalQueue`` (``keel-<site>`` or the site's ``queue``) in the namespace.

A job goes to the LocalQueue of the site the plan chose, so MultiKueue can admit it on that
worker cluster and no other: no racing every cluster (kueue#5141), dispatch to the chosen
cluster (kueue#9270, #12854), pinned to where its data is (#14540). Jobs are ``batch/v1`` Jobs,
suspended for Kueue, ``managedBy: kueue.x-k8s.io/multikueue``, with no Kubernetes retries
(Keel retries); services are ``apps/v1`` Deployments of one replica per run, labelled for the
site's LocalQueue (Kueue's pod integration; MultiKueue's support for Deployments depends on the
Kueue version).

What was exercised: the objects are generated and validated against the Kubernetes 1.34 and
Kueue v1beta2 schemas (golden files in the tests); status mapping from Job and Deployment
objects; an unreachable API server. No API server can run on the machine Keel is developed on,
so applying them to a live cluster was not exercised (``docs/runtimes.md``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from keel.errors import EngineError
from keel.runtimes.base import Capabilities, JobRequest, JobStatus, RunState, Runtime

KUEUE = "kueue.x-k8s.io"
KUEUE_VERSION = "v1beta2"
QUEUE_LABEL = f"{KUEUE}/queue-name"
MANAGED_BY = f"{KUEUE}/multikueue"
RUN_LABEL = "keel.dev/run"
OWNER_LABELS = {"app.kubernetes.io/managed-by": "keel"}
TIMEOUT_S = 10.0


def dns_name(text: str) -> str:
    """A DNS-1123 label from a Keel name (``_`` and ``.`` become ``-``).

    Args:
        text: A Keel resource name.

    Returns:
        Lowercase letters, digits and ``-``, at most 63 characters.
    """
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].rstrip("-")


@dataclass(frozen=True, slots=True)
class FlavorQuota:
    """A pool as Kueue sees it: a ResourceFlavor with a quota of devices."""

    site: str
    pool: str
    flavor: str
    resource: str | None
    devices: int


@dataclass(frozen=True, slots=True)
class SiteQueue:
    """A site as Kueue sees it: its LocalQueue and its pools' flavors."""

    site: str
    local_queue: str
    flavors: tuple[FlavorQuota, ...]


def setup_objects(sites: Sequence[SiteQueue], namespace: str) -> list[dict[str, Any]]:
    """The Kueue and MultiKueue objects that make each site its own admission target.

    Args:
        sites: Every site the cluster serves.
        namespace: The namespace of the LocalQueues (and of the jobs).

    Returns:
        The objects, in the order they should be applied.
    """
    found: list[dict[str, Any]] = []
    api = f"{KUEUE}/{KUEUE_VERSION}"
    for site in sites:
        name = f"keel-{dns_name(site.site)}"
        for flavor in site.flavors:
            found.append(
                {
                    "apiVersion": api,
                    "kind": "ResourceFlavor",
                    "metadata": {"name": flavor.flavor, "labels": dict(OWNER_LABELS)},
                    "spec": {
                        "nodeLabels": {
                            "keel.dev/site": flavor.site,
                            "keel.dev/pool": flavor.pool,
                        }
                    },
                }
            )
        found.append(
            {
                "apiVersion": api,
                "kind": "MultiKueueCluster",
                "metadata": {"name": dns_name(site.site), "labels": dict(OWNER_LABELS)},
                "spec": {
                    "clusterSource": {
                        "kubeConfig": {"location": f"{name}-kubeconfig", "locationType": "Secret"}
                    }
                },
            }
        )
        found.append(
            {
                "apiVersion": api,
                "kind": "MultiKueueConfig",
                "metadata": {"name": name, "labels": dict(OWNER_LABELS)},
                "spec": {"clusters": [dns_name(site.site)]},
            }
        )
        found.append(
            {
                "apiVersion": api,
                "kind": "AdmissionCheck",
                "metadata": {"name": name, "labels": dict(OWNER_LABELS)},
                "spec": {
                    "controllerName": MANAGED_BY,
                    "parameters": {"apiGroup": KUEUE, "kind": "MultiKueueConfig", "name": name},
                },
            }
        )
        groups: dict[str, list[dict[str, Any]]] = {}
        for flavor in site.flavors:
            resource = flavor.resource or "cpu"
            quota = str(flavor.devices) if flavor.resource else "1000"
            groups.setdefault(resource, []).append(
                {"name": flavor.flavor, "resources": [{"name": resource, "nominalQuota": quota}]}
            )
        found.append(
            {
                "apiVersion": api,
                "kind": "ClusterQueue",
                "metadata": {"name": name, "labels": dict(OWNER_LABELS)},
                "spec": {
                    "namespaceSelector": {},
                    "resourceGroups": [
                        {"coveredResources": [resource], "flavors": flavors}
                        for resource, flavors in sorted(groups.items())
                    ],
                    "admissionChecksStrategy": {"admissionChecks": [{"name": name}]},
                },
            }
        )
        found.append(
            {
                "apiVersion": api,
                "kind": "LocalQueue",
                "metadata": {
                    "name": site.local_queue,
                    "namespace": namespace,
                    "labels": dict(OWNER_LABELS),
                },
                "spec": {"clusterQueue": name},
            }
        )
    return found


def job_object(job: JobRequest, namespace: str) -> dict[str, Any]:
    """The Job (for a job) or Deployment (for a service) that runs one attempt.

    Args:
        job: The job; its ``image`` must be set.
        namespace: Where it goes.

    Returns:
        The object.
    """
    labels = {
        **OWNER_LABELS,
        QUEUE_LABEL: job.queue,
        RUN_LABEL: job.name,
        "keel.dev/site": job.site,
        "keel.dev/pool": job.pool,
    }
    annotations = {"keel.dev/workload": job.workload, "keel.dev/replica": str(job.replica)}
    container: dict[str, Any] = {
        "name": "main",
        "image": job.image,
        "command": list(job.command),
        "env": [{"name": k, "value": v} for k, v in sorted(job.env.items())],
    }
    if job.working_dir:
        container["workingDir"] = job.working_dir
    if job.accelerator_resource and job.devices:
        container["resources"] = {"limits": {job.accelerator_resource: str(job.devices)}}
    metadata = {
        "name": job.name,
        "namespace": namespace,
        "labels": labels,
        "annotations": annotations,
    }
    pod_labels = {RUN_LABEL: job.name, QUEUE_LABEL: job.queue}
    if job.service:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {RUN_LABEL: job.name}},
                "template": {
                    "metadata": {"labels": pod_labels},
                    "spec": {"containers": [container]},
                },
            },
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "suspend": True,
            "managedBy": MANAGED_BY,
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {"restartPolicy": "Never", "containers": [container]},
            },
        },
    }


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def status_of(obj: Mapping[str, Any]) -> JobStatus:
    """A run's status from its Job or Deployment, as the API server returns it.

    Args:
        obj: The object in its JSON form.

    Returns:
        The normalised status; ``where`` is its Kueue queue.
    """
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    name = str(metadata.get("name", ""))
    where = labels.get(QUEUE_LABEL)
    uid = str(metadata.get("uid") or name)
    if obj.get("kind") == "Deployment":
        ready = int(status.get("availableReplicas") or 0)
        return JobStatus(name, uid, "running" if ready else "pending", where=where)
    conditions = {
        c.get("type"): c
        for c in status.get("conditions") or []
        if c.get("status") in ("True", True)
    }
    state: RunState
    message = ""
    if "Complete" in conditions:
        state = "succeeded"
    elif "Failed" in conditions:
        state = "failed"
        found = conditions["Failed"]
        message = f"{found.get('reason', '')}: {found.get('message', '')}".strip(": ")
    elif spec.get("suspend"):
        state = "pending"
    elif int(status.get("active") or 0) > 0:
        state = "running"
    else:
        state = "pending"
    return JobStatus(
        name=name,
        engine_id=uid,
        state=state,
        exit_code=0 if state == "succeeded" else None,
        started_at=_time(status.get("startTime")),
        finished_at=_time(status.get("completionTime"))
        or (_time(conditions["Failed"].get("lastTransitionTime")) if state == "failed" else None),
        where=where,
        message=message,
    )


class KubernetesRuntime(Runtime):
    """Applies Jobs and Deployments (and the Kueue setup) with the official client.

    Args:
        cluster: The ``Cluster`` resource's name.
        kubeconfig: Path of the kubeconfig (the credential reference's file), or ``None`` for
            the client's default (``KUBECONFIG``, ``~/.kube/config``).
        context: The kubeconfig context, or ``None`` for its current one.
        namespace: Where jobs and LocalQueues go.
        setup: The Kueue objects (:func:`setup_objects`), applied once before the first job.
    """

    type = "kubernetes"
    capabilities = Capabilities(
        enforces_devices=True, logs=True, measures_energy=False, containers=True
    )

    def __init__(
        self,
        cluster: str,
        *,
        kubeconfig: str | None,
        context: str | None,
        namespace: str,
        setup: Sequence[dict[str, Any]] = (),
    ) -> None:
        super().__init__(cluster)
        self.kubeconfig = kubeconfig
        self.context = context
        self.namespace = namespace
        self.setup = list(setup)
        self._api: Any = None
        self._ready = False

    def _client(self) -> Any:
        if self._api is None:
            try:
                from kubernetes import client, config
            except ImportError as exc:
                raise EngineError(
                    "the kubernetes package is not installed",
                    cluster=self.cluster,
                    hint="pip install 'keel[kubernetes]'",
                ) from exc
            settings = client.Configuration()
            try:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=self.kubeconfig,
                    context=self.context,
                    client_configuration=settings,
                )
            except Exception as exc:
                raise EngineError(
                    f"cannot load the kubeconfig: {exc}",
                    cluster=self.cluster,
                    hint="check the cluster's credentials.file and context",
                ) from exc
            settings.retries = False  # one try: an unreachable server is reported at once
            self._api = client.ApiClient(settings)
        return self._api

    def _call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException

        try:
            return call(*args, _request_timeout=TIMEOUT_S, **kwargs)
        except ApiException as exc:
            raise EngineError(
                f"the API server refused {what}: {exc.status} {exc.reason}",
                cluster=self.cluster,
                unreachable=False,
            ) from exc
        except Exception as exc:
            raise EngineError(
                f"cannot reach the API server ({what}): {type(exc).__name__}",
                cluster=self.cluster,
            ) from exc

    def _apply_setup(self) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        if self._ready:
            return
        custom = client.CustomObjectsApi(self._client())
        for obj in self.setup:
            plural = obj["kind"].lower() + "s"
            try:
                if "namespace" in obj["metadata"]:
                    custom.create_namespaced_custom_object(
                        KUEUE,
                        KUEUE_VERSION,
                        obj["metadata"]["namespace"],
                        plural,
                        obj,
                        _request_timeout=TIMEOUT_S,
                    )
                else:
                    custom.create_cluster_custom_object(
                        KUEUE, KUEUE_VERSION, plural, obj, _request_timeout=TIMEOUT_S
                    )
            except ApiException as exc:
                if exc.status != 409:  # already there
                    raise EngineError(
                        f"the API server refused {obj['kind']}/{obj['metadata']['name']}:"
                        f" {exc.status} {exc.reason}",
                        cluster=self.cluster,
                        unreachable=False,
                    ) from exc
            except Exception as exc:
                raise EngineError(
                    f"cannot reach the API server: {type(exc).__name__}", cluster=self.cluster
                ) from exc
        self._ready = True

    def submit(self, job: JobRequest) -> JobStatus:  # noqa: D102 - the contract's docstring
        from kubernetes import client

        existing = self.jobs().get(job.name)
        if existing is not None:
            return existing
        self._apply_setup()
        body = job_object(job, self.namespace)
        if job.service:
            created = self._call(
                "the Deployment",
                client.AppsV1Api(self._client()).create_namespaced_deployment,
                self.namespace,
                body,
            )
        else:
            created = self._call(
                "the Job",
                client.BatchV1Api(self._client()).create_namespaced_job,
                self.namespace,
                body,
            )
        return status_of(
            self._client().sanitize_for_serialization(created) | {"kind": body["kind"]}
        )

    def jobs(self) -> dict[str, JobStatus]:  # noqa: D102
        from kubernetes import client

        api = self._client()
        selector = ",".join(f"{k}={v}" for k, v in OWNER_LABELS.items())
        found: dict[str, JobStatus] = {}
        for kind, lister in (
            ("Job", client.BatchV1Api(api).list_namespaced_job),
            ("Deployment", client.AppsV1Api(api).list_namespaced_deployment),
        ):
            listed = self._call(f"the {kind} list", lister, self.namespace, label_selector=selector)
            for item in api.sanitize_for_serialization(listed).get("items", []):
                status = status_of(item | {"kind": kind})
                found[status.name] = status
        return found

    def cancel(self, name: str) -> None:  # noqa: D102
        from kubernetes import client

        known = self.jobs()
        if name not in known:
            return
        api = self._client()
        body = client.V1DeleteOptions(propagation_policy="Background")
        deleters = (
            client.BatchV1Api(api).delete_namespaced_job,
            client.AppsV1Api(api).delete_namespaced_deployment,
        )
        for deleter in deleters:
            try:
                self._call("the deletion", deleter, name, self.namespace, body=body)
                return
            except EngineError as exc:
                if exc.unreachable:
                    raise

    def logs(self, name: str, *, max_bytes: int = 65_536) -> str:  # noqa: D102
        from kubernetes import client

        core = client.CoreV1Api(self._client())
        pods = self._call(
            "the pod list",
            core.list_namespaced_pod,
            self.namespace,
            label_selector=f"{RUN_LABEL}={name}",
        )
        if not pods.items:
            if name not in self.jobs():
                raise EngineError(f"no job {name}", cluster=self.cluster, unreachable=False)
            return ""
        text: str = self._call(
            "the logs",
            core.read_namespaced_pod_log,
            pods.items[-1].metadata.name,
            self.namespace,
            limit_bytes=max_bytes,
        )
        return text
