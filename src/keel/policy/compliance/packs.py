"""The regulation packs shipped with Keel: Rego modules with parameters and Rego unit tests.

A pack is a template in Gatekeeper's sense: one Rego module under ``keel.packs.<name>`` that
reads its parameters from ``data.keel.params.<name>``. A ``PolicySet`` manifest enables it and
may override any parameter; the defaults here are the law as summarised in
``docs/policy.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from keel.estate.catalog import Catalog, load_catalog

PERSONAL_TAGS = ["personal"]


@dataclass(frozen=True, slots=True)
class Pack:
    """One regulation pack.

    Attributes:
        name: The name a ``PolicySet`` enables it by (also its package's last part).
        title: What it enforces, in a line.
        defaults: Default parameters.
    """

    name: str
    title: str
    defaults: dict[str, Any]

    @property
    def package(self) -> str:
        """The Rego package of the pack's module."""
        return f"keel.packs.{self.name}"

    def source(self) -> str:
        """The pack's Rego module."""
        return _read(f"{self.name}.rego")

    def test_source(self) -> str:
        """The pack's Rego unit tests."""
        return _read(f"{self.name}_test.rego")


def _read(filename: str) -> str:
    return (resources.files("keel.policy.compliance") / "packs" / filename).read_text("utf-8")


def _adequacy(catalog: Catalog) -> list[str]:
    return sorted(code for code, country in catalog.countries.items() if country.gdpr_adequacy)


def packs(catalog: Catalog | None = None) -> dict[str, Pack]:
    """Every shipped pack, by name.

    Args:
        catalog: Where country lists come from; the bundled catalog when ``None``.

    Returns:
        The packs, in a stable order.
    """
    catalog = catalog or load_catalog()
    found = [
        Pack(
            "gdpr",
            "EU/EEA personal data stays in the EEA or goes to adequacy countries",
            {"adequacy": _adequacy(catalog), "personal_tags": PERSONAL_TAGS},
        ),
        Pack(
            "pipl",
            "personal information collected in China stays in China",
            {"allowed_countries": ["CN"], "personal_tags": PERSONAL_TAGS},
        ),
        Pack(
            "hipaa",
            "health data (phi) only at sites certified hipaa",
            {"tags": ["phi"], "certification": "hipaa"},
        ),
        Pack(
            "pci_dss",
            "cardholder data (pci) only at sites certified pci-dss",
            {"tags": ["pci"], "certification": "pci-dss"},
        ),
        Pack(
            "classification",
            "restricted data on premises only; confidential data off public cloud unless it"
            " runs confidential computing",
            {
                "restricted_site_kinds": ["on_prem"],
                "confidential_denied_site_kinds": ["public_cloud"],
                "confidential_computing_exempts": True,
            },
        ),
        Pack(
            "eu_ai_act",
            "prohibited models never run; high-risk models deploy only with an approved risk"
            " assessment, a human-oversight contact and logging",
            {
                "deploy_kinds": ["batch_inference", "online_inference", "agent"],
                "interactive_kinds": ["online_inference", "agent"],
            },
        ),
    ]
    return {pack.name: pack for pack in found}
