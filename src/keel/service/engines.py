"""Engines: from ``Cluster`` resources to runtime adapters, with their credentials resolved.

Credentials are references (an environment variable or a file of the dispatching process);
they are read here, at dispatch time, handed to the adapter and never stored or recorded.
Which engine knob each placement turns into (a Slurm partition, a Ray custom resource, a Kueue
LocalQueue and ResourceFlavor) is decided here too, in :func:`queue_for`.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from keel.errors import DispatchError, Problem
from keel.estate import Estate
from keel.estate.resources import ClusterSpec
from keel.runtimes.base import Runtime
from keel.runtimes.kubernetes import FlavorQuota, SiteQueue, dns_name

VENDOR_RESOURCES: dict[str, str] = {
    "nvidia": "nvidia.com/gpu",
    "amd": "amd.com/gpu",
    "intel": "habana.ai/gaudi",
    "google": "google.com/tpu",
    "aws": "aws.amazon.com/neuron",
}
"""The Kubernetes extended resource of each accelerator vendor's device plugin."""

DEFAULT_QUEUE: dict[str, str] = {
    "local": "{site}",
    "slurm": "{site}",
    "ray": "site:{site}",
    "kubernetes": "keel-{site}",
}
"""Where a site's work goes on each engine type unless the cluster says otherwise."""

CLIENT_PACKAGES: dict[str, tuple[str, str]] = {
    "ray": ("ray", "keel[ray]"),
    "kubernetes": ("kubernetes", "keel[kubernetes]"),
}
"""Engine types whose client library is an optional extra: (module, extra)."""


def clusters_by_site(estate: Estate) -> dict[str, tuple[str, ClusterSpec]]:
    """The cluster that serves each site (validation allows at most one).

    Args:
        estate: The estate.

    Returns:
        Site name -> (cluster name, its spec).
    """
    found: dict[str, tuple[str, ClusterSpec]] = {}
    for name, spec in sorted(estate.specs(ClusterSpec).items()):
        for binding in spec.sites:
            found.setdefault(binding.site, (name, spec))
    return found


def queue_for(spec: ClusterSpec, site: str, pool: str) -> str:
    """Where on the engine a site's pool is (partition, Ray resource, LocalQueue).

    Args:
        spec: The cluster.
        site: A site it serves.
        pool: One of the site's pools.

    Returns:
        The pool's own name in ``pools`` (not for Kubernetes, where it names the flavor),
        else the site's ``queue``, else the engine type's default.
    """
    binding = next(b for b in spec.sites if b.site == site)
    if spec.type != "kubernetes" and pool in binding.pools:
        return binding.pools[pool]
    return binding.queue or DEFAULT_QUEUE[spec.type].format(site=site)


def accelerator_resource(estate: Estate, spec: ClusterSpec, accelerator: str) -> str | None:
    """The engine resource to request for an accelerator, or ``None`` when not requested."""
    if not spec.request_devices:
        return None
    found = estate.accelerators.get(accelerator)
    return VENDOR_RESOURCES.get(found.vendor.lower(), "nvidia.com/gpu") if found else None


def problems_of(name: str, spec: ClusterSpec) -> list[Problem]:
    """What stops Keel from driving a cluster's engine from this process.

    Args:
        name: The cluster's name.
        spec: Its spec.

    Returns:
        Problems naming the cluster and field: a credential reference that does not resolve,
        a client library that is not installed.
    """
    found = []
    where = f"Cluster/{name}"
    if spec.type in CLIENT_PACKAGES:
        module, extra = CLIENT_PACKAGES[spec.type]
        if importlib.util.find_spec(module) is None:
            found.append(
                Problem(
                    "<estate>",
                    0,
                    where,
                    "spec.type",
                    f"driving {spec.type} needs the {module} package: pip install '{extra}'",
                )
            )
    ref = spec.credentials
    if ref is not None and ref.env is not None and not os.environ.get(ref.env):
        found.append(
            Problem(
                "<estate>",
                0,
                where,
                "spec.credentials.env",
                f"environment variable {ref.env} is not set (or empty) in this process",
            )
        )
    if ref is not None and ref.file is not None:
        path = Path(ref.file).expanduser()
        if not path.is_file() or not os.access(path, os.R_OK):
            found.append(
                Problem(
                    "<estate>",
                    0,
                    where,
                    "spec.credentials.file",
                    f"{ref.file} is not a readable file on this machine",
                )
            )
    return found


def runtime_for(name: str, spec: ClusterSpec, estate: Estate, state_dir: Path) -> Runtime:
    """The adapter that drives a cluster's engine.

    Args:
        name: The cluster's name.
        spec: Its spec.
        estate: The estate (the sites' pools, for Kueue's flavors and quotas).
        state_dir: The workspace's state folder (local jobs, Slurm output).

    Returns:
        The runtime.

    Raises:
        DispatchError: If a credential does not resolve or a client library is missing.
    """
    trouble = problems_of(name, spec)
    if trouble:
        raise DispatchError(f"Cluster/{name} cannot be driven from here", trouble)
    if spec.type == "local":
        from keel.runtimes.local import LocalRuntime

        return LocalRuntime(name, state_dir / "runs" / name)
    if spec.type == "slurm":
        from keel.runtimes.slurm import SlurmRuntime

        return SlurmRuntime(
            name,
            conf=spec.address,
            log_dir=state_dir / "slurm" / name,
            request_devices=spec.request_devices,
        )
    if spec.type == "ray":
        from keel.runtimes.ray import RayRuntime

        assert spec.address is not None
        return RayRuntime(
            name, address=spec.address, token=_secret(spec), request_devices=spec.request_devices
        )
    from keel.runtimes.kubernetes import KubernetesRuntime, setup_objects  # its client: lazily

    return KubernetesRuntime(
        name,
        kubeconfig=spec.credentials.file if spec.credentials else None,
        context=spec.context,
        namespace=spec.namespace,
        setup=setup_objects(site_queues(spec, estate), spec.namespace),
    )


def site_queues(spec: ClusterSpec, estate: Estate) -> list[SiteQueue]:
    """Kueue's view of the sites a Kubernetes cluster serves (flavor and quota per pool)."""
    found: list[SiteQueue] = []
    for binding in spec.sites:
        site = estate.sites.get(binding.site)
        if site is None:
            continue
        flavors = tuple(
            FlavorQuota(
                site=site.name,
                pool=pool.name,
                flavor=binding.pools.get(pool.name)
                or f"{dns_name(site.name)}-{dns_name(pool.name)}",
                resource=accelerator_resource(estate, spec, pool.accelerator),
                devices=pool.count,
            )
            for pool in site.pools
        )
        found.append(SiteQueue(site.name, queue_for(spec, site.name, ""), flavors))
    return found


def _secret(spec: ClusterSpec) -> str | None:
    ref = spec.credentials
    if ref is None:
        return None
    if ref.env is not None:
        return os.environ[ref.env]
    assert ref.file is not None
    return Path(ref.file).expanduser().read_text().strip()
