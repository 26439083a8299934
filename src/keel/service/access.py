"""Access as a service: who may do what, decided by Cedar over the stored estate.

The engine (baseline plus every ``PolicySet``'s ``access`` policies, and the estate's entities)
is built once per (policies, entities) digest and reused; a change to either takes effect on
the next decision, without a restart.
"""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from keel.errors import ForbiddenError, ManifestError, NotFoundError, Problem, UserError
from keel.estate import Estate, LocatedResource
from keel.estate.resources import PolicySetSpec, PrincipalSpec
from keel.estate.spelling import did_you_mean
from keel.policy.access.engine import (
    ACTIONS,
    ROLES,
    AccessDecision,
    AccessEngine,
    AccessPolicyError,
)
from keel.policy.access.entities import entities, request
from keel.service import ledger, tokens
from keel.service.stored import load_estate
from keel.service.workspace import Workspace


class _EngineCache:
    def __init__(self) -> None:
        self.key = ""
        self.engine: AccessEngine | None = None


_CACHE = _EngineCache()


def custom_policies(estate: Estate) -> dict[tuple[str, int], tuple[str, str]]:
    """Every custom Cedar text of the applied policy sets.

    Args:
        estate: The estate.

    Returns:
        ``(set name, index) -> (policy name, Cedar text)``, in a stable order.
    """
    found = {}
    for set_name, resource in sorted(estate.of_kind("PolicySet").items()):
        assert isinstance(resource.spec, PolicySetSpec)
        for index, policy in enumerate(resource.spec.access):
            found[(set_name, index)] = (policy.name, policy.cedar)
    return found


def engine_for(
    estate: Estate,
    located: dict[str, LocatedResource] | None = None,
    extra: list[dict[str, Any]] | None = None,
) -> AccessEngine:
    """The access engine for an estate (built once per policies and entities).

    Args:
        estate: The estate.
        located: Where each ``PolicySet`` was declared, for error locations.
        extra: More principals (the API tokens), as Cedar entities.

    Returns:
        The engine.

    Raises:
        ManifestError: If a custom policy does not parse or validate; the engine in force stays.
    """
    custom = custom_policies(estate)
    found = entities(estate) + (extra or [])
    key = hashlib.sha256(orjson.dumps([sorted(custom.items()), found])).hexdigest()
    if _CACHE.engine is not None and _CACHE.key == key:
        return _CACHE.engine
    texts = {f"PolicySet/{s}: {name}": text for (s, _), (name, text) in custom.items()}
    try:
        engine = AccessEngine(found, texts)
    except AccessPolicyError as error:
        raise ManifestError(_problems(custom, error, located or {})) from None
    _CACHE.key, _CACHE.engine = key, engine
    return engine


def _problems(
    custom: dict[tuple[str, int], tuple[str, str]],
    error: AccessPolicyError,
    located: dict[str, LocatedResource],
) -> list[Problem]:
    problems = []
    for message in error.messages:
        where = next(
            (
                (s, i)
                for (s, i), (name, _) in custom.items()
                if message.startswith(f"PolicySet/{s}: {name}:")
            ),
            None,
        )
        if where is None:
            problems.append(Problem("<policy>", 0, "", "", message))
            continue
        set_name, index = where
        item = located.get(set_name)
        field = ("spec", "access", index, "cedar")
        text = message.split(": ", 2)[-1]
        problems.append(
            Problem(
                item.path if item else "<store>",
                item.line_of(field) if item else 0,
                f"PolicySet/{set_name}",
                f"spec.access[{index}].cedar",
                text,
            )
        )
    return problems


