"""Access as a service: who may do what, decided by Cedar over the stored estate.

The engine (baseline plus every ``PolicySet``'s ``access`` policies, and the estate's entities)
is built once per (policies, entities) digest and reused; a change to either takes effect on
the next decision, without a restart.

Changes are decided per resource: an apply or delete asks ``apply`` or ``delete`` for every
resource it touches, all in one batch, against the policy *in force before* the change, so a
change to the access policy never decides its own request. The baseline makes principals,
agents and policy sets governance (``governance.admin_only``), and
:func:`lockout_problem` refuses an access policy that would leave no admin able to change it
back.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from keel.errors import (
    AuthenticationError,
    ForbiddenError,
    ManifestError,
    NotFoundError,
    Problem,
    UserError,
)
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
from keel.service.actor import Actor
from keel.service.stored import load_estate
from keel.service.workspace import Workspace


class _EngineCache:
    """The engines built last, by digest of their policies and entities (a small LRU)."""

    SIZE = 16

    def __init__(self) -> None:
        self.engines: OrderedDict[str, AccessEngine] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> AccessEngine | None:
        with self.lock:
            engine = self.engines.get(key)
            if engine is not None:
                self.engines.move_to_end(key)
            return engine

    def put(self, key: str, engine: AccessEngine) -> None:
        with self.lock:
            self.engines[key] = engine
            while len(self.engines) > self.SIZE:
                self.engines.popitem(last=False)


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
    registrants: Mapping[str, str | None] | None = None,
) -> AccessEngine:
    """The access engine for an estate (built once per policies and entities).

    Args:
        estate: The estate.
        located: Where each ``PolicySet`` was declared, for error locations.
        extra: More principals (API keys, OIDC users), as Cedar entities.
        registrants: Who registered each version, from the registry (see
            :func:`keel.policy.access.entities.entities`).

    Returns:
        The engine.

    Raises:
        ManifestError: If a custom policy does not parse or validate; the engine in force stays.
    """
    custom = custom_policies(estate)
    found = entities(estate, registrants) + (extra or [])
    key = hashlib.sha256(orjson.dumps([sorted(custom.items()), found])).hexdigest()
    engine = _CACHE.get(key)
    if engine is not None:
        return engine
    texts = {f"PolicySet/{s}: {name}": text for (s, _), (name, text) in custom.items()}
    try:
        engine = AccessEngine(found, texts)
    except AccessPolicyError as error:
        raise ManifestError(_problems(custom, error, located or {})) from None
    _CACHE.put(key, engine)
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


def local_actor(workspace: Workspace, principal: str = "") -> Actor:
    """Who a local command acts as: a named principal, or the bootstrap user.

    Args:
        workspace: The workspace.
        principal: ``user:NAME``, ``service_account:NAME`` or ``agent:NAME`` (``--as`` or
            ``KEEL_PRINCIPAL``), or ``""``.

    Returns:
        The named principal, which must be declared in the stored estate. While the estate
        declares no ``Principal`` there is nobody to check against: the actor is trusted
        (bootstrap), under the name given or as the operating-system user.

    Raises:
        UserError: If the name is malformed.
        NotFoundError: If the estate does not declare it.
        AuthenticationError: If no name is given and the estate declares principals.
    """
    estate = load_estate(workspace)
    declares = bool(estate.of_kind("Principal"))
    if not principal:
        if declares:
            raise AuthenticationError(
                "this workspace declares principals: say who acts",
                hint="pass --as user:NAME (or set KEEL_PRINCIPAL); keel get principals lists them",
            )
        return Actor.bootstrap()
    try:
        kind, name = request(principal, "read", "Ledger").principal
    except ValueError as error:
        raise UserError(str(error)) from None
    if not declares:  # nobody to check against yet: bootstrap, under the name given
        return Actor(principal, None, trusted=True)
    _known(estate, (kind, name), ("Ledger", "ledger"))
    declared = estate.of_kind("Principal").get(name)
    if declared is not None and isinstance(declared.spec, PrincipalSpec):
        expected = f"{declared.spec.type}:{name}"
        if expected != principal:
            raise NotFoundError(f"{principal} does not exist; Principal/{name} is {expected}")
    return Actor(principal)


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
    actor: Actor,
    action: str,
    resource: str,
    *,
    registrants: Mapping[str, str | None] | None = None,
) -> AccessDecision:
    """Decide an access request; write a refusal to the ledger and raise it.

    Args:
        workspace: The workspace (a refusal is appended to its ledger).
        estate: The estate the decision is about.
        actor: Who asks.
        action: The action.
        resource: ``Kind/name``.
        registrants: Who registered the versions the request is about (from the registry).

    Returns:
        The decision (allowed).

    Raises:
        UserError: If the request is malformed.
        NotFoundError: If the principal or resource does not exist.
        ForbiddenError: If the policy refuses; the refusal is in the ledger.
    """
    if actor.trusted:
        return AccessDecision(True, ("trusted",))
    try:
        asked = request(actor.principal, action, resource)
    except ValueError as error:
        raise UserError(str(error)) from None
    extra = [actor.entity] if actor.entity else []
    _known(estate, asked.principal, asked.resource, extra)
    decision = engine_for(estate, extra=extra, registrants=registrants).authorize(asked)
    if decision.allowed:
        return decision
    refuse(workspace, actor.principal, action, resource, list(decision.policies))
    raise AssertionError("unreachable")


def decide_all(
    estate: Estate, actor: Actor, asks: Sequence[tuple[str, str]]
) -> list[AccessDecision]:
    """Decide many ``(action, resource)`` requests of one actor in one batch.

    Resources need not exist yet (creating one is asking to ``apply`` it).

    Args:
        estate: The estate whose policy is in force.
        actor: Who asks; a trusted actor is allowed everything.
        asks: ``(action, "Kind/name")`` pairs.

    Returns:
        One decision per request, in order.

    Raises:
        UserError: If a request is malformed.
    """
    if actor.trusted:
        return [AccessDecision(True, ("trusted",)) for _ in asks]
    try:
        requests = [request(actor.principal, action, resource) for action, resource in asks]
    except ValueError as error:
        raise UserError(str(error)) from None
    engine = engine_for(estate, extra=[actor.entity] if actor.entity else None)
    return engine.authorize_batch(requests) if requests else []


def require_all(
    workspace: Workspace, estate: Estate, actor: Actor, asks: Sequence[tuple[str, str]]
) -> None:
    """Allow many requests or none: every refusal goes to the ledger and into one error.

    Args:
        workspace: The workspace (refusals are appended to its ledger, in one transaction).
        estate: The estate whose policy is in force.
        actor: Who asks.
        asks: ``(action, "Kind/name")`` pairs.

    Raises:
        ForbiddenError: Naming every refused request and the policies that refused them.
    """
    decisions = decide_all(estate, actor, asks)
    refused = [
        (actor.principal, action, resource, list(d.policies))
        for (action, resource), d in zip(asks, decisions, strict=True)
        if not d.allowed
    ]
    if refused:
        raise_refused(workspace, refused)


def authorize(workspace: Workspace, actor: Actor, asks: Sequence[tuple[str, str]]) -> None:
    """:func:`require_all` against the stored estate's policy (not read for a trusted actor).

    Args:
        workspace: The workspace.
        actor: Who asks.
        asks: ``(action, "Kind/name")`` pairs.

    Raises:
        ForbiddenError: Naming every refused request (each refusal is in the ledger).
    """
    if not actor.trusted:
        require_all(workspace, load_estate(workspace), actor, asks)


def raise_refused(workspace: Workspace, denials: Sequence[tuple[str, str, str, list[str]]]) -> None:
    """Write refusals to the ledger (one transaction) and raise them as one error.

    Args:
        workspace: The workspace.
        denials: ``(principal, action, resource, policies)`` per refusal, of one principal.

    Raises:
        ForbiddenError: Naming every refused request and the policies that refused them.
    """
    record_denials(workspace, denials)
    lines = [f"{action} {resource}{_why(policies)}" for _, action, resource, policies in denials]
    policies = sorted({p for *_, found in denials for p in found})
    raise ForbiddenError(
        f"{denials[0][0]} may not " + "; ".join(lines),
        policies,
        hint="principals, agents and policy sets are changed by admins only"
        if "governance.admin_only" in policies
        else "nothing was changed; the refusal is in the ledger",
    )


def _why(policies: list[str]) -> str:
    return f" (forbidden by {', '.join(policies)})" if policies else " (no policy permits it)"


def denial_entry(principal: str, action: str, resource: str, policies: list[str]) -> dict[str, Any]:
    """The ledger entry of one refused request.

    Args:
        principal: Who asked.
        action: What for.
        resource: On what.
        policies: The policies that forbade it (none: no policy permits it).

    Returns:
        The entry.
    """
    return {
        "type": "access.denied",
        "principal": principal,
        "action": action,
        "resource": resource,
        "policies": policies,
    }


def record_denials(
    workspace: Workspace, denials: Sequence[tuple[str, str, str, list[str]]]
) -> None:
    """Append refusals to the ledger in one transaction (one checkpoint).

    Args:
        workspace: The workspace.
        denials: ``(principal, action, resource, policies)`` per refusal.
    """
    if denials:
        ledger.append(workspace, [denial_entry(*d) for d in denials])


def is_admin(estate: Estate, actor: Actor) -> bool:
    """Whether an actor may administer the estate (trusted, or ``admin`` on the registry).

    Args:
        estate: The estate whose policy is in force.
        actor: Who asks.

    Returns:
        The answer.
    """
    return decide_all(estate, actor, [("admin", "Resource/Registry/all")])[0].allowed


ADMIN_KEYS = "service_account:role:admin"
"""Stands for every API key and OIDC user with the admin role in the lock-out check."""


def lockout_problem(estate: Estate) -> str:
    """Why an estate's access policy would lock every admin out, or ``""``.

    An admin must remain able to apply principals and policy sets: at least one of the named
    principals with the ``admin`` role, or the admin role's API keys, must be allowed to.

    Args:
        estate: The estate an apply would produce.

    Returns:
        The problem, or ``""``.
    """
    candidates = [ADMIN_KEYS] + [
        f"{resource.spec.type}:{name}"
        for name, resource in sorted(estate.of_kind("Principal").items())
        if isinstance(resource.spec, PrincipalSpec) and "admin" in resource.spec.roles
    ]
    engine = engine_for(estate, extra=_role_principals())
    probes = [("apply", "PolicySet/keel-lockout-probe"), ("apply", "Principal/keel-lockout-probe")]
    for principal in candidates:
        asked = [request(principal, action, resource) for action, resource in probes]
        if all(d.allowed for d in engine.authorize_batch(asked)):
            return ""
    return (
        "this access policy would lock every admin out: none of "
        f"{', '.join(candidates)} could change principals or policy sets afterwards"
    )


def governance_digest(estate: Estate) -> str:
    """A digest of who may do what: custom access policies, principals and their roles, agents.

    Args:
        estate: The estate.

    Returns:
        ``sha256:<hex>``.
    """
    principals = [
        (name, r.spec.type, sorted(r.spec.roles))
        for name, r in sorted(estate.of_kind("Principal").items())
        if isinstance(r.spec, PrincipalSpec)
    ]
    agents = sorted(estate.of_kind("Agent"))
    text = orjson.dumps([sorted(custom_policies(estate).items()), principals, agents])
    return f"sha256:{hashlib.sha256(text).hexdigest()}"


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
    record_denials(workspace, [(principal, action, resource, policies)])
    raise ForbiddenError(f"{principal} may not {action} {resource}{_why(policies)}", policies)


class Gate:
    """Access decisions for a long-running server.

    API keys act through their role: the engine holds one principal per role
    (``ServiceAccount::"role:viewer"``...), so it is rebuilt only when the estate's revision
    changes, and a request costs one read (the key's row and the revision) and one Cedar
    evaluation. The ledger still names the key's own principal.

    A key or dashboard session that passed is remembered for ``cache_s`` seconds (with the
    revision it saw), so a busy client costs no read at all; revoking a key, signing out
    elsewhere or changing the estate's policies therefore takes effect within that time (0
    checks the store on every request). Signing out through this gate takes effect at once.

    Args:
        workspace: The workspace the server serves.
        cache_s: How long an authenticated key is trusted without reading the store.
    """

    MAX_CACHED = 10_000
    MAX_READS_CACHED = 200_000

    def __init__(self, workspace: Workspace, cache_s: float = 1.0) -> None:
        self.workspace = workspace
        self.cache_s = cache_s
        self._revision: int | None = None
        self._engine: AccessEngine | None = None
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, tokens.Token, int, str | None]] = {}
        # Read decisions of the current engine, by (role principal, resource): a role's read
        # of a resource is decided by the estate alone (no context), so it holds until the
        # estate changes and the engine is rebuilt with a fresh cache.
        self._reads: dict[tuple[str, str], bool] = {}

    def _current(self, revision: int) -> AccessEngine:
        with self._lock:
            if self._engine is None or revision != self._revision:
                self._engine = engine_for(load_estate(self.workspace), extra=_role_principals())
                self._revision = revision
                self._reads = {}
            return self._engine

    def admit(
        self,
        credential: str | None,
        action: str,
        resource: str,
        *,
        session: bool = False,
        agent: str | None = None,
    ) -> tuple[tokens.Token, AccessDecision, str | None]:
        """Authenticate a credential and decide its request, in one read of the store.

        Args:
            credential: The presented API key or OIDC token, or a session cookie's value.
            action: The action.
            resource: ``Kind/name`` or ``Ledger``.
            session: Whether the credential is a dashboard session id.
            agent: The agent whose own key this route also admits (the tool-call check of
                that agent); any other agent's key is refused, on every route.

        Returns:
            The token, the decision, and the session's CSRF token (``None`` for keys).

        Raises:
            AuthenticationError: If the credential is not valid now, or is an agent's key
                where that agent's own key is not admitted.
            UserError: If the request is malformed.
        """
        token, revision, csrf = self._authenticate(credential, session)
        if token.agent is not None:  # checked on every request, cached or not
            if session or agent is None or token.agent != agent:
                tokens.refuse_agent_key(token)
            return token, AccessDecision(True, ("agent.own_key",)), csrf
        try:
            asked = request(f"service_account:role:{token.role}", action, resource)
        except ValueError as error:
            raise UserError(str(error)) from None
        return token, self._current(revision).authorize(asked), csrf

    def forget(self, credential: str, *, session: bool = False) -> None:
        """Stop trusting a cached credential at once (a session signed out here).

        Args:
            credential: The credential.
            session: Whether it is a session id.
        """
        self._seen.pop(self._digest(credential, session), None)

    def readable(self, token: tokens.Token, resources: list[str]) -> list[bool]:
        """Which resources a token may read, decided as its single reads are (one batch).

        Lists, searches, lineage and plans filter with this, so no list shows an item that
        its own route would refuse.

        Args:
            token: The authenticated token.
            resources: ``Kind/name`` of each item.

        Returns:
            One answer per resource, in order.
        """
        if not resources:
            return []
        principal = f"service_account:role:{token.role}"
        with self._lock:
            engine, known = self._engine, self._reads
        if engine is None:  # no request was admitted yet: nothing to read
            return [False] * len(resources)
        answers: dict[str, bool] = {}
        for resource in resources:
            cached = known.get((principal, resource))  # another thread may clear it meanwhile
            if cached is not None:
                answers[resource] = cached
        missing = [r for r in dict.fromkeys(resources) if r not in answers]
        if missing:
            decided = engine.authorize_batch([request(principal, "read", r) for r in missing])
            fresh = {r: d.allowed for r, d in zip(missing, decided, strict=True)}
            answers.update(fresh)
            if len(known) + len(fresh) > self.MAX_READS_CACHED:
                known.clear()
            known.update(((principal, r), allowed) for r, allowed in fresh.items())
        return [answers[r] for r in resources]

    @staticmethod
    def _digest(credential: str | None, session: bool) -> str:
        kind = "session:" if session else "key:"
        return hashlib.sha256((kind + (credential or "")).encode()).hexdigest()

    def _authenticate(
        self, credential: str | None, session: bool
    ) -> tuple[tokens.Token, int, str | None]:
        digest = self._digest(credential, session)
        now = time.monotonic()
        seen = self._seen.get(digest)
        if seen is not None and seen[0] > now and seen[1].state(datetime.now(UTC)) == "active":
            return seen[1], seen[2], seen[3]
        csrf = None
        with self.workspace.unit() as unit:
            if session:
                found, revision = tokens.session_in(unit, credential)
                token, csrf = found.token, found.csrf
            else:
                token, revision = tokens.authenticate_in(unit, credential, self.workspace.settings)
        if self.cache_s > 0:
            if len(self._seen) >= self.MAX_CACHED:
                self._seen.clear()
            self._seen[digest] = (now + self.cache_s, token, revision, csrf)
        return token, revision, csrf


def _role_principals() -> list[dict[str, Any]]:
    return [
        {
            "uid": {"type": "Keel::ServiceAccount", "id": f"role:{role}"},
            "attrs": {"name": f"role:{role}"},
            "parents": [{"type": "Keel::Role", "id": role}],
        }
        for role in ROLES
    ]
