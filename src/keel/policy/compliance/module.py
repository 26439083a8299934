"""Rego modules as Keel loads them: package, decision rules, unit tests and static checks.

regopy (rego-cpp) does not implement every OPA built-in, and some built-ins would make a
decision depend on more than its input and policy set. A module that calls one is rejected at
load time, with its line, instead of failing at the first decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DECISION_RULES = ("deny", "warn", "restrict")
"""The rules Keel reads from every module: workload or site denials, warnings, site selectors."""

RESERVED_PACKAGES = ("keel.packs", "keel.decision")
"""Package prefixes that belong to Keel: custom modules may not declare them."""

FORBIDDEN_BUILTINS: dict[str, str] = {
    "http.send": "a policy may not reach the network",
    "net.lookup_ip_addr": "a policy may not reach the network",
    "net.cidr_contains": "regopy (rego-cpp 1.5) does not implement it",
    "net.cidr_contains_matches": "regopy (rego-cpp 1.5) does not implement it",
    "net.cidr_expand": "regopy (rego-cpp 1.5) does not implement it",
    "net.cidr_intersects": "regopy (rego-cpp 1.5) does not implement it",
    "net.cidr_is_valid": "regopy (rego-cpp 1.5) does not implement it",
    "net.cidr_merge": "regopy (rego-cpp 1.5) does not implement it",
    "crypto.x509.parse_certificates": "regopy (rego-cpp 1.5) does not implement it",
    "crypto.x509.parse_and_verify_certificates": "regopy (rego-cpp 1.5) does not implement it",
    "crypto.x509.parse_certificate_request": "regopy (rego-cpp 1.5) does not implement it",
    "crypto.x509.parse_rsa_private_key": "regopy (rego-cpp 1.5) does not implement it",
    "crypto.parse_private_keys": "regopy (rego-cpp 1.5) does not implement it",
    "sprintf": "rego-cpp 1.5 quotes %s strings and emits malformed results; use concat",
    "print": "regopy (rego-cpp 1.5) does not implement it",
    "trace": "regopy (rego-cpp 1.5) does not implement it",
    "time.now_ns": "a decision must not depend on the clock (it could not be reproduced)",
    "rand.intn": "a decision must not depend on chance (it could not be reproduced)",
    "uuid.rfc4122": "a decision must not depend on chance (it could not be reproduced)",
    "opa.runtime": "a decision must not depend on the process that made it",
}
"""Built-ins a policy may not call, and why."""

_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)\s*$", re.M)
_RULE_HEAD = re.compile(r"^(" + "|".join(DECISION_RULES) + r")\b(?!\s*\()", re.M)
_TEST_HEAD = re.compile(r"^(test_\w+)\b", re.M)
_CALL = re.compile(
    r"(?<![\w.])(" + "|".join(re.escape(name) for name in FORBIDDEN_BUILTINS) + r")\s*\("
)
_INPUT = re.compile(r"(?<![\w.])input\b")
_INPUT_FIELD = re.compile(r"input\.(?:workload\.(?!name\b)|(?!workload\b))[A-Za-z_]")
"""A read of ``input`` that cannot reach the workload's name: ``input.X`` (X not ``workload``)
or ``input.workload.Y`` (Y not ``name``)."""
_STRINGS_AND_COMMENTS = re.compile(r'"(?:\\.|[^"\\\n])*"|`[^`]*`|#[^\n]*')


@dataclass(frozen=True, slots=True)
class RegoModule:
    """One Rego module.

    Attributes:
        name: Where it came from (a file path, or ``PolicySet/name: module``).
        source: The Rego text.
        line_offset: Lines before the source in the file that holds it (for block scalars in a
            manifest), added to every line this module reports.
    """

    name: str
    source: str
    line_offset: int = 0

    @property
    def package(self) -> str | None:
        """The module's package, or ``None`` when it declares none."""
        found = _PACKAGE.search(_blank(self.source))
        return found[1] if found else None

    @property
    def rules(self) -> tuple[str, ...]:
        """The decision rules (``deny``, ``warn``, ``restrict``) it defines."""
        return tuple(dict.fromkeys(_RULE_HEAD.findall(_blank(self.source))))

    @property
    def tests(self) -> tuple[str, ...]:
        """The names of its unit tests (``test_`` rules), in order."""
        return tuple(dict.fromkeys(_TEST_HEAD.findall(_blank(self.source))))

    @property
    def reads_workload_name(self) -> bool:
        """Whether the module may read ``input.workload.name`` (conservatively).

        ``False`` only when every use of ``input`` (outside strings and comments) names a field:
        ``input.model``, ``input.workload.labels``. A bare ``input``, ``input.workload`` as a
        value (``w := input.workload``, ``object.get(input.workload, ...)``), brackets
        (``input.workload["name"]``), imports and ``with input`` all count as reading it. Rego
        has no other way to reach the input, so when this is ``False`` a decision does not
        depend on the name.
        """
        blank = _blank(self.source)
        return any(_INPUT_FIELD.match(blank, use.start()) is None for use in _INPUT.finditer(blank))

    def line_at(self, offset: int) -> int:
        """The line of a character offset, counted in the file that holds the module.

        Args:
            offset: 0-based character offset into :attr:`source` (-1 when unknown).

        Returns:
            A 1-based line.
        """
        if offset < 0:
            return self.line_offset + 1
        return self.line_offset + self.source.count("\n", 0, offset) + 1

    def problems(self) -> list[tuple[int, str]]:
        """Static problems: no package, a reserved package, a forbidden built-in.

        Returns:
            ``(line, message)`` for each problem.
        """
        found: list[tuple[int, str]] = []
        package = self.package
        if package is None:
            found.append((self.line_at(0), "a Rego module needs a 'package' line"))
        blank = _blank(self.source)
        for call in _CALL.finditer(blank):
            name = call[1]
            found.append(
                (
                    self.line_at(call.start()),
                    f"built-in {name} is not allowed: {FORBIDDEN_BUILTINS[name]}",
                )
            )
        return found


def _blank(source: str) -> str:
    """The source with strings and comments blanked (same length, same line breaks)."""
    return _STRINGS_AND_COMMENTS.sub(lambda m: re.sub(r"[^\n]", " ", m[0]), source)


def reserved(package: str) -> bool:
    """Whether a package belongs to Keel.

    Args:
        package: A Rego package name.

    Returns:
        ``True`` for ``keel.packs``, ``keel.decision`` and anything below them.
    """
    return any(package == p or package.startswith(p + ".") for p in RESERVED_PACKAGES)
