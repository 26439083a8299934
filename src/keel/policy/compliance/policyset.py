"""The policy set in force: every enabled pack and custom module, its data and its digest.

Every applied ``PolicySet`` is in force at once. Their union compiles into one
:class:`CompiledPolicy`: the Rego modules, the base document (parameters and jurisdictions)
and the query that collects every module's ``deny``, ``warn`` and ``restrict`` rules. Its
digest covers all of that, so a decision that records it stays attributable after the
policies change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from keel.estate.catalog import Catalog, jurisdiction_members, load_catalog
from keel.estate.resources import PolicySetSpec
from keel.estate.spelling import did_you_mean
from keel.policy.compliance.module import DECISION_RULES, RegoModule, reserved
from keel.policy.compliance.packs import Pack, packs

DECISION_PACKAGE = "keel.decision"
NO_POLICY_DIGEST = "sha256:" + hashlib.sha256(b"no policy set").hexdigest()
"""The digest of the empty policy set (no ``PolicySet`` applied)."""


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """Why a policy set cannot be compiled, and where.

    Attributes:
        set_name: The ``PolicySet``'s name.
        field: Field path inside its spec (``("packs", 0, "name")``).
        message: What is wrong.
        line: Extra line inside the field (a line of a Rego module), 0 when none.
    """

    set_name: str
    field: tuple[str | int, ...]
    message: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class Source:
    """Where a module of the compiled policy came from.

    Attributes:
        set_name: The ``PolicySet`` that brought it, or ``""`` for the packs' shared parts.
        field: Its field path in that set's spec.
        module: The module.
    """

    set_name: str
    field: tuple[str | int, ...]
    module: RegoModule


@dataclass
class CompiledPolicy:
    """The policy in force, ready to load into a Rego worker.

    Attributes:
        sources: Every module, with where it came from.
        params: ``data.keel.params``: parameters by pack.
        outputs: ``(package, rule)`` of every decision rule, in query order.
        problems: What is wrong with the specs (nothing compiles while there are any).
    """

    sources: list[Source] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    outputs: list[tuple[str, str]] = field(default_factory=list)
    problems: list[PolicyProblem] = field(default_factory=list)

    @property
    def modules(self) -> list[RegoModule]:
        """The Rego modules, in load order."""
        return [source.module for source in self.sources]

    @property
    def empty(self) -> bool:
        """Whether no policy is in force."""
        return not self.sources

    @property
    def reads_workload_name(self) -> bool:
        """Whether any module may read ``input.workload.name`` (see :class:`RegoModule`)."""
        return any(module.reads_workload_name for module in self.modules)

    @property
    def digest(self) -> str:
        """``sha256:`` digest of the modules, their names and the parameters."""
        if self.empty:
            return NO_POLICY_DIGEST
        document = {
            "modules": [[m.name, m.source] for m in self.modules],
            "params": self.params,
        }
        return (
            "sha256:"
            + hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()
        )

    def data(self, catalog: Catalog, sites: dict[str, Any]) -> dict[str, Any]:
        """The base document the modules read.

        Args:
            catalog: Where jurisdiction members come from.
            sites: ``data.keel.sites``: site attributes by name.

        Returns:
            ``{"keel": {"params", "jurisdictions", "sites"}}``.
        """
        jurisdictions = {j: sorted(jurisdiction_members(catalog, j)) for j in ("EU", "EEA")}
        return {"keel": {"params": self.params, "jurisdictions": jurisdictions, "sites": sites}}

    def wrapper(self) -> RegoModule:
        """The generated module that gives every decision rule a default (empty) value."""
        lines = [f"package {DECISION_PACKAGE}", "", "import rego.v1", ""]
        for index, (package, rule) in enumerate(self.outputs):
            lines += [f"default r{index} := []", f"r{index} := data.{package}.{rule}", ""]
        return RegoModule("<keel.decision>", "\n".join(lines))

    def query(self) -> str:
        """The query that evaluates every decision rule at once, bound to ``x``."""
        terms = ", ".join(f"data.{DECISION_PACKAGE}.r{i}" for i in range(len(self.outputs)))
        return f"x := [{terms}]"


def _check_parameters(
    pack: Pack, overrides: dict[str, Any], set_name: str, at: tuple[str | int, ...]
) -> list[PolicyProblem]:
    problems: list[PolicyProblem] = []
    for key, value in overrides.items():
        if key not in pack.defaults:
            problems.append(
                PolicyProblem(
                    set_name,
                    (*at, "parameters", key),
                    f"pack {pack.name} has no parameter {key!r}"
                    f"{did_you_mean(key, list(pack.defaults))}",
                )
            )
            continue
        default = pack.defaults[key]
        expected = type(default).__name__
        wrong_list = isinstance(default, list) and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        )
        if wrong_list or (not isinstance(default, list) and type(value) is not type(default)):
            shown = "a list of strings" if isinstance(default, list) else f"a {expected}"
            problems.append(
                PolicyProblem(
                    set_name,
                    (*at, "parameters", key),
                    f"parameter {key!r} of pack {pack.name} must be {shown}",
                )
            )
    return problems


def compile_policy(
    sets: dict[str, PolicySetSpec], catalog: Catalog | None = None
) -> CompiledPolicy:
    """Merge every applied policy set into the policy in force.

    A pack enabled by several sets is in force once; their parameter overrides must agree.

    Args:
        sets: Policy set specs by name.
        catalog: Catalog for pack defaults; the bundled one when ``None``.

    Returns:
        The compiled policy; check :attr:`CompiledPolicy.problems` before using it.
    """
    shipped = packs(catalog or load_catalog())
    result = CompiledPolicy()
    enabled: dict[str, tuple[str, dict[str, Any]]] = {}
    packages: dict[str, str] = {}
    for set_name, spec in sorted(sets.items()):
        for index, ref in enumerate(spec.packs):
            at: tuple[str | int, ...] = ("packs", index)
            pack = shipped.get(ref.name)
            if pack is None:
                result.problems.append(
                    PolicyProblem(
                        set_name,
                        (*at, "name"),
                        f"unknown pack {ref.name!r}{did_you_mean(ref.name, list(shipped))}",
                    )
                )
                continue
            result.problems += _check_parameters(pack, dict(ref.parameters), set_name, at)
            earlier = enabled.get(ref.name)
            if earlier is not None and earlier[1] != dict(ref.parameters):
                result.problems.append(
                    PolicyProblem(
                        set_name,
                        (*at, "parameters"),
                        f"pack {ref.name} is also enabled by PolicySet/{earlier[0]} with other"
                        " parameters; enable it once",
                    )
                )
                continue
            if earlier is None:
                enabled[ref.name] = (set_name, dict(ref.parameters))
                result.params[pack.name] = {**pack.defaults, **dict(ref.parameters)}
                module = RegoModule(f"pack {pack.name}", pack.source())
                result.sources.append(Source(set_name, at, module))
                result.outputs += [(pack.package, rule) for rule in module.rules]
        for index, custom in enumerate(spec.modules):
            at = ("modules", index, "rego")
            if custom.rego is None:
                message = f"module file {custom.file} was not read"
                result.problems.append(PolicyProblem(set_name, at, message))
                continue
            module = RegoModule(f"PolicySet/{set_name}: {custom.name}", custom.rego)
            for line, message in module.problems():
                result.problems.append(PolicyProblem(set_name, at, message, line))
            package = module.package
            if package is None:
                continue
            if reserved(package):
                result.problems.append(
                    PolicyProblem(
                        set_name, at, f"package {package} is reserved for Keel's own modules", 1
                    )
                )
                continue
            if package in packages and packages[package] != module.name:
                result.problems.append(
                    PolicyProblem(
                        set_name,
                        at,
                        f"package {package} is also declared by {packages[package]}",
                        module.line_at(0),
                    )
                )
                continue
            packages[package] = module.name
            result.sources.append(Source(set_name, at, module))
            result.outputs += [(package, rule) for rule in module.rules]
    assert {rule for _, rule in result.outputs} <= set(DECISION_RULES)
    return result
