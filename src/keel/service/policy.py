"""Compliance as a service: the policy in force, decisions, admission checks and Rego tests.

The policy in force is the union of every applied ``PolicySet``. Its compiled engine is kept
per (policy digest, sites digest): applying a new policy set, or changing a site, gives the
next decision a fresh engine, without a restart; the old one is stopped.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from keel.errors import DeniedError, ManifestError, NotFoundError, PolicyError, Problem
from keel.estate import Estate, LocatedResource
from keel.estate.manifest import format_field
from keel.estate.resources import PolicySetSpec
from keel.estate.spelling import did_you_mean
from keel.placement.problem import Bools, PolicyDenials
from keel.policy.compliance.decision import Decision
from keel.policy.compliance.engine import ComplianceEngine, PolicyCompileError
from keel.policy.compliance.inputs import InputBuilder, site_documents
from keel.policy.compliance.module import RegoModule
from keel.policy.compliance.packs import packs
from keel.policy.compliance.policyset import CompiledPolicy, compile_policy
from keel.policy.compliance.testing import ModuleLoadError, TestResult, run_tests, shipped_tests
from keel.service.stored import load_estate
from keel.service.workspace import Workspace

MAX_POLICY_FILES = 1000
"""Most ``.rego`` files ``keel policy test DIR`` reads."""


class _EngineCache:
    """The one live engine and the (policy digest, sites digest) it was compiled for.

    ``lock`` is held while an engine is looked up or compiled, so concurrent requests compile
    a new policy once; the engine it replaces finishes the decisions it is running.
    """

    def __init__(self) -> None:
        self.key: tuple[str, str] | None = None
        self.engine: ComplianceEngine | None = None
        self.lock = threading.Lock()

    def replace(self, key: tuple[str, str], engine: ComplianceEngine) -> None:
        if self.engine is not None:
            self.engine.close()
        self.key, self.engine = key, engine


_CACHE = _EngineCache()


def policy_sets(estate: Estate) -> dict[str, PolicySetSpec]:
    """The applied policy sets, by name.

    Args:
        estate: The estate.

    Returns:
        Specs by name.
    """
    found = {}
    for name, resource in estate.of_kind("PolicySet").items():
        assert isinstance(resource.spec, PolicySetSpec)
        found[name] = resource.spec
    return found


def _located_problem(
    located: dict[str, LocatedResource], set_name: str, field: tuple[str | int, ...], line: int
) -> tuple[str, int, str]:
    item = located.get(set_name)
    path = ("spec", *field)
    if item is not None and field[:1] == ("modules",) and len(field) > 1:
        spec = item.resource.spec
        assert isinstance(spec, PolicySetSpec)
        source_file = spec.modules[int(field[1])].file
        if source_file is not None:  # the module came from its own file: point into it
            return source_file, line, format_field(path)
    if item is None:
        return "<store>", 0, format_field(path)
    base = item.line_of(path)
    # A module's source is a block scalar: its first line is the one after the key.
    return item.path, base + line if line else base, format_field(path)


def compiled_policy(
    estate: Estate, located: dict[str, LocatedResource] | None = None
) -> CompiledPolicy:
    """The policy in force, checked.

    Args:
        estate: The estate.
        located: Where each ``PolicySet`` was declared, by name, for error locations.

    Returns:
        The compiled policy.

    Raises:
        ManifestError: If a policy set names an unknown pack, a wrong parameter, a reserved
            package, or calls a forbidden built-in.
    """
    policy = compile_policy(policy_sets(estate), estate.catalog)
    if policy.problems:
        problems = []
        for p in policy.problems:
            path, line, field = _located_problem(located or {}, p.set_name, p.field, p.line)
            problems.append(Problem(path, line, f"PolicySet/{p.set_name}", field, p.message))
        hint = "fix the policy sets; the previous policy stays in force"
        raise ManifestError(problems, hint=hint)
    return policy


def engine_for(
    estate: Estate, located: dict[str, LocatedResource] | None = None
) -> ComplianceEngine:
    """The compliance engine for an estate's policy in force and sites (compiled once).

    Args:
        estate: The estate.
        located: Where each ``PolicySet`` was declared, for error locations.

    Returns:
        The engine (shared: do not close it).

    Raises:
        ManifestError: If the policy set does not compile; the engine in force is kept.
    """
    policy = compiled_policy(estate, located)
    sites = site_documents(estate)
    key = (policy.digest, hashlib.sha256(orjson.dumps(sites)).hexdigest())
    with _CACHE.lock:
        if _CACHE.engine is not None and _CACHE.key == key:
            return _CACHE.engine
        engine = _compile(policy, sites, estate, located)
        _CACHE.replace(key, engine)
        return engine


def _compile(
    policy: CompiledPolicy,
    sites: dict[str, dict[str, Any]],
    estate: Estate,
    located: dict[str, LocatedResource] | None,
) -> ComplianceEngine:
    try:
        engine = ComplianceEngine(policy, sites, catalog=estate.catalog)
    except PolicyCompileError as error:
        problem = error.problem
        source = problem.source
        if source is None:
            raise ManifestError([Problem("<policy>", 0, "", "", problem.message)]) from None
        path, line, field = _located_problem(
            located or {}, source.set_name, source.field, problem.line
        )
        if source.module.name.startswith("pack "):
            field, line = f"{field} ({source.module.name})", 0
        raise ManifestError(
            [Problem(path, line, f"PolicySet/{source.set_name}", field, problem.message)],
            hint="fix the module; the previous policy stays in force",
        ) from None
    return engine


def decide(
    estate: Estate,
    workloads: Iterable[str] | None = None,
    *,
    engine: ComplianceEngine | None = None,
) -> dict[str, Decision]:
    """Compliance decisions for workloads, one Rego evaluation each.

    Args:
        estate: The estate.
        workloads: Workload names; all of them when ``None``.
        engine: The estate's engine, when the caller already has it from :func:`engine_for`.

    Returns:
        Decisions by workload name.
    """
    engine = engine or engine_for(estate)
    names = sorted(estate.of_kind("Workload")) if workloads is None else list(workloads)
    builder = InputBuilder(estate)
    decisions = engine.decide([builder.document(name) for name in names])
    return dict(zip(names, decisions, strict=True))


def denial_mask(decisions: dict[str, Decision]) -> PolicyDenials:
    """A placement constraint source: workloads x sites denied by the policy in force.

    Args:
        decisions: Decisions by workload name.

    Returns:
        A callable for :func:`keel.placement.problem.compile_problem`'s ``policy``.
    """

    def mask(workloads: list[str], sites: list[str]) -> Bools:
        denied = np.zeros((len(workloads), len(sites)), dtype=bool)
        index = {site: s for s, site in enumerate(sites)}
        for w, name in enumerate(workloads):
            decision = decisions.get(name)
            if decision is None:
                continue
            if decision.denied:
                denied[w, :] = True
                continue
            for site in decision.site_denials:
                if site in index:
                    denied[w, index[site]] = True
        return denied

    return mask


def admit(
    estate: Estate,
    engine: ComplianceEngine,
    changed: list[str],
    located: dict[str, LocatedResource],
    *,
    audit: bool,
) -> list[str]:
    """Admission: no workload that an apply creates or changes may be denied outright.

    Args:
        estate: The estate the apply would produce.
        engine: Its compliance engine.
        changed: Names of the workloads the apply creates or changes.
        located: Where each workload was declared, by name.
        audit: Also decide every other workload (the apply changed something they read: a
            policy set, a model, a dataset, an agent or a site).

    Returns:
        Warnings: ``warn`` rules of the changed workloads, and other workloads the change makes
        denied (they are not blocked; the next plan leaves them out).

    Raises:
        DeniedError: If a changed workload is denied outright (its site denials are placement
            constraints, not admission failures).
    """
    names = sorted(set(estate.of_kind("Workload"))) if audit else changed
    decisions = decide(estate, names, engine=engine)
    problems, warnings = [], []
    for name in changed:
        item = located.get(name)
        for finding in decisions[name].denied:
            problems.append(
                Problem(
                    item.path if item else "<store>",
                    item.line if item else 0,
                    f"Workload/{name}",
                    "",
                    f"denied by {finding.rule}: {finding.message}",
                )
            )
        warnings += [f"Workload/{name}: {f.rule}: {f.message}" for f in decisions[name].warnings]
    if problems:
        raise DeniedError(problems)
    for name in sorted(set(names) - set(changed)):
        warnings += [
            f"Workload/{name}: now denied by {f.rule}: {f.message}" for f in decisions[name].denied
        ]
    return warnings


def evaluate(workspace: Workspace, workload: str) -> Decision:
    """The compliance decision for one stored workload.

    Args:
        workspace: The workspace.
        workload: The workload's name.

    Returns:
        The decision, with every rule that fired.

    Raises:
        NotFoundError: If the workload does not exist.
    """
    estate = load_estate(workspace)
    names = estate.of_kind("Workload")
    if workload not in names:
        raise NotFoundError(f"Workload/{workload} does not exist{did_you_mean(workload, names)}")
    return decide(estate, [workload])[workload]


def inputs_of(workspace: Workspace, workload: str) -> list[str]:
    """The datasets a stored workload reads (none when it does not exist).

    Args:
        workspace: The workspace.
        workload: The workload's name.

    Returns:
        Dataset names.
    """
    spec = load_estate(workspace).workloads().get(workload)
    return list(spec.inputs) if spec is not None else []


def shipped_packs() -> list[tuple[str, str, dict[str, Any]]]:
    """The regulation packs Keel ships.

    Returns:
        ``(name, what it enforces, default parameters)`` per pack.
    """
    return [(p.name, p.title, p.defaults) for p in packs().values()]


def run_policy_tests(directory: str | None = None) -> list[TestResult]:
    """Run Rego unit tests: the shipped packs' own, or every ``.rego`` file under a folder.

    Args:
        directory: A folder of ``.rego`` files (modules and their ``test_`` rules); the shipped
            packs' tests when ``None``.

    Returns:
        One result per test rule.

    Raises:
        PolicyError: If a module does not load; the problem names its file and line.
    """
    if directory is None:
        modules = shipped_tests()
    else:
        root = Path(directory)
        if not root.exists():
            raise PolicyError([Problem(directory, 0, "", "", "no such file or folder")])
        files = sorted(root.rglob("*.rego")) if root.is_dir() else [root]
        if len(files) > MAX_POLICY_FILES:
            raise PolicyError(
                [Problem(directory, 0, "", "", f"more than {MAX_POLICY_FILES} .rego files")]
            )
        modules = []
        for file in files:
            try:
                modules.append(RegoModule(str(file), file.read_text("utf-8")))
            except (OSError, UnicodeDecodeError) as error:
                raise PolicyError(
                    [Problem(str(file), 0, "", "", f"cannot read: {error}")]
                ) from None
    try:
        return run_tests(modules)
    except ModuleLoadError as error:
        problem = Problem(error.module.name, error.line, "", "", str(error))
        raise PolicyError([problem]) from None
