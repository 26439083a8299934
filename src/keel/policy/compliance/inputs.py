"""The documents the compliance policies read: ``input`` per workload, ``data.keel.sites``."""

from __future__ import annotations

from typing import Any

from keel.estate.estate import Estate, ResolvedSite
from keel.estate.resources import (
    AgentSpec,
    ModelSpec,
    WorkloadSpec,
    split_model_ref,
)


def site_document(site: ResolvedSite, labels: dict[str, str]) -> dict[str, Any]:
    """A site's attributes as policies and selectors see them.

    Args:
        site: The resolved site.
        labels: The site resource's labels.

    Returns:
        ``name``, ``kind``, ``country``, ``provider``, ``region``, ``max_classification``,
        ``confidential_computing``, ``certifications`` and ``labels``.
    """
    return {
        "name": site.name,
        "kind": site.kind,
        "country": site.country,
        "provider": site.provider,
        "region": site.region,
        "max_classification": site.max_classification,
        "confidential_computing": site.confidential_computing,
        "certifications": list(site.certifications),
        "labels": labels,
    }


def site_documents(estate: Estate) -> dict[str, dict[str, Any]]:
    """``data.keel.sites``: every site's attributes, by name.

    Args:
        estate: The estate.

    Returns:
        Site documents by name, sorted.
    """
    resources = estate.of_kind("Site")
    return {
        name: site_document(site, dict(resources[name].labels) if name in resources else {})
        for name, site in sorted(estate.sites.items())
    }


def _spec(model: Any) -> dict[str, Any]:
    return {k: v for k, v in model.model_dump(mode="json").items() if v is not None}


class InputBuilder:
    """Builds ``input`` documents for workloads, reusing each dataset's and model's part.

    Args:
        estate: The estate.
    """

    def __init__(self, estate: Estate) -> None:
        self.estate = estate
        self._datasets: dict[str, dict[str, Any]] = {}
        self._models: dict[str, dict[str, Any]] = {}

    def _dataset(self, name: str) -> dict[str, Any] | None:
        if name not in self._datasets:
            resource = self.estate.of_kind("Dataset").get(name)
            if resource is None:
                return None
            self._datasets[name] = {
                "name": name,
                "labels": dict(resource.labels),
                **_spec(resource.spec),
            }
        return self._datasets[name]

    def _model(self, ref: str) -> dict[str, Any] | None:
        if ref not in self._models:
            model_name, version = split_model_ref(ref)
            model = self.estate.of_kind("Model").get(model_name)
            if model is None:
                return None
            assert isinstance(model.spec, ModelSpec)
            fields = _spec(model.spec)
            versions = fields.pop("versions")
            chosen = next((v for v in versions if v["version"] == version), versions[-1])
            self._models[ref] = {
                "name": model_name,
                "labels": dict(model.labels),
                **fields,
                "version": chosen,
            }
        return self._models[ref]

    def document(self, name: str, sites: list[str] | None = None) -> dict[str, Any]:
        """``input`` for one workload: the workload, its model, datasets and candidate sites.

        Fields that are not set are left out, so ``not input.model.oversight_contact`` reads
        the way it should (``labels`` is always there, empty or not). An agent workload also
        gets ``agent``, and the agent's datasets count among its datasets.

        Args:
            name: The workload's name.
            sites: Candidate site names; ``None`` when every site of ``data.keel.sites`` is a
                candidate (the usual case: the list is then left out of the input, which halves
                the cost of an evaluation at 50 sites).

        Returns:
            ``{"workload", "model", "datasets"}``, ``"sites"`` when given, ``"agent"`` for agent
            workloads.

        Raises:
            KeyError: If the workload does not exist.
        """
        resource = self.estate.of_kind("Workload")[name]
        spec = resource.spec
        assert isinstance(spec, WorkloadSpec)
        document: dict[str, Any] = {
            "workload": {"name": name, "labels": dict(resource.labels), **_spec(spec)},
        }
        if sites is not None:
            document["sites"] = sites
        model = self._model(spec.model)
        if model is not None:
            document["model"] = model
        names = list(spec.inputs)
        if spec.agent is not None:
            agent = self.estate.of_kind("Agent").get(spec.agent)
            if agent is not None:
                assert isinstance(agent.spec, AgentSpec)
                document["agent"] = {"name": spec.agent, **_spec(agent.spec)}
                names += [d for d in agent.spec.datasets if d not in names]
        found = (self._dataset(d) for d in names)
        document["datasets"] = [d for d in found if d is not None]
        return document