def _known(
    estate: Estate,
    principal: tuple[str, str],
    resource: tuple[str, str],
    extra: list[dict[str, Any]] | None = None,
) -> None:
    kind, name = principal
    pool = estate.of_kind("Agent") if kind == "Agent" else estate.of_kind("Principal")
    if name.startswith(("token:", "oidc:")):
        if not any(e["uid"]["id"] == name for e in extra or []):
            raise NotFoundError(f"no active credential for {kind}/{name}")
    elif name not in pool:
        what = "Agent" if kind == "Agent" else "Principal"
        raise NotFoundError(f"{what}/{name} does not exist{did_you_mean(name, pool)}")
    kind, name = resource
    if kind == "Ledger":
        return
    if kind == "ModelVersion":
        model, _, version = name.partition("@")
        spec = estate.of_kind("Model").get(model)
        versions = [v.version for v in spec.spec.versions] if spec else []  # type: ignore[attr-defined]
        if version not in versions:
            raise NotFoundError(f"ModelVersion/{name} does not exist")
        return
    if kind == "Resource":
        kind, _, name = name.partition("/")
    known = estate.of_kind(kind)
    if name not in known:
        raise NotFoundError(f"{kind}/{name} does not exist{did_you_mean(name, known)}")


def check(workspace: Workspace, principal: str, action: str, resource: str) -> AccessDecision:
    """May a principal do an action to a resource?

    Args:
        workspace: The workspace.
        principal: ``user:NAME``, ``service_account:NAME`` or ``agent:NAME``.
        action: One of ``read``, ``apply``, ``delete``, ``plan``, ``deploy``, ``approve``,
            ``admin``.
        resource: ``Kind/name`` (``ModelVersion/model@version``, or ``Ledger``).

    Returns:
        The decision, with the policies that made it.

    Raises:
        UserError: If the principal, action or resource is malformed.
        NotFoundError: If the principal or resource does not exist.
    """
    if action not in ACTIONS:
        raise UserError(f"unknown action '{action}'{did_you_mean(action, ACTIONS)}")
    try:
        asked = request(principal, action, resource)
    except ValueError as error:
        raise UserError(str(error)) from None
    estate = load_estate(workspace)
    _known(estate, asked.principal, asked.resource)
    return engine_for(estate).authorize(asked)


def decision_json(decision: AccessDecision) -> dict[str, Any]:
    """A decision as JSON.

    Args:
        decision: The decision.

    Returns:
        ``{"allowed", "policies", "errors"}``.
    """
    return {
        "allowed": decision.allowed,
        "policies": list(decision.policies),
        "errors": list(decision.errors),
    }


def principal_ref(estate: Estate, name: str) -> str:
    """The principal reference (``user:alice``) of a ``Principal`` or ``Agent`` name.

    Args:
        estate: The estate.
        name: The name.

    Returns:
        ``user:NAME``, ``service_account:NAME`` or ``agent:NAME``.

    Raises:
        NotFoundError: If no principal or agent has the name.
    """
    principals = estate.of_kind("Principal")
    resource = principals.get(name)
    if resource is not None:
        assert isinstance(resource.spec, PrincipalSpec)
        return f"{resource.spec.type}:{name}"
    if name in estate.of_kind("Agent"):
        return f"agent:{name}"
    raise NotFoundError(f"Principal/{name} does not exist{did_you_mean(name, principals)}")


def require(
    workspace: Workspace,
    estate: Estate,
    principal: str,
    action: str,
    resource: str,
    *,
    principal_entity: dict[str, Any] | None = None,
) -> AccessDecision:
    """Decide an access request; write a refusal to the ledger and raise it.

    Args:
        workspace: The workspace (a refusal is appended to its ledger).
        estate: The estate the decision is about.
        principal: ``user:NAME``, ``service_account:NAME`` or ``agent:NAME``.
        action: The action.
        resource: ``Kind/name``.
        principal_entity: The principal's Cedar entity when it is neither in the estate nor
            an API key (an OIDC user, with its role).

    Returns:
        The decision (allowed).

    Raises:
        UserError: If the request is malformed.
        NotFoundError: If the principal or resource does not exist.
        ForbiddenError: If the policy refuses; the refusal is in the ledger.
    """
    try:
        asked = request(principal, action, resource)
    except ValueError as error:
        raise UserError(str(error)) from None
    extra = tokens.entities(workspace) + ([principal_entity] if principal_entity else [])
    _known(estate, asked.principal, asked.resource, extra)
    decision = engine_for(estate, extra=extra).authorize(asked)
    if decision.allowed:
        return decision
    refuse(workspace, principal, action, resource, list(decision.policies))
    raise AssertionError("unreachable")


