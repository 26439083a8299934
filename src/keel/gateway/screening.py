"""Sensitive data in a tool call's arguments or a tool's result: allowed, redacted or blocked.

Whether the agent may call the tool at all is the access policy's (Cedar's) answer
(:mod:`keel.policy.access.tools`). The checks here, in order (every one runs, so a verdict
lists all its reasons):

1. **arguments**: sensitive data found in the arguments (:mod:`keel.gateway.detectors`) is
   handled per kind: by default a secret blocks the call (``secret.in_arguments``: a key
   handed to a tool is a key leaked), personal data is redacted
   (``personal.redacted:card`` ...) and the call goes on with the redacted arguments;
2. **too deep**: arguments nested deeper than the detectors follow block the call
   (``arguments.too_deep``): what is not checked is not forwarded (fail closed).

The strictest action wins: ``block`` over ``redact`` over ``allow``.

A result (:func:`screen_result`, on the MCP gateway and the check endpoint alike) has secrets
and the bank's own kinds redacted always, personal data unless its tool is cleared to return it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from keel.gateway.detectors import UNSCANNED, Finding, Patterns, redact, scan

Action = Literal["allow", "redact", "block"]
ORDER: dict[str, int] = {"allow": 0, "redact": 1, "block": 2}

DEFAULT_ACTIONS: dict[str, Action] = {
    "secret": "block",
    "card": "redact",
    "iban": "redact",
    "national_id": "redact",
    "phone": "redact",
    "email": "redact",
}
"""What each kind of sensitive data in a tool call's arguments leads to."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verdict on a tool call's arguments (:func:`screen`) or a result (:func:`screen_result`).

    Attributes:
        decision: ``allow``, ``redact`` or ``block``.
        reasons: Stable codes, each saying why (empty when allowed outright).
        findings: What was found where (never the values).
        shown: What to hand on (the arguments to forward, or the result to give the agent):
            redacted when the decision is ``redact``, ``None`` when blocked.
    """

    decision: Action
    reasons: list[str]
    findings: list[Finding]
    shown: object | None

    def kinds(self) -> dict[str, int]:
        """Findings counted per kind."""
        return dict(Counter(f.kind for f in self.findings))

    @property
    def unread(self) -> bool:
        """Whether the detectors could not read all of the arguments (the call is blocked)."""
        return any(f"arguments.{limit}" in self.reasons for limit in UNSCANNED)

    def refused(self, reasons: list[str]) -> Verdict:
        """This verdict after the access policy's refusals (first), if any: blocked."""
        if not reasons:
            return self
        return Verdict("block", [*reasons, *self.reasons], self.findings, None)


@dataclass(frozen=True, slots=True)
class Rules:
    """What each kind of sensitive data leads to, and the bank's own kinds."""

    actions: Mapping[str, Action] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    patterns: Patterns = field(default_factory=dict)
    """Custom kinds of sensitive data (compiled ``regex`` patterns), by kind."""


def screen(rules: Rules, arguments: object) -> Verdict:
    """The verdict on one call's ``arguments`` (parsed JSON)."""
    reasons: list[str] = []
    decision: Action = "allow"

    def worst(action: Action, reason: str) -> None:
        nonlocal decision
        reasons.append(reason)
        if ORDER[action] > ORDER[decision]:
            decision = action

    findings = scan(arguments, patterns=rules.patterns)
    for limit in UNSCANNED:
        if any(f.kind == limit for f in findings):
            worst("block", f"arguments.{limit}")
    redacted: set[str] = set()
    for kind in sorted({f.kind for f in findings} - set(UNSCANNED)):
        action = rules.actions.get(kind, "redact")
        if action == "block":
            worst("block", "secret.in_arguments" if kind == "secret" else f"blocked:{kind}")
        elif action == "redact":
            redacted.add(kind)
            worst("redact", f"personal.redacted:{kind}")
    if decision == "block":
        return Verdict("block", reasons, findings, None)
    shown = redact(arguments, findings, redacted) if redacted else arguments
    return Verdict(decision, reasons, findings, shown)


def screen_result(rules: Rules, result: object, *, personal_allowed: bool) -> Verdict:
    """The verdict on a tool's result (parsed JSON) before the agent or its model sees it.

    Secrets and the bank's own kinds are always redacted, personal data unless the tool is
    cleared to return it (``personal_allowed``); a result the detectors cannot read through is
    blocked (``result.too_deep``, ``result.too_slow``).
    """
    findings = scan(result, patterns=rules.patterns)
    unread = [f"result.{limit}" for limit in UNSCANNED if any(f.kind == limit for f in findings)]
    if unread:
        return Verdict("block", unread, findings, None)
    kinds = {f.kind for f in findings}
    own = set(rules.patterns)  # the bank's own kinds are always hidden in results
    hidden = sorted(k for k in kinds if k == "secret" or k in own or not personal_allowed)
    shown = redact(result, findings, set(hidden)) if hidden else result
    reasons = [f"result.redacted:{kind}" for kind in hidden]
    return Verdict("redact" if hidden else "allow", reasons, findings, shown)
