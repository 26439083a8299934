"""The estate as one consistent object: resources plus the values resolved from the catalogs.

:class:`Estate` is what the rest of Keel computes over. Sites and pools here carry effective
values (the manifest's, else the catalog's, else a documented default) and record where each
defaulted value came from in ``defaults``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, TypeVar

from keel.estate.catalog import Accelerator, Catalog
from keel.estate.geo import estimated_rtt_ms, great_circle_km
from keel.estate.resources import (
    SPEC_TYPES,
    Classification,
    LinkSpec,
    Location,
    ModelSpec,
    Resource,
    SiteKind,
    Spec,
    UserRegionSpec,
    WorkloadSpec,
)

S = TypeVar("S", bound=Spec)
KIND_OF_SPEC: dict[type[Spec], str] = {spec: kind for kind, spec in SPEC_TYPES.items()}

BYTES_PER_PARAMETER_SERVING = 2.0
"""bf16 weights."""

BYTES_PER_PARAMETER_TRAINING = 18.0
"""Mixed-precision training with Adam: weights, gradients and optimizer states (16-20 bytes)."""


@dataclass(frozen=True, slots=True)
class ResolvedPool:
    """A pool with every value effective."""

    name: str
    accelerator: str
    count: int
    memory_gb: float
    usd_per_hour: float
    power_w: float


@dataclass(frozen=True, slots=True)
class ResolvedSite:
    """A site with every value effective.

    Attributes:
        defaults: For each value not stated in the manifest, where it came from.
    """

    name: str
    kind: SiteKind
    provider: str | None
    region: str | None
    country: str
    latitude: float
    longitude: float
    max_classification: Classification
    certifications: tuple[str, ...]
    confidential_computing: bool
    pue: float
    carbon_intensity_gco2e_per_kwh: float
    egress_usd_per_gb: float
    available: bool
    pools: tuple[ResolvedPool, ...]
    grid_zone: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The resolved site as JSON-compatible data.

        Returns:
            A mapping with every effective value and the ``defaults`` provenance.
        """
        data = {name: getattr(self, name) for name in _SITE_SCALARS}
        data["certifications"] = list(self.certifications)
        data["pools"] = [
            {name: getattr(pool, name) for name in _POOL_FIELDS} for pool in self.pools
        ]
        data["defaults"] = dict(self.defaults)
        return data


_POOL_FIELDS = tuple(f.name for f in fields(ResolvedPool))
_SITE_SCALARS = tuple(
    f.name for f in fields(ResolvedSite) if f.name not in ("certifications", "pools", "defaults")
)


@dataclass(frozen=True, slots=True)
class ResolvedModelVersion:
    """Memory needs of one model version, stated or estimated from its parameter count."""

    version: str
    parameters_billion: float
    memory_gb: float
    training_memory_gb: float


def resolve_model_versions(spec: ModelSpec) -> list[ResolvedModelVersion]:
    """Memory needs of every version of a model.

    Args:
        spec: The model's spec.

    Returns:
        One entry per version, in declaration order.
    """
    return [
        ResolvedModelVersion(
            version=v.version,
            parameters_billion=v.parameters_billion,
            memory_gb=v.memory_gb or v.parameters_billion * BYTES_PER_PARAMETER_SERVING,
            training_memory_gb=v.training_memory_gb
            or v.parameters_billion * BYTES_PER_PARAMETER_TRAINING,
        )
        for v in spec.versions
    ]


