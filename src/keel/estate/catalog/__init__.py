"""Bundled reference catalogs: accelerators, countries, cloud regions and prices.

The data lives beside this module as CSV files; every row carries ``source`` and ``as_of``.
Manifests override any value: an ``Accelerator`` resource adds or replaces an accelerator, and a
site or pool that states a value wins over the catalog.

Invariants:
    * Catalogs are read once per process and are immutable afterwards.
    * Numbers are parsed strictly; an empty cell means "not published" (``None``).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from importlib import resources as importlib_resources

WORLD_CARBON_INTENSITY_GCO2E_PER_KWH = 475.0
"""CodeCarbon's world-average fallback, used when neither region nor country is known."""

SURVEY_PUE = 1.58
"""Uptime Institute 2023 industry survey average PUE, the default for owned data centres."""


@dataclass(frozen=True, slots=True)
class Accelerator:
    """One accelerator type from the catalog."""

    name: str
    vendor: str
    memory_gb: float
    power_w: float | None
    source: str
    as_of: str


@dataclass(frozen=True, slots=True)
class Country:
    """A country or territory with the facts regulation and carbon accounting need."""

    code: str
    name: str
    eu: bool
    eea: bool
    gdpr_adequacy: bool
    carbon_intensity_gco2e_per_kwh: float | None
    source: str
    as_of: str


@dataclass(frozen=True, slots=True)
class Region:
    """A public-cloud region."""

    provider: str
    region: str
    country: str
    latitude: float
    longitude: float
    carbon_intensity_gco2e_per_kwh: float
    grid_zone: str
    pue: float
    egress_usd_per_gb: float
    source: str
    as_of: str


@dataclass(frozen=True, slots=True)
class Price:
    """A reference price per accelerator-hour in one market."""

    accelerator: str
    market: str
    usd_per_hour: float
    usd_per_hour_low: float
    usd_per_hour_high: float
    source: str
    as_of: str


@dataclass(frozen=True, slots=True)
class Catalog:
    """All bundled catalogs, indexed by their natural keys."""

    accelerators: dict[str, Accelerator]
    countries: dict[str, Country]
    regions: dict[tuple[str, str], Region]
    prices: dict[tuple[str, str], Price]

    def reference_price(self, accelerator: str) -> Price | None:
        """The hyperscaler on-demand price for an accelerator, if the catalog has one.

        Args:
            accelerator: Catalog name of the accelerator.

        Returns:
            The price row, or ``None`` when no hyperscaler price is known.
        """
        return self.prices.get((accelerator, "hyperscaler"))


def _rows(filename: str) -> list[dict[str, str]]:
    text = importlib_resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def _optional_float(cell: str) -> float | None:
    return float(cell) if cell.strip() else None


def _bool(cell: str) -> bool:
    if cell not in ("true", "false"):
        raise ValueError(f"expected true or false, got {cell!r}")
    return cell == "true"


@functools.cache
def load_catalog() -> Catalog:
    """Read the bundled CSV catalogs.

    Returns:
        The catalog, cached for the life of the process.
    """
    accelerators = {
        row["name"]: Accelerator(
            name=row["name"],
            vendor=row["vendor"],
            memory_gb=float(row["memory_gb"]),
            power_w=_optional_float(row["power_w"]),
            source=row["source"],
            as_of=row["as_of"],
        )
        for row in _rows("accelerators.csv")
    }
    countries = {
        row["code"]: Country(
            code=row["code"],
            name=row["name"],
            eu=_bool(row["eu"]),
            eea=_bool(row["eea"]),
            gdpr_adequacy=_bool(row["gdpr_adequacy"]),
            carbon_intensity_gco2e_per_kwh=_optional_float(row["carbon_intensity_gco2e_per_kwh"]),
            source=row["source"],
            as_of=row["as_of"],
        )
        for row in _rows("countries.csv")
    }
    regions = {
        (row["provider"], row["region"]): Region(
            provider=row["provider"],
            region=row["region"],
            country=row["country"],
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            carbon_intensity_gco2e_per_kwh=float(row["carbon_intensity_gco2e_per_kwh"]),
            grid_zone=row["grid_zone"],
            pue=float(row["pue"]),
            egress_usd_per_gb=float(row["egress_usd_per_gb"]),
            source=row["source"],
            as_of=row["as_of"],
        )
        for row in _rows("regions.csv")
    }
    prices = {
        (row["accelerator"], row["market"]): Price(
            accelerator=row["accelerator"],
            market=row["market"],
            usd_per_hour=float(row["usd_per_hour"]),
            usd_per_hour_low=float(row["usd_per_hour_low"]),
            usd_per_hour_high=float(row["usd_per_hour_high"]),
            source=row["source"],
            as_of=row["as_of"],
        )
        for row in _rows("prices.csv")
    }
    return Catalog(accelerators=accelerators, countries=countries, regions=regions, prices=prices)


JURISDICTION_GROUPS = ("EU", "EEA")
"""Jurisdictions that name a group of countries rather than one country."""


def jurisdiction_members(catalog: Catalog, jurisdiction: str) -> frozenset[str]:
    """The country codes a jurisdiction covers.

    Args:
        catalog: The catalog to read memberships from.
        jurisdiction: An ISO 3166-1 alpha-2 code, ``EU`` or ``EEA``.

    Returns:
        The member country codes; empty when the jurisdiction is unknown.
    """
    if jurisdiction == "EU":
        return frozenset(c.code for c in catalog.countries.values() if c.eu)
    if jurisdiction == "EEA":
        return frozenset(c.code for c in catalog.countries.values() if c.eea)
    if jurisdiction in catalog.countries:
        return frozenset({jurisdiction})
    return frozenset()
