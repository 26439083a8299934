"""Compliance and access decisions."""

from __future__ import annotations

from pydantic import Field

from keel.wire.base import Wire


class Finding(Wire):
    """One rule that fired."""

    site: str | None = Field(default=None, description="The site it is about, if one.")
    rule: str
    message: str


class PolicyDecision(Wire):
    """The compliance decision for one workload, with every rule that fired."""

    workload: str
    policy_digest: str
    allowed: bool
    deny: list[Finding]
    warn: list[Finding]
    elapsed_ms: float
    cached: bool = False


class AccessDecision(Wire):
    """Whether a principal may do an action to a resource, and which policies said so."""

    principal: str
    action: str
    resource: str
    allowed: bool
    policies: list[str]
    errors: list[str] = Field(default_factory=list)
