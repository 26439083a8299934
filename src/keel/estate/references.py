"""Checks that span resources, and resolution of catalog defaults into an :class:`Estate`.

:func:`build_estate` takes resources that are each valid on their own and checks the estate as a
whole: names are unique per kind, every reference names a real resource (with a "did you mean"),
accelerators exist in the catalog, dataset replicas respect the dataset's residency, and every
site and pool has the values placement needs (from the manifest, else the catalog).

Invariants:
    * Every problem is located at the field that causes it.
    * The returned estate is complete only when no problem was found.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from keel.errors import Problem
from keel.estate.catalog import (
    JURISDICTION_GROUPS,
    SURVEY_PUE,
    WORLD_CARBON_INTENSITY_GCO2E_PER_KWH,
    Accelerator,
    Catalog,
    Region,
    jurisdiction_members,
    load_catalog,
)
from keel.estate.estate import Estate, ResolvedPool, ResolvedSite
from keel.estate.manifest import FieldPath, LocatedResource
from keel.estate.resources import (
    CLASSIFICATION_ORDER,
    AcceleratorSpec,
    AgentSpec,
    ClusterSpec,
    DatasetSpec,
    LinkSpec,
    ModelSpec,
    MonitorSpec,
    Resource,
    SiteSpec,
    WorkloadSpec,
    split_model_ref,
)
from keel.estate.spelling import did_you_mean

DEFAULT_PUBLIC_EGRESS_USD_PER_GB = 0.09
"""AWS internet egress, first tiers; used for public-cloud sites outside the region catalog."""


class _Checker:
    def __init__(self, located: Sequence[LocatedResource], catalog: Catalog) -> None:
        self.catalog = catalog
        self.problems: list[Problem] = []
        self.by_kind: dict[str, dict[str, LocatedResource]] = {}
        for item in located:
            group = self.by_kind.setdefault(item.resource.kind, {})
            first = group.get(item.resource.name)
            if first is not None:
                where = f"{first.path}:{first.line}" if first.line else first.path
                self.problems.append(
                    item.problem(("name",), f"duplicate: already declared at {where}")
                )
                continue
            group[item.resource.name] = item
        self.accelerators: dict[str, Accelerator] = dict(catalog.accelerators)
        for name, item in self.by_kind.get("Accelerator", {}).items():
            spec = item.resource.spec
            assert isinstance(spec, AcceleratorSpec)
            self.accelerators[name] = Accelerator(
                name, spec.vendor, spec.memory_gb, spec.power_w, f"manifest {item.path}", ""
            )

    def names(self, kind: str) -> dict[str, LocatedResource]:
        return self.by_kind.get(kind, {})

    def require(self, item: LocatedResource, path: FieldPath, kind: str, name: str) -> bool:
        names = self.names(kind)
        if name in names:
            return True
        self.problems.append(
            item.problem(path, f"{kind} '{name}' does not exist{did_you_mean(name, names)}")
        )
        return False

    def require_accelerator(self, item: LocatedResource, path: FieldPath, name: str) -> bool:
        if name in self.accelerators:
            return True
        self.problems.append(
            item.problem(
                path,
                f"accelerator '{name}' is not in the catalog{did_you_mean(name, self.accelerators)}"
                " (declare it with kind: Accelerator)",
            )
        )
        return False

    def require_all(
        self, item: LocatedResource, path: FieldPath, kind: str, names: Iterable[str]
    ) -> None:
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                self.problems.append(item.problem((*path, index), f"'{name}' is listed twice"))
            seen.add(name)
            self.require(item, (*path, index), kind, name)

    # -- sites -----------------------------------------------------------------------------
    def site(self, item: LocatedResource) -> ResolvedSite | None:
        spec = item.resource.spec
        assert isinstance(spec, SiteSpec)
        problems_before = len(self.problems)
        defaults: dict[str, str] = {}
        region = None
        if spec.provider and spec.region:
            region = self.catalog.regions.get((spec.provider, spec.region))
            if (
                region is None
                and spec.kind == "public_cloud"
                and not (spec.country and spec.location)
            ):
                known = [r for (p, r) in self.catalog.regions if p == spec.provider]
                message = (
                    f"region '{spec.region}' of provider '{spec.provider}' is not in the catalog"
                    f"{did_you_mean(spec.region, known)}; or state country and location"
                )
                self.problems.append(item.problem(("spec", "region"), message))
        elif spec.kind == "public_cloud":
            self.problems.append(
                item.problem(("spec",), "a public_cloud site needs provider and region")
            )
        reported = len(self.problems) > problems_before
        source = f"catalog:regions {region.provider}/{region.region}" if region else ""
        country = spec.country
        if country is None and region is not None:
            country, defaults["country"] = region.country, source
        elif country is not None and region is not None and country != region.country:
            self.problems.append(
                item.problem(
                    ("spec", "country"),
                    f"country {country} contradicts the catalog: {region.provider}/{region.region}"
                    f" is in {region.country}",
                )
            )
        if country is None and not reported:
            self.problems.append(
                item.problem(("spec",), "missing country (or a catalog provider and region)")
            )
        location = spec.location
        if location is None and region is not None:
            lat, lon = region.latitude, region.longitude
            defaults["location"] = source
        elif location is not None:
            lat, lon = location.latitude, location.longitude
        else:
            if not reported:
                self.problems.append(
                    item.problem(
                        ("spec",),
                        "missing location (or a catalog provider and region); latency needs it",
                    )
                )
            lat = lon = 0.0
        pue, carbon, egress = self.site_figures(spec, region, country, defaults)
        zone = spec.grid_zone
        if zone is None and region is not None:
            zone, defaults["grid_zone"] = region.grid_zone, source
        pools = self.pools(item, spec, defaults)
        if len(self.problems) > problems_before or country is None:
            return None
        return ResolvedSite(
            name=item.resource.name,
            kind=spec.kind,
            provider=spec.provider,
            region=spec.region,
            country=country,
            latitude=lat,
            longitude=lon,
            max_classification=spec.max_classification,
            certifications=tuple(spec.certifications),
            confidential_computing=spec.confidential_computing,
            pue=pue,
            carbon_intensity_gco2e_per_kwh=carbon,
            egress_usd_per_gb=egress,
            available=spec.available,
            pools=tuple(pools),
            grid_zone=zone,
            defaults=defaults,
        )

    def site_figures(
        self,
        spec: SiteSpec,
        region: Region | None,
        country: str | None,
        defaults: dict[str, str],
    ) -> tuple[float, float, float]:
        """PUE, grid carbon intensity and egress price: the manifest's, else the catalog's."""
        source = f"catalog:regions {region.provider}/{region.region}" if region else ""
        country_row = self.catalog.countries.get(country or "")
        if spec.pue is not None:
            pue = spec.pue
        elif region is not None:
            pue, defaults["pue"] = region.pue, source
        else:
            pue, defaults["pue"] = SURVEY_PUE, "default: Uptime Institute 2023 survey average"
        if spec.carbon_intensity_gco2e_per_kwh is not None:
            carbon = spec.carbon_intensity_gco2e_per_kwh
        elif region is not None:
            carbon = region.carbon_intensity_gco2e_per_kwh
            defaults["carbon_intensity_gco2e_per_kwh"] = source
        elif country_row is not None and country_row.carbon_intensity_gco2e_per_kwh is not None:
            carbon = country_row.carbon_intensity_gco2e_per_kwh
            defaults["carbon_intensity_gco2e_per_kwh"] = f"catalog:countries {country}"
        else:
            carbon = WORLD_CARBON_INTENSITY_GCO2E_PER_KWH
            defaults["carbon_intensity_gco2e_per_kwh"] = "default: world average (CodeCarbon)"
        if spec.egress_usd_per_gb is not None:
            egress = spec.egress_usd_per_gb
        elif region is not None:
            egress, defaults["egress_usd_per_gb"] = region.egress_usd_per_gb, source
        elif spec.kind == "public_cloud":
            egress = DEFAULT_PUBLIC_EGRESS_USD_PER_GB
            defaults["egress_usd_per_gb"] = "default: AWS internet egress, first tier"
        else:
            egress, defaults["egress_usd_per_gb"] = 0.0, "default: owned network, no per-GB charge"
        return pue, carbon, egress

    def pools(
        self, item: LocatedResource, spec: SiteSpec, defaults: dict[str, str]
    ) -> list[ResolvedPool]:
        resolved = []
        seen: set[str] = set()
        for index, pool in enumerate(spec.pools):
            path: FieldPath = ("spec", "pools", index)
            if pool.name in seen:
                self.problems.append(
                    item.problem((*path, "name"), f"pool '{pool.name}' is listed twice")
                )
                continue
            seen.add(pool.name)
            if not self.require_accelerator(item, (*path, "accelerator"), pool.accelerator):
                continue
            acc = self.accelerators[pool.accelerator]
            memory_gb = pool.memory_gb or acc.memory_gb
            if pool.memory_gb is None:
                defaults[f"pools.{pool.name}.memory_gb"] = f"catalog:accelerators {acc.name}"
            power_w = pool.power_w or acc.power_w
            if power_w is None:
                self.problems.append(
                    item.problem(
                        path,
                        f"the catalog has no board power for {acc.name}: set power_w",
                    )
                )
                continue
            if pool.power_w is None:
                defaults[f"pools.{pool.name}.power_w"] = f"catalog:accelerators {acc.name}"
            usd = pool.usd_per_hour
            if usd is None:
                price = self.catalog.reference_price(acc.name)
                if spec.kind != "public_cloud":
                    self.problems.append(
                        item.problem(
                            path,
                            f"missing usd_per_hour: owned hardware ({spec.kind}) is never free;"
                            " state its amortised cost per device-hour",
                        )
                    )
                    continue
                if price is None:
                    self.problems.append(
                        item.problem(
                            path, f"the catalog has no price for {acc.name}: set usd_per_hour"
                        )
                    )
                    continue
                usd = price.usd_per_hour
                defaults[f"pools.{pool.name}.usd_per_hour"] = (
                    f"catalog:prices {acc.name}/{price.market} ({price.as_of})"
                )
            resolved.append(ResolvedPool(pool.name, acc.name, pool.count, memory_gb, usd, power_w))
        return resolved

    # -- the other kinds ---------------------------------------------------------------------
    def dataset(self, item: LocatedResource, sites: dict[str, ResolvedSite]) -> None:
        spec = item.resource.spec
        assert isinstance(spec, DatasetSpec)
        self.require_all(item, ("spec", "replicas"), "Site", spec.replicas)
        allowed: set[str] = set()
        for index, jurisdiction in enumerate(spec.residency):
            members = jurisdiction_members(self.catalog, jurisdiction)
            if not members:
                known = [*JURISDICTION_GROUPS, *self.catalog.countries]
                self.problems.append(
                    item.problem(
                        ("spec", "residency", index),
                        f"unknown jurisdiction '{jurisdiction}'{did_you_mean(jurisdiction, known)}"
                        " (use an ISO country code from the catalog, EU or EEA)",
                    )
                )
                return
            allowed |= members
        rank = CLASSIFICATION_ORDER.index
        for index, replica in enumerate(spec.replicas):
            site = sites.get(replica)
            if site is None:
                continue
            if rank(spec.classification) > rank(site.max_classification):
                self.problems.append(
                    item.problem(
                        ("spec", "replicas", index),
                        f"a {spec.classification} dataset cannot be held at Site/{replica}, whose"
                        f" max_classification is {site.max_classification}",
                    )
                )
            if spec.residency and site.country not in allowed:
                self.problems.append(
                    item.problem(
                        ("spec", "replicas", index),
                        f"replica at Site/{replica} ({site.country}) is outside the dataset's"
                        f" residency ({', '.join(spec.residency)})",
                    )
                )

    def model(self, item: LocatedResource) -> None:
        spec = item.resource.spec
        assert isinstance(spec, ModelSpec)
        versions: set[str] = set()
        for index, version in enumerate(spec.versions):
            path: FieldPath = ("spec", "versions", index)
            if version.version in versions:
                self.problems.append(
                    item.problem((*path, "version"), f"version '{version.version}' is listed twice")
                )
            versions.add(version.version)
            self.require_all(item, (*path, "trained_on"), "Dataset", version.trained_on)

    def model_ref(self, item: LocatedResource, path: FieldPath, ref: str) -> None:
        name, version = split_model_ref(ref)
        if not self.require(item, path, "Model", name) or version is None:
            return
        spec = self.names("Model")[name].resource.spec
        assert isinstance(spec, ModelSpec)
        known = [v.version for v in spec.versions]
        if version not in known:
            self.problems.append(
                item.problem(
                    path, f"Model '{name}' has no version '{version}'{did_you_mean(version, known)}"
                )
            )

    def workload(self, item: LocatedResource) -> None:
        spec = item.resource.spec
        assert isinstance(spec, WorkloadSpec)
        self.model_ref(item, ("spec", "model"), spec.model)
        self.require_all(item, ("spec", "inputs"), "Dataset", spec.inputs)
        for index, name in enumerate(spec.compute.accelerators):
            self.require_accelerator(item, ("spec", "compute", "accelerators", index), name)
        self.require_all(item, ("spec", "serves"), "UserRegion", spec.serves)
        if spec.agent is not None:
            self.require(item, ("spec", "agent"), "Agent", spec.agent)

    def agent(self, item: LocatedResource) -> None:
        spec = item.resource.spec
        assert isinstance(spec, AgentSpec)
        self.model_ref(item, ("spec", "model"), spec.model)
        self.require_all(item, ("spec", "datasets"), "Dataset", spec.datasets)

    def monitor_actions(
        self, item: LocatedResource, spec: MonitorSpec, workload: LocatedResource
    ) -> None:
        target = workload.resource.spec
        assert isinstance(target, WorkloadSpec)
        model = self.names("Model").get(split_model_ref(target.model)[0])
        high = (
            model is not None
            and isinstance(model.resource.spec, ModelSpec)
            and model.resource.spec.risk_tier == "high"
        )
        for index, action in enumerate(spec.actions):
            path: FieldPath = ("spec", "actions", index)
            if action.do == "rollback" and target.kind in ("training", "fine_tuning"):
                self.problems.append(
                    item.problem(
                        (*path, "do"),
                        f"Workload '{spec.workload}' is {target.kind}: it serves no model to roll"
                        " back",
                    )
                )
            if high and action.do in ("rollback", "pause") and action.approval == "none":
                self.problems.append(
                    item.problem(
                        (*path, "approval"),
                        f"Workload '{spec.workload}' serves a high-risk model: an automatic"
                        f" {action.do} needs an approver (approval: before or after)",
                    )
                )

    def monitor(self, item: LocatedResource) -> None:
        spec = item.resource.spec
        assert isinstance(spec, MonitorSpec)
        self.require(item, ("spec", "workload"), "Workload", spec.workload)
        workload = self.names("Workload").get(spec.workload)
        if workload is not None:
            self.monitor_actions(item, spec, workload)
        if spec.latency is not None and workload is not None:
            target = workload.resource.spec
            assert isinstance(target, WorkloadSpec)
            if target.latency_slo_ms is None:
                self.problems.append(
                    item.problem(
                        ("spec", "latency"),
                        f"Workload '{spec.workload}' has no latency_slo_ms to check against",
                    )
                )

    def cluster(self, item: LocatedResource, bound: dict[str, str]) -> None:
        spec = item.resource.spec
        assert isinstance(spec, ClusterSpec)
        sites = self.names("Site")
        for index, binding in enumerate(spec.sites):
            path: FieldPath = ("spec", "sites", index)
            if not self.require(item, (*path, "site"), "Site", binding.site):
                continue
            other = bound.setdefault(binding.site, item.resource.name)
            if other != item.resource.name:
                self.problems.append(
                    item.problem(
                        (*path, "site"),
                        f"Site '{binding.site}' is already served by Cluster/{other}:"
                        " a site runs its work on one engine",
                    )
                )
            site = sites[binding.site].resource.spec
            assert isinstance(site, SiteSpec)
            pools = {pool.name for pool in site.pools}
            for pool in binding.pools:
                if pool not in pools:
                    self.problems.append(
                        item.problem(
                            (*path, "pools", pool),
                            f"Site '{binding.site}' has no pool '{pool}'"
                            + did_you_mean(pool, pools),
                        )
                    )

    def link(self, item: LocatedResource, seen: dict[frozenset[str], str]) -> None:
        spec = item.resource.spec
        assert isinstance(spec, LinkSpec)
        endpoints = {**self.names("Site"), **self.names("UserRegion")}
        for index, name in enumerate(spec.between):
            if name not in endpoints:
                self.problems.append(
                    item.problem(
                        ("spec", "between", index),
                        f"'{name}' is neither a Site nor a UserRegion"
                        + did_you_mean(name, endpoints),
                    )
                )
        pair = frozenset(spec.between)
        if pair in seen:
            self.problems.append(
                item.problem(
                    ("spec", "between"), f"the same pair is already linked by Link/{seen[pair]}"
                )
            )
        seen[pair] = item.resource.name


def build_estate(
    located: Sequence[LocatedResource], catalog: Catalog | None = None
) -> tuple[Estate, list[Problem]]:
    """Check resources as one estate and resolve catalog defaults.

    Args:
        located: Resources, each valid on its own, with where they were declared.
        catalog: The catalog; the bundled one when ``None``.

    Returns:
        The estate and every cross-resource problem. The estate is only trustworthy when the
        list is empty.
    """
    catalog = catalog or load_catalog()
    checker = _Checker(located, catalog)
    sites: dict[str, ResolvedSite] = {}
    for name, item in checker.names("Site").items():
        site = checker.site(item)
        if site is not None:
            sites[name] = site
    for item in checker.names("Dataset").values():
        checker.dataset(item, sites)
    for item in checker.names("Model").values():
        checker.model(item)
    for item in checker.names("Agent").values():
        checker.agent(item)
    for item in checker.names("Workload").values():
        checker.workload(item)
    for item in checker.names("Monitor").values():
        checker.monitor(item)
    bound: dict[str, str] = {}
    for item in checker.names("Cluster").values():
        checker.cluster(item, bound)
    linked: dict[frozenset[str], str] = {}
    for item in checker.names("Link").values():
        checker.link(item, linked)
    resources: dict[str, dict[str, Resource]] = {
        kind: {name: item.resource for name, item in group.items()}
        for kind, group in checker.by_kind.items()
    }
    estate = Estate(resources, sites, checker.accelerators, catalog)
    return estate, checker.problems
