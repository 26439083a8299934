"""The compliance engine: one Rego evaluation per workload, site selectors matched in Python.

The engine compiles the policy in force once (in a Rego worker process, see
:mod:`keel.policy.compliance.process`) and reuses it for every decision until the policy or
the sites change. A decision is fail-closed: an evaluation error, a malformed rule result or a
policy past its deadline denies the workload, and the reason is part of the decision.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import orjson

from keel.estate.catalog import Catalog, load_catalog
from keel.policy.compliance.decision import ERROR_RULE, Decision, Finding
from keel.policy.compliance.policyset import CompiledPolicy, Source
from keel.policy.compliance.process import DEFAULT_TIMEOUT_MS, Outcome, RegoPool
from keel.policy.compliance.selector import SelectorError, mismatch


@dataclass(frozen=True, slots=True)
class CompileProblem:
    """A module the Rego compiler rejected.

    Attributes:
        source: Where the module came from (``None`` for Keel's generated module).
        line: The line in the file that holds the module.
        message: The compiler's message.
    """

    source: Source | None
    line: int
    message: str


class PolicyCompileError(Exception):
    """The policy set does not compile; nothing of it is in force.

    Attributes:
        problem: Where and why.
    """

    def __init__(self, problem: CompileProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


CACHED_BYTES = 64 * 1024 * 1024
"""Most bytes of kept evaluation results (as JSON, about 700 bytes each with every pack on);
the engine empties its cache when a result would pass it."""


class ComplianceEngine:
    """Decides, per workload, where it may run under the policy in force.

    A decision depends only on the input document, the policy and the sites, all fixed for an
    engine (built-ins that read the clock, chance or the network are rejected at load). The
    engine keeps each evaluation's result by a digest of the input, so an unchanged workload
    is decided again without Rego, and workloads alike in everything but their name share one
    evaluation when no module can read the name (:attr:`CompiledPolicy.reads_workload_name`).
    Failed evaluations are not kept.

    Args:
        policy: The compiled policy (without problems).
        sites: ``data.keel.sites``: site attributes by name.
        catalog: Catalog for jurisdictions; the bundled one when ``None``.
        timeout_ms: Deadline for one workload's evaluation.

    Raises:
        PolicyCompileError: If the modules do not compile.
    """

    def __init__(
        self,
        policy: CompiledPolicy,
        sites: dict[str, dict[str, Any]],
        *,
        catalog: Catalog | None = None,
        timeout_ms: float = DEFAULT_TIMEOUT_MS,
    ) -> None:
        assert not policy.problems, "compile_policy() reported problems"
        self.policy = policy
        self.digest = policy.digest
        self.sites = sites
        self._selected: dict[bytes, dict[str, str]] = {}
        self._outcomes: dict[bytes, bytes] = {}  # input digest -> the result as JSON
        self._cached_bytes = 0
        self._keeping = threading.Lock()  # API threads share an engine
        self._name_blind = not policy.reads_workload_name
        self._process: RegoPool | None = None
        if policy.empty:
            return
        modules = [*policy.modules, policy.wrapper()]
        self._process = RegoPool(timeout_ms)
        failure = self._process.load(
            [m.source for m in modules],
            policy.data(catalog or load_catalog(), sites),
            policy.query(),
        )
        if failure is not None:
            self.close()
            index = failure.module
            # The last module is Keel's generated wrapper: it has no source to point at.
            source = (
                policy.sources[index] if index is not None and index < len(policy.sources) else None
            )
            line = source.module.line_at(failure.offset) if source else 0
            raise PolicyCompileError(CompileProblem(source, line, failure.message))

    def close(self) -> None:
        """Stop the Rego workers (a decision already running finishes first).

        A closed engine still decides: a decision asked of it starts a worker and stops it
        afterwards, so a request that raced a policy change never fails open.
        """
        if self._process is not None:
            self._process.close()

    def __enter__(self) -> ComplianceEngine:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def decide(self, documents: list[dict[str, Any]]) -> list[Decision]:
        """Decide for many workloads, one Rego evaluation each.

        Args:
            documents: ``input`` documents (see :mod:`keel.policy.compliance.inputs`).

        Returns:
            One decision per document, in order.
        """
        names = [str(d.get("workload", {}).get("name", "")) for d in documents]
        if self._process is None:  # an empty policy allows everything
            return [Decision(name, self.digest) for name in names]
        decisions = []
        for name, document, outcome in zip(
            names, documents, self._evaluate(documents), strict=True
        ):
            decision = Decision(
                name, self.digest, elapsed_ns=outcome.elapsed_ns, cached=outcome.cached
            )
            if outcome.error is not None:
                decision.denied.append(Finding(ERROR_RULE, f"evaluation failed: {outcome.error}"))
            else:
                try:
                    self._read(decision, outcome.value, document.get("sites"))
                except (SelectorError, ValueError, TypeError, KeyError) as error:
                    decision.denied = [Finding(ERROR_RULE, f"malformed policy result: {error}")]
                    decision.site_denials, decision.warnings = {}, []
            decisions.append(decision)
        return decisions

    def _evaluate(self, documents: list[dict[str, Any]]) -> list[Outcome]:
        """One outcome per document: kept ones as they were, each new input evaluated once."""
        assert self._process is not None
        keys = [self._key(document) for document in documents]
        fresh: dict[bytes, int] = {}  # key -> index of its first document
        kept: dict[bytes, bytes] = {}  # read now: keeping new results may empty the cache
        for index, key in enumerate(keys):
            if key in kept or key in fresh:
                continue
            found = self._outcomes.get(key)
            if found is None:
                fresh[key] = index
            else:
                kept[key] = found
        evaluated = dict(
            zip(fresh, self._process.evaluate([documents[i] for i in fresh.values()]), strict=True)
        )
        outcomes = []
        for index, key in enumerate(keys):
            outcome = evaluated.get(key)
            if outcome is None:
                outcome = Outcome(orjson.loads(kept[key]), None, 0, cached=True)
            elif fresh[key] != index:  # the same input twice in one call
                outcome = Outcome(outcome.value, outcome.error, 0, cached=True)
            elif outcome.error is None:
                self._keep(key, outcome.value)
            outcomes.append(outcome)
        return outcomes

    def _keep(self, key: bytes, value: Any) -> None:
        try:
            text = orjson.dumps(value)
        except TypeError:  # an integer past 64 bits, say: decided again next time
            return
        with self._keeping:
            if self._cached_bytes + len(text) > CACHED_BYTES:
                self._outcomes.clear()
                self._cached_bytes = 0
            self._outcomes[key] = text
            self._cached_bytes += len(text)

    def _key(self, document: dict[str, Any]) -> bytes:
        """A digest of what the policy can see of a document."""
        workload = document.get("workload")
        if self._name_blind and isinstance(workload, dict) and "name" in workload:
            document = {**document, "workload": {**workload, "name": None}}
        text = orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(text, digest_size=20).digest()

    def _read(self, decision: Decision, value: Any, candidates: list[str] | None) -> None:
        if not isinstance(value, list) or len(value) != len(self.policy.outputs):
            raise ValueError("the decision query returned no result")
        for (package, rule), entries in zip(self.policy.outputs, value, strict=True):
            if not isinstance(entries, list):
                raise ValueError(f"data.{package}.{rule} must be a set of objects")
            for entry in entries:
                finding = _finding(entry, package, rule)
                if rule == "warn":
                    decision.warnings.append(finding)
                elif rule == "deny":
                    if finding.site is None:
                        decision.denied.append(finding)
                    else:
                        decision.site_denials.setdefault(finding.site, []).append(finding)
                else:
                    for site, why in self._excluded(entry.get("sites"), candidates).items():
                        detailed = Finding(finding.rule, f"{finding.message} (here {why})", site)
                        decision.site_denials.setdefault(site, []).append(detailed)

    def _excluded(self, selector: Any, candidates: list[str] | None) -> dict[str, str]:
        """Candidate sites (all when ``None``) a selector excludes, with why (cached)."""
        if selector is None:
            raise ValueError("a restrict entry needs sites: a site selector")
        key = orjson.dumps(selector, option=orjson.OPT_SORT_KEYS)
        excluded = self._selected.get(key)
        if excluded is None:
            excluded = {}
            for name, site in self.sites.items():
                why = mismatch(selector, site)
                if why is not None:
                    excluded[name] = why
            self._selected[key] = excluded
        if candidates is None:
            return excluded
        return {site: excluded[site] for site in candidates if site in excluded}


def _finding(entry: Any, package: str, rule: str) -> Finding:
    if not isinstance(entry, dict):
        raise ValueError(f"data.{package}.{rule} must hold objects, not {type(entry).__name__}")
    name = entry.get("rule", package)
    message = entry.get("message", "")
    site = entry.get("site")
    if not isinstance(name, str) or not isinstance(message, str):
        raise ValueError(f"data.{package}.{rule}: rule and message must be strings")
    if site is not None and not isinstance(site, str):
        raise ValueError(f"data.{package}.{rule}: site must be a site name")
    if rule == "restrict" and site is not None:
        raise ValueError(f"data.{package}.restrict entries select sites with 'sites', not 'site'")
    return Finding(name, message or name, site)
