"""Site selectors: how a ``restrict`` rule says where a workload may run.

A compliance rule usually reads "this workload may only run at sites that ...". Instead of
iterating over every candidate site in Rego (rego-cpp spends about 15 us per site and rule),
a pack returns a selector once per workload and Keel matches it against the sites, caching the
answer per distinct selector. The selector language is small, in the spirit of Kubernetes node
affinity:

* a selector is an object; every key must hold (AND);
* a key is a site attribute (``name``, ``kind``, ``country``, ``provider``, ``region``,
  ``max_classification``, ``confidential_computing``, ``certifications``) or ``labels.<key>``,
  and its value one condition: ``{"in": [...]}``, ``{"not_in": [...]}``, ``{"equals": v}`` or,
  for the list attribute ``certifications``, ``{"has": "hipaa"}``;
* the key ``any`` holds a list of selectors of which at least one must hold (OR).
"""

from __future__ import annotations

from typing import Any

SITE_ATTRIBUTES = (
    "name",
    "kind",
    "country",
    "provider",
    "region",
    "max_classification",
    "confidential_computing",
    "certifications",
)
OPERATORS = ("in", "not_in", "equals", "has")


class SelectorError(ValueError):
    """A selector that does not follow the selector language."""


def _attribute(site: dict[str, Any], key: str) -> Any:
    if key.startswith("labels."):
        return site.get("labels", {}).get(key.removeprefix("labels."))
    if key not in SITE_ATTRIBUTES:
        known = ", ".join(SITE_ATTRIBUTES)
        raise SelectorError(f"unknown site attribute {key!r} (use one of {known} or labels.<key>)")
    return site.get(key)


def _condition(site: dict[str, Any], key: str, condition: Any) -> str | None:
    if not isinstance(condition, dict) or len(condition) != 1:
        raise SelectorError(f"{key}: a condition is one of {{{', '.join(OPERATORS)}: ...}}")
    ((operator, operand),) = condition.items()
    value = _attribute(site, key)
    shown = "none" if value is None else value
    if operator in ("in", "not_in"):
        if not isinstance(operand, list):
            raise SelectorError(f"{key}: {operator} needs a list")
        inside = value in operand
        if inside != (operator == "in"):
            return f"{key} is {shown}"
        return None
    if operator == "equals":
        return None if value == operand else f"{key} is {shown}"
    if operator == "has":
        if not isinstance(value, list):
            raise SelectorError(f"{key}: has works on certifications only")
        return None if operand in value else f"{key} lack {operand}"
    raise SelectorError(f"{key}: unknown operator {operator!r} (use {', '.join(OPERATORS)})")


def mismatch(selector: Any, site: dict[str, Any]) -> str | None:
    """Why a site does not match a selector.

    Args:
        selector: A selector (see the module docstring).
        site: The site's attributes.

    Returns:
        ``None`` when it matches, else the first condition it fails (``country is US``).

    Raises:
        SelectorError: If the selector is malformed.
    """
    if not isinstance(selector, dict):
        raise SelectorError("a selector is an object of site conditions")
    for key, condition in selector.items():
        if key == "any":
            if not isinstance(condition, list) or not condition:
                raise SelectorError("any: needs a non-empty list of selectors")
            reasons = [mismatch(option, site) for option in condition]
            if all(reasons):
                return "none of: " + "; ".join(r for r in reasons if r)
            continue
        why = _condition(site, key, condition)
        if why is not None:
            return why
    return None