class Estate:
    """Resources by kind and name, with resolved sites and the effective accelerator catalog.

    Args:
        resources: Every resource, keyed by kind then name.
        sites: Resolved sites by name.
        accelerators: The catalog's accelerators with ``Accelerator`` resources applied.
        catalog: The bundled catalog.
    """

    def __init__(
        self,
        resources: dict[str, dict[str, Resource]],
        sites: dict[str, ResolvedSite],
        accelerators: dict[str, Accelerator],
        catalog: Catalog,
    ) -> None:
        self.resources = resources
        self.sites = sites
        self.accelerators = accelerators
        self.catalog = catalog
        self._specs: dict[type[Spec], dict[str, Any]] = {}
        self._links: dict[frozenset[str], float] = {}
        for resource in resources.get("Link", {}).values():
            assert isinstance(resource.spec, LinkSpec)
            self._links[frozenset(resource.spec.between)] = resource.spec.latency_ms

    def of_kind(self, kind: str) -> dict[str, Resource]:
        """Resources of one kind, by name.

        Args:
            kind: A resource kind such as ``Dataset``.

        Returns:
            A mapping, empty when there are none.
        """
        return self.resources.get(kind, {})

    def specs(self, spec_type: type[S]) -> dict[str, S]:
        """Every resource whose spec is of a type, by name, as its spec (typed).

        ``estate.specs(DatasetSpec)`` instead of ``of_kind("Dataset")`` plus ``isinstance``.

        Args:
            spec_type: A spec class, such as :class:`DatasetSpec`.

        Returns:
            Specs by name, empty when there are none.
        """
        found = self._specs.get(spec_type)
        if found is None:  # resources do not change once an estate is built: read once
            kind = KIND_OF_SPEC[spec_type]
            found = {
                name: resource.spec
                for name, resource in self.of_kind(kind).items()
                if isinstance(resource.spec, spec_type)
            }
            self._specs[spec_type] = found
        return dict(found)

    def workloads(self) -> dict[str, WorkloadSpec]:
        """Every workload's spec, by name."""
        return self.specs(WorkloadSpec)

    def with_job_hours(self, hours: dict[str, float]) -> Estate:
        """This estate with some jobs' run length (``compute.hours``) replaced.

        Args:
            hours: Workload name -> hours per run (measured ones, say).

        Returns:
            A new estate; this one is unchanged.
        """
        workloads = dict(self.of_kind("Workload"))
        for name, value in hours.items():
            resource = workloads[name]
            assert isinstance(resource.spec, WorkloadSpec)
            compute = resource.spec.compute.model_copy(update={"hours": value})
            spec = resource.spec.model_copy(update={"compute": compute})
            workloads[name] = resource.model_copy(update={"spec": spec})
        resources = {**self.resources, "Workload": workloads}
        return Estate(resources, self.sites, self.accelerators, self.catalog)

    def with_sites_down(self, names: Iterable[str]) -> Estate:
        """This estate with some sites unavailable (their engine reports them down, say).

        Args:
            names: Sites to mark unavailable; unknown names are ignored.

        Returns:
            A new estate; this one is unchanged.
        """
        down = set(names)
        sites = {
            name: replace(site, available=False) if name in down else site
            for name, site in self.sites.items()
        }
        return Estate(self.resources, sites, self.accelerators, self.catalog)

    def __len__(self) -> int:
        return sum(len(group) for group in self.resources.values())

    def resolved(self, kind: str, name: str) -> dict[str, Any] | None:
        """Effective values Keel derived for a resource, as JSON-compatible data.

        Args:
            kind: Resource kind.
            name: Resource name.

        Returns:
            The resolved site (with pools and ``defaults``), the memory needs of each model
            version, or ``None`` for kinds with nothing to resolve.
        """
        if kind == "Site" and name in self.sites:
            return self.sites[name].to_json()
        if kind == "Model":
            model = self.of_kind("Model").get(name)
            if model is not None:
                assert isinstance(model.spec, ModelSpec)
                return {"versions": [asdict(v) for v in resolve_model_versions(model.spec)]}
        return None

    def location_of(self, name: str) -> Location | None:
        """Where a site or user region is.

        Args:
            name: A site or user-region name.

        Returns:
            The location, or ``None`` when the name is unknown.
        """
        site = self.sites.get(name)
        if site is not None:
            return Location(latitude=site.latitude, longitude=site.longitude)
        region = self.of_kind("UserRegion").get(name)
        if region is not None:
            assert isinstance(region.spec, UserRegionSpec)
            return region.spec.location
        return None

    def rtt_ms(self, a: str, b: str) -> tuple[float, bool]:
        """Round-trip time between two sites or user regions.

        Args:
            a: A site or user-region name.
            b: Another one.

        Returns:
            The RTT in milliseconds and whether it was estimated from distance (``True``)
            rather than taken from a declared ``Link``.

        Raises:
            KeyError: If either name is not a site or user region.
        """
        declared = self._links.get(frozenset((a, b)))
        if declared is not None:
            return declared, False
        here, there = self.location_of(a), self.location_of(b)
        if here is None or there is None:
            raise KeyError(a if here is None else b)
        if a == b:
            return estimated_rtt_ms(0.0), True
        km = great_circle_km(here.latitude, here.longitude, there.latitude, there.longitude)
        return estimated_rtt_ms(km), True
