"""The bundled catalogs: provenance on every row, figures that match the reference facts."""

from __future__ import annotations

import csv
from importlib import resources

import pytest

from keel.estate.catalog import jurisdiction_members, load_catalog

FILES = ["accelerators.csv", "countries.csv", "regions.csv", "prices.csv"]


@pytest.mark.parametrize("filename", FILES)
def test_every_row_has_source_and_as_of(filename: str) -> None:
    text = resources.files("keel.estate.catalog").joinpath(filename).read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert rows
    for row in rows:
        assert row["source"].strip(), row
        assert len(row["as_of"]) == 10 and row["as_of"][4] == "-", row


def test_accelerator_figures_match_reference_facts() -> None:
    acc = load_catalog().accelerators
    assert (acc["H100-SXM"].power_w, acc["H100-SXM"].memory_gb) == (700, 80)
    assert (acc["H200-SXM"].power_w, acc["H200-SXM"].memory_gb) == (700, 141)
    assert (acc["L4"].power_w, acc["L4"].memory_gb) == (72, 24)
    assert (acc["MI300X"].power_w, acc["MI300X"].memory_gb) == (750, 192)
    assert acc["INFERENTIA2"].power_w is None  # not published


def test_region_figures_match_reference_facts() -> None:
    regions = load_catalog().regions
    assert regions[("gcp", "europe-north1")].carbon_intensity_gco2e_per_kwh == 46
    assert regions[("gcp", "europe-west9")].carbon_intensity_gco2e_per_kwh == 34
    assert regions[("aws", "us-east-1")].pue == 1.15
    for region in regions.values():
        assert region.country in load_catalog().countries, region


def test_prices_reference_existing_accelerators_and_ranges_hold() -> None:
    catalog = load_catalog()
    for price in catalog.prices.values():
        assert price.accelerator in catalog.accelerators
        assert price.usd_per_hour_low <= price.usd_per_hour <= price.usd_per_hour_high


def test_jurisdictions() -> None:
    catalog = load_catalog()
    eu, eea = jurisdiction_members(catalog, "EU"), jurisdiction_members(catalog, "EEA")
    assert len(eu) == 27
    assert eea == eu | {"IS", "LI", "NO"}
    assert jurisdiction_members(catalog, "CN") == {"CN"}
    assert jurisdiction_members(catalog, "XX") == frozenset()
    adequacy = {c.code for c in catalog.countries.values() if c.gdpr_adequacy}
    assert {"JP", "GB", "CH", "KR", "US", "CA"} <= adequacy
    assert "CN" not in adequacy
