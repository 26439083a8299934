"""Why a site or a pool cannot take a workload, with the numbers behind each reason.

:func:`keel.placement.plan.site_rejections` gives reason codes per site; this module turns the
same bits into sentences a person can act on: the devices a replica needs against the pool's,
the round trip against the SLO in milliseconds, the dataset and the rule that forbid a site.
A reason that belongs to a pool (accelerator, memory, capacity) is given per pool; one that
belongs to the site (classification, residency, latency, availability, policy) once per site.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keel.estate import Estate
from keel.estate.catalog import jurisdiction_members
from keel.estate.resources import CLASSIFICATION_ORDER, DatasetSpec, WorkloadSpec
from keel.placement.problem import Problem, model_memory_gb
from keel.placement.reasons import Reason

POOL_REASONS = Reason.ACCELERATOR | Reason.MEMORY | Reason.CAPACITY
"""Reasons that belong to one pool of a site, not to the whole site."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One reason a site (or one of its pools) cannot take a workload.

    Attributes:
        site: The site.
        pool: The pool when the reason is the pool's, else ``None``.
        reason: The reason's stable code (``capacity``, ``latency``...; ``policy:RULE`` for a
            compliance rule).
        detail: The numbers behind it, for people.
        dataset: The input dataset that forbids the site (classification, residency).
    """

    site: str
    pool: str | None
    reason: str
    detail: str
    dataset: str | None = None

    def to_json(self) -> dict[str, str | None]:
        """JSON form."""
        return {
            "site": self.site,
            "pool": self.pool,
            "reason": self.reason,
            "detail": self.detail,
            "dataset": self.dataset,
        }


def rejections(
    problem: Problem,
    estate: Estate,
    workload: str,
    policy_rules: dict[str, list[tuple[str, str]]],
) -> list[Rejection]:
    """Every reason each rejected site (none of whose pools can take it) turns a workload away.

    Args:
        problem: The compiled problem.
        estate: The estate it was compiled from.
        workload: The workload's name.
        policy_rules: The compliance rules that deny each site, with their messages, by site.

    Returns:
        Rejections, site by site in the problem's order: site-wide reasons, then pools'.

    Raises:
        KeyError: If the workload is not in the problem.
    """
    w = problem.workload_index(workload)
    if w is None:
        raise KeyError(workload)
    spec = estate.workloads()[workload]
    datasets = estate.specs(DatasetSpec)
    inputs = [(name, datasets[name]) for name in sorted(spec.inputs) if name in datasets]
    row = problem.reasons[w]
    found: list[Rejection] = []
    for s, site_name in enumerate(problem.sites):
        options = np.flatnonzero(problem.option_site == s)
        if options.size and (row[options] == 0).any():
            continue  # some pool can take it: not a rejected site
        if not options.size:
            found.append(Rejection(site_name, None, "capacity", "the site has no pools"))
            continue
        site_bits = Reason(int(np.bitwise_and.reduce(row[options])) & ~POOL_REASONS)
        found += _site_reasons(site_bits, estate, inputs, site_name, policy_rules)
        if site_bits & Reason.LATENCY:
            slo = spec.latency_slo_ms
            latency = float(problem.latency_ms[w, options[0]])
            found.append(
                Rejection(
                    site_name,
                    None,
                    "latency",
                    f"round trip plus service time {latency:,.1f} ms > SLO {slo:,.0f} ms"
                    if np.isfinite(latency)
                    else f"no served user region is within the SLO of {slo:,.0f} ms",
                )
            )
        for o in options.tolist():
            found += _pool_reasons(problem, estate, spec, w=w, o=o)
    return found


def _site_reasons(
    bits: Reason,
    estate: Estate,
    inputs: list[tuple[str, DatasetSpec]],
    site_name: str,
    policy_rules: dict[str, list[tuple[str, str]]],
) -> list[Rejection]:
    site = estate.sites[site_name]
    out: list[Rejection] = []
    if bits & Reason.CLASSIFICATION:
        allowed = CLASSIFICATION_ORDER.index(site.max_classification)  # type: ignore[arg-type,unused-ignore]
        for name, data in inputs:
            if CLASSIFICATION_ORDER.index(data.classification) > allowed:  # type: ignore[arg-type,unused-ignore]
                out.append(
                    Rejection(
                        site_name,
                        None,
                        "classification",
                        f"dataset {name} is {data.classification}; the site takes data up to"
                        f" {site.max_classification}",
                        name,
                    )
                )
    if bits & Reason.RESIDENCY:
        for name, data in inputs:
            members: set[str] = set()
            for jurisdiction in data.residency:
                members |= jurisdiction_members(estate.catalog, jurisdiction)
            if data.residency and site.country not in members:
                out.append(
                    Rejection(
                        site_name,
                        None,
                        "residency",
                        f"dataset {name} must stay in {', '.join(data.residency)}; the site is"
                        f" in {site.country}",
                        name,
                    )
                )
    if bits & Reason.SITE_DOWN:
        out.append(Rejection(site_name, None, "site_down", "the site is marked unavailable"))
    if bits & Reason.POLICY:
        rules = policy_rules.get(site_name) or [("", "a compliance rule denies it")]
        out += [
            Rejection(site_name, None, f"policy:{rule}" if rule else "policy", message)
            for rule, message in rules
        ]
    return out


def _pool_reasons(
    problem: Problem, estate: Estate, spec: WorkloadSpec, *, w: int, o: int
) -> list[Rejection]:
    bits = Reason(int(problem.reasons[w, o]) & POOL_REASONS)
    site_name = problem.sites[int(problem.option_site[o])]
    pool = problem.option_pool[o]
    accelerator = problem.option_accelerator[o]
    needed = int(problem.demand[w])
    out: list[Rejection] = []
    if bits & Reason.ACCELERATOR:
        wanted = ", ".join(spec.compute.accelerators)
        detail = f"the pool has {accelerator}; the workload runs on {wanted}"
        out.append(Rejection(site_name, pool, "accelerator", detail))
    if bits & Reason.MEMORY:
        site = estate.sites[site_name]
        memory = next((p.memory_gb for p in site.pools if p.name == pool), 0.0)
        per_device = model_memory_gb(estate, spec) / max(needed, 1)
        detail = (
            f"the model needs {per_device:,.0f} GB per device over {needed} devices;"
            f" {accelerator} has {memory:,.0f} GB"
        )
        out.append(Rejection(site_name, pool, "memory", detail))
    if bits & Reason.CAPACITY:
        detail = f"a replica needs {needed:,} devices; the pool has {int(problem.capacity[o]):,}"
        out.append(Rejection(site_name, pool, "capacity", detail))
    return out
