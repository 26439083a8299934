"""Rego unit tests, the way ``opa test`` runs them: every ``test_`` rule must be true.

The shipped packs and their parameters' defaults are always loaded, so a custom module's tests
can import ``data.keel.packs.*`` and rely on ``data.keel.params``.
"""

from __future__ import annotations

from dataclasses import dataclass

from keel.estate.catalog import Catalog, load_catalog
from keel.policy.compliance.module import RegoModule
from keel.policy.compliance.packs import packs
from keel.policy.compliance.policyset import CompiledPolicy
from keel.policy.compliance.process import RegoProcess


@dataclass(frozen=True, slots=True)
class TestResult:
    """One test rule's result.

    Attributes:
        module: Where the test is (file or pack name).
        rule: ``data.<package>.<test name>``.
        passed: Whether it evaluated to ``true``.
        error: The evaluation error, or ``None``.
        elapsed_ns: How long it took.
    """

    __test__ = False  # not a pytest class

    module: str
    rule: str
    passed: bool
    error: str | None
    elapsed_ns: int


class ModuleLoadError(Exception):
    """A module under test does not compile or breaks a static rule.

    Attributes:
        module: The module.
        line: The line of the problem.
    """

    def __init__(self, module: RegoModule, line: int, message: str) -> None:
        super().__init__(message)
        self.module = module
        self.line = line


def shipped_tests() -> list[RegoModule]:
    """The shipped packs' test modules."""
    return [RegoModule(f"pack {p.name} tests", p.test_source()) for p in packs().values()]


def run_tests(
    modules: list[RegoModule],
    *,
    catalog: Catalog | None = None,
    timeout_ms: float = 5000.0,
    pack_sources: dict[str, str] | None = None,
) -> list[TestResult]:
    """Run every ``test_`` rule in ``modules``.

    Args:
        modules: Modules with tests (and the modules they test, unless they are packs).
        catalog: Catalog for pack defaults; the bundled one when ``None``.
        timeout_ms: Deadline per test; a test past it fails.
        pack_sources: Sources to load instead of some shipped packs', by pack name (to check
            that a pack's tests fail when one of its rules is removed).

    Returns:
        One result per test rule, in module order.

    Raises:
        ModuleLoadError: If a module does not compile or calls a forbidden built-in.
    """
    catalog = catalog or load_catalog()
    shipped = packs(catalog)
    base = CompiledPolicy(params={name: dict(p.defaults) for name, p in shipped.items()})
    replaced = pack_sources or {}
    pack_modules = [
        RegoModule(f"pack {p.name}", replaced.get(p.name) or p.source()) for p in shipped.values()
    ]
    everything = [*pack_modules, *modules]
    for module in modules:
        for line, message in module.problems():
            raise ModuleLoadError(module, line, message)
    tests = [(m, f"data.{m.package}.{t}") for m in modules if m.package for t in m.tests]
    with RegoProcess(timeout_ms) as process:
        failure = process.load([m.source for m in everything], base.data(catalog, {}))
        if failure is not None:
            module = everything[failure.module or 0]
            raise ModuleLoadError(module, module.line_at(failure.offset), failure.message)
        outcomes = process.query([f"x := {rule}" for _, rule in tests])
    return [
        TestResult(module.name, rule, outcome.value is True, outcome.error, outcome.elapsed_ns)
        for (module, rule), outcome in zip(tests, outcomes, strict=True)
    ]
