"""Compliance decisions: what the policy set says about one workload."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ERROR_RULE = "policy.error"
"""The rule a failed evaluation is reported under (it fails closed: the workload is denied)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that fired.

    Attributes:
        rule: The rule's stable name (``gdpr.transfer``).
        message: Why, in words.
        site: The site it is about, or ``None`` when it is about the workload itself.
    """

    rule: str
    message: str
    site: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The finding as ``{site?, rule, message}``."""
        head = {} if self.site is None else {"site": self.site}
        return {**head, "rule": self.rule, "message": self.message}


@dataclass
class Decision:
    """The compliance decision for one workload.

    Attributes:
        workload: The workload's name.
        policy_digest: Digest of the policy set that decided.
        denied: Denials of the workload itself (it may run nowhere).
        site_denials: Denials per site.
        warnings: Warnings (they do not block).
        elapsed_ns: Time the Rego evaluation took (0 when cached).
        cached: Whether the engine reused the evaluation of an identical input (one alike but
            for the workload's name, when no module reads the name).
    """

    workload: str
    policy_digest: str
    denied: list[Finding] = field(default_factory=list)
    site_denials: dict[str, list[Finding]] = field(default_factory=dict)
    warnings: list[Finding] = field(default_factory=list)
    elapsed_ns: int = 0
    cached: bool = False

    @property
    def failed(self) -> bool:
        """Whether evaluation failed (and so denied everything)."""
        return any(f.rule == ERROR_RULE for f in self.denied)

    def denies(self, site: str) -> bool:
        """Whether the workload may not run at a site.

        Args:
            site: A site name.

        Returns:
            ``True`` when the workload is denied outright or at that site.
        """
        return bool(self.denied) or site in self.site_denials

    def rules_at(self, site: str) -> list[str]:
        """The rules that deny a site, workload-wide denials first.

        Args:
            site: A site name.

        Returns:
            Rule names, without repeats.
        """
        found = [f.rule for f in self.denied] + [f.rule for f in self.site_denials.get(site, [])]
        return list(dict.fromkeys(found))

    def to_json(self) -> dict[str, Any]:
        """The decision: ``deny`` and ``warn`` entries ``{site?, rule, message}``."""
        deny = [f.to_json() for f in self.denied]
        for site in sorted(self.site_denials):
            deny += [f.to_json() for f in self.site_denials[site]]
        return {
            "workload": self.workload,
            "policy_digest": self.policy_digest,
            "allowed": not self.denied,
            "deny": deny,
            "warn": [f.to_json() for f in self.warnings],
            "elapsed_ms": round(self.elapsed_ns / 1e6, 3),
            "cached": self.cached,
        }