def refuse(
    workspace: Workspace, principal: str, action: str, resource: str, policies: list[str]
) -> None:
    """Write a refusal to the ledger and raise it.

    Args:
        workspace: The workspace.
        principal: Who asked.
        action: What for.
        resource: On what.
        policies: The policies that forbade it (none: no policy permits it).

    Raises:
        ForbiddenError: Always.
    """
    ledger.append(
        workspace,
        [
            {
                "type": "access.denied",
                "principal": principal,
                "action": action,
                "resource": resource,
                "policies": policies,
            }
        ],
    )
    why = f" (forbidden by {', '.join(policies)})" if policies else " (no policy permits it)"
    raise ForbiddenError(f"{principal} may not {action} {resource}{why}", policies)


class Gate:
    """Access decisions for a long-running server.

    API keys act through their role: the engine holds one principal per role
    (``ServiceAccount::"role:viewer"``...), so it is rebuilt only when the estate's revision
    changes, and a request costs one read (the key's row and the revision) and one Cedar
    evaluation. The ledger still names the key's own principal.

    A key that passed is remembered for ``cache_s`` seconds (with the revision it saw), so a busy
    client costs no read at all; revoking a key or changing the estate's policies therefore
    takes effect within that time (0 checks the store on every request).

    Args:
        workspace: The workspace the server serves.
        cache_s: How long an authenticated key is trusted without reading the store.
    """

    MAX_CACHED = 10_000

    def __init__(self, workspace: Workspace, cache_s: float = 1.0) -> None:
        self.workspace = workspace
        self.cache_s = cache_s
        self._revision: int | None = None
        self._engine: AccessEngine | None = None
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, tokens.Token, int]] = {}

    def _current(self, revision: int) -> AccessEngine:
        with self._lock:
            if self._engine is None or revision != self._revision:
                self._engine = engine_for(load_estate(self.workspace), extra=_role_principals())
                self._revision = revision
            return self._engine

    def admit(
        self, key: str | None, action: str, resource: str
    ) -> tuple[tokens.Token, AccessDecision]:
        """Authenticate an API key and decide its request, in one read of the store.

        Args:
            key: The presented API key.
            action: The action.
            resource: ``Kind/name`` or ``Ledger``.

        Returns:
            The token and the decision.

        Raises:
            AuthenticationError: If the key is not valid now.
            UserError: If the request is malformed.
        """
        token, revision = self._authenticate(key)
        try:
            asked = request(f"service_account:role:{token.role}", action, resource)
        except ValueError as error:
            raise UserError(str(error)) from None
        return token, self._current(revision).authorize(asked)

    def _authenticate(self, key: str | None) -> tuple[tokens.Token, int]:
        digest = hashlib.sha256((key or "").encode()).hexdigest()
        now = time.monotonic()
        seen = self._seen.get(digest)
        if seen is not None and seen[0] > now and seen[1].state(datetime.now(UTC)) == "active":
            return seen[1], seen[2]
        with self.workspace.database.read() as conn:
            token, revision = tokens.authenticate_in(conn, key, self.workspace.settings)
        if self.cache_s > 0:
            if len(self._seen) >= self.MAX_CACHED:
                self._seen.clear()
            self._seen[digest] = (now + self.cache_s, token, revision)
        return token, revision


def _role_principals() -> list[dict[str, Any]]:
    return [
        {
            "uid": {"type": "Keel::ServiceAccount", "id": f"role:{role}"},
            "attrs": {"name": f"role:{role}"},
            "parents": [{"type": "Keel::Role", "id": role}],
        }
        for role in ROLES
    ]
