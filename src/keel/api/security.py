"""Authentication, authorisation, rate limits and security headers for every request.

Every route but ``/healthz`` (and the dashboard's sign-in and sign-out forms) depends on
:func:`guard`: it authenticates the API key (``Authorization: Bearer``) or the dashboard's
session (a cookie holding a random session id, never the key), applies the principal's rate
limit, and asks the Cedar access policy whether the principal may do the route's action to the
route's resource. A refusal is written to the ledger with the principal, in batches
(:class:`Denials`). Failed authentications are rate-limited per client address. A request that
a session cookie authenticates and that changes state must come from Keel's own origin and echo
the session's CSRF token. The guard's action and resource stay on the dependency, so tests can
enumerate what each route requires and no route can skip it unnoticed.
"""

from __future__ import annotations

import hmac
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from keel.errors import AuthenticationError, ForbiddenError, KeelError, RateLimitError
from keel.estate.resources import kind_named
from keel.service import access, limits
from keel.service.actor import Actor
from keel.service.operations import LocalOperations
from keel.service.tokens import Token
from keel.service.workspace import Workspace

SESSION_COOKIE = "keel_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
LOG = logging.getLogger("keel.api")


@dataclass
class ApiSettings:
    """How the API protects itself.

    Attributes:
        rate_per_s: Requests per second each principal may sustain.
        burst: Requests a principal may send at once.
        max_body_bytes: Largest request body read.
        cors_origins: Origins allowed cross-origin requests (none by default).
        auth_cache_s: How long an authenticated key is trusted without reading the store (a
            revocation takes effect within this time; 0 reads on every request).
        failures_per_s: Failed authentications per second each client address may sustain.
        failure_burst: Failed authentications a client address may send at once.
        max_header_bytes: Largest total size of a request's headers.
        denial_flush_s: Longest a refusal waits before its batch is written to the ledger.
        shared_limits: Keep the rate limits in the database, so that every server on it
            enforces one limit (``None``: on PostgreSQL, where several servers can share it).
        plan_cache_s: How long the latest plan is served without asking the store whether
            another process committed a newer one (a plan committed through this server is
            served at once; 0 asks on every request).
    """

    rate_per_s: float = 50.0
    burst: int = 100
    max_body_bytes: int = 16 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    auth_cache_s: float = 1.0
    failures_per_s: float = 5.0
    failure_burst: int = 20
    max_header_bytes: int = 32 * 1024
    denial_flush_s: float = 0.5
    shared_limits: bool | None = None
    plan_cache_s: float = 1.0


class RateLimiter:
    """A token bucket per principal (in this process).

    Args:
        rate_per_s: Refill rate.
        burst: Bucket size.
    """

    def __init__(self, rate_per_s: float, burst: int) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _refusal(self, wait_s: float) -> RateLimitError:
        return RateLimitError(f"rate limit: {self.rate:g} requests/s, burst {self.burst}", wait_s)

    def take(self, principal: str) -> None:
        """Spend one request of a principal's bucket.

        Args:
            principal: Who asks.

        Raises:
            RateLimitError: With the seconds until the next request would pass.
        """
        now = time.monotonic()
        with self._lock:
            level, at = self._buckets.get(principal, (float(self.burst), now))
            level = min(float(self.burst), level + (now - at) * self.rate)
            if level < 1:
                self._buckets[principal] = (level, now)
                raise self._refusal((1 - level) / self.rate)
            self._buckets[principal] = (level - 1, now)


class SharedRateLimiter(RateLimiter):
    """Token buckets in the database: every server on it enforces one limit per principal.

    A server takes tokens from the database a few at a time (a twentieth of a second's worth,
    at most a tenth of the burst, at least one) and spends them locally for up to
    :attr:`LEASE_S`; tokens it did not spend by then are dropped, never returned. So the limit
    across servers is never exceeded; at most, a principal is refused on one server while
    another holds a few of its tokens for that long.

    Args:
        workspace: The workspace whose database holds the buckets.
        scope: What it limits (``requests``, ``failures``): its buckets' keys start with it.
        rate_per_s: Refill rate.
        burst: Bucket size.
    """

    LEASE_S = 1.0
    PRUNE_EVERY_S = 300.0
    """How often a server deletes the scope's buckets that have been idle long enough to be full."""

    def __init__(self, workspace: Workspace, scope: str, rate_per_s: float, burst: int) -> None:
        super().__init__(rate_per_s, burst)
        self.workspace = workspace
        self.scope = scope
        self.lease = max(1, min(burst // 10, math.ceil(rate_per_s / 20)))
        self._held: dict[str, tuple[int, float]] = {}
        self._pruned_at = time.monotonic()

    def take(self, principal: str) -> None:
        """Spend one request of a principal's bucket (a database statement now and then).

        Args:
            principal: Who asks.

        Raises:
            RateLimitError: With the seconds until the next request would pass.
        """
        now = time.monotonic()
        with self._lock:
            left, until = self._held.get(principal, (0, 0.0))
            if left > 0 and until > now:
                self._held[principal] = (left - 1, until)
                return
        granted, wait = limits.take(
            self.workspace, f"{self.scope}/{principal}", self.rate, self.burst, self.lease
        )
        if granted == 0:
            raise self._refusal(wait)
        with self._lock:
            if len(self._held) >= 10_000:
                self._held.clear()
            self._held[principal] = (granted - 1, now + self.LEASE_S)
            prune = now - self._pruned_at >= self.PRUNE_EVERY_S
            if prune:
                self._pruned_at = now
        if prune:  # twice the time a bucket takes to refill: it is full, as if absent
            limits.prune(self.workspace, self.scope, max(60.0, 2 * self.burst / self.rate))


def retry_after(error: RateLimitError) -> str:
    """The ``Retry-After`` header value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(error.retry_after_s)))


def presented(request: Request) -> tuple[str | None, bool]:
    """The credential a request carries, and whether it is a session cookie.

    The bearer token wins; without an ``Authorization`` header the session cookie is used.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return (value.strip() if scheme.lower() == "bearer" else "malformed"), False
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie, cookie is not None


class Denials:
    """Refusals waiting to be written to the ledger, in one transaction per batch.

    A burst of refused requests (a scan, a misconfigured client) would otherwise cost one
    transaction and one signed checkpoint each. A refusal is written within ``flush_s``; a
    crash loses at most that much.

    Args:
        workspace: The workspace whose ledger records them.
        flush_s: Longest a refusal waits.
    """

    MAX_BATCH = 1000

    def __init__(self, workspace: Workspace, flush_s: float = 0.5) -> None:
        self.workspace = workspace
        self.flush_s = flush_s
        self._pending: list[tuple[str, str, str, list[str]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, principal: str, action: str, resource: str, policies: list[str]) -> None:
        """Queue one refusal.

        Args:
            principal: Who asked.
            action: What for.
            resource: On what.
            policies: The policies that refused it.
        """
        with self._lock:
            self._pending.append((principal, action, resource, policies))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="keel-denials", daemon=True)
                self._thread.start()
            if len(self._pending) >= self.MAX_BATCH:
                self._wake.set()

    def flush(self) -> None:
        """Write every queued refusal now."""
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            try:
                access.record_denials(self.workspace, batch)
            except KeelError as error:  # the refusal itself stands; say that its record failed
                LOG.error("%d refusals could not be written to the ledger: %s", len(batch), error)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_s)
            self._wake.clear()
            self.flush()


@dataclass
class Guards:
    """What the guards share: the workspace, the access gate, the rate limiters, the denials.

    Attributes:
        workspace: The workspace.
        gate: Authentication and access decisions.
        limiter: Requests per principal.
        failures: Failed authentications per client address.
        denials: Refusals on their way to the ledger.
        plan_cache_s: How long the latest plan is served without asking the store (see
            :attr:`ApiSettings.plan_cache_s`).
    """

    workspace: Workspace
    gate: access.Gate
    limiter: RateLimiter
    failures: RateLimiter = field(default_factory=lambda: RateLimiter(5.0, 20))
    denials: Denials | None = None
    plan_cache_s: float = 0.0

    def refuse(self, principal: str, action: str, resource: str, policies: list[str]) -> None:
        """Record a refusal (batched) and raise it.

        Raises:
            ForbiddenError: Always.
        """
        if self.denials is None:
            access.refuse(self.workspace, principal, action, resource, policies)
        else:
            self.denials.add(principal, action, resource, policies)
        why = f"forbidden by {', '.join(policies)}" if policies else "no policy permits it"
        raise ForbiddenError(f"{principal} may not {action} {resource} ({why})", policies)


def client_address(request: Request) -> str:
    """The peer address of a request (what failed authentications are limited by)."""
    return request.client.host if request.client else "unknown"


def origin_of(request: Request) -> str:
    """This server's origin as the request addressed it (``scheme://host[:port]``)."""
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


def same_origin(request: Request) -> bool:
    """Whether a browser says the request comes from this server's own pages.

    ``Origin`` must name this server when present; ``Sec-Fetch-Site`` must say
    ``same-origin`` when present (browsers send at least one of them on every POST). Keel's pages
    send no referrer, so a browser posts ``Origin: null`` from them: then ``Sec-Fetch-Site``
    decides alone.
    """
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin == "null":  # a page under Referrer-Policy: no-referrer posts "Origin: null"
        return fetch_site == "same-origin"
    if origin is not None and origin != origin_of(request):
        return False
    return fetch_site in (None, "same-origin", "none")


def check_csrf(guards: Guards, request: Request, token: Token, csrf: str) -> None:
    """Refuse a cookie-authenticated change unless same-origin and with its CSRF token.

    The token travels in the ``X-CSRF-Token`` header; a cross-site page can neither read it
    nor set that header.

    Raises:
        ForbiddenError: Recorded in the ledger as refused by ``csrf``.
    """
    sent = request.headers.get(CSRF_HEADER) or ""
    if not same_origin(request) or not hmac.compare_digest(sent.encode(), csrf.encode()):
        guards.refuse(token.principal, request.method, request.url.path, ["csrf"])


@dataclass(frozen=True)
class Caller:
    """An admitted request's caller: its token, and Keel's operations acting as it.

    Attributes:
        token: The authenticated API key or OIDC user.
        ops: The operations, acting as the token's principal, lists filtered by its reads.
    """

    token: Token
    ops: LocalOperations


def guards_of(request: Request) -> Guards:
    """The guards of the app a request reached."""
    found = request.app.state.guards
    assert isinstance(found, Guards)
    return found


def guard(
    action: str, resource: str, *, mutates: bool = False, agent_key: str | None = None
) -> Callable[[Request], Caller]:
    """A dependency that lets a request through only if its principal may do ``action``.

    Args:
        action: The Cedar action the route performs.
        resource: The resource, ``Kind/name`` with ``{path parameters}`` filled from the URL.
        mutates: Whether the route changes state (the change records its actor in the ledger
            itself; a cookie-authenticated mutation must pass the CSRF check).
        agent_key: The path parameter naming an agent whose own key the route also admits
            (acting as ``agent:NAME``); without it, every agent's key is refused.

    Returns:
        The dependency; it returns the caller, with operations acting as its principal.
    """

    def check(request: Request) -> Caller:
        # A plain function: FastAPI runs it in its thread pool, once per request.
        guards = guards_of(request)
        target = _typed(resource.format(**request.path_params))
        credential, session = presented(request)
        try:
            own = request.path_params.get(agent_key) if agent_key else None
            token, decision, csrf = guards.gate.admit(
                credential, action, target, session=session, agent=own
            )
        except AuthenticationError:
            guards.failures.take(f"addr:{client_address(request)}")  # 429 past the limit
            raise
        guards.limiter.take(token.principal)
        if csrf is not None and request.method not in SAFE_METHODS:
            check_csrf(guards, request, token, csrf)
        if not decision.allowed:
            guards.refuse(token.principal, action, target, list(decision.policies))
        request.state.csrf = csrf
        ops = LocalOperations(
            guards.workspace,
            actor=Actor.of_token(token),
            visible=visible(guards, token),
            plan_trusted_s=guards.plan_cache_s,
        )
        return Caller(token, ops)

    check.action = action  # type: ignore[attr-defined]
    check.resource = resource  # type: ignore[attr-defined]
    check.mutates = mutates  # type: ignore[attr-defined]
    return check


def visible(guards: Guards, token: Token) -> Callable[[list[str]], list[bool]]:
    """The read decisions a list applies per item for a token (as its single reads decide).

    Args:
        guards: The shared state.
        token: The caller.

    Returns:
        ``resources -> allowed`` for ``Kind/name`` resources, in one batch.
    """

    def decide(resources: list[str]) -> list[bool]:
        return guards.gate.readable(token, resources)

    return decide


def _typed(target: str) -> str:
    """``Estate/datasets/x`` as the resource the access policy knows (``Dataset/x``).

    The kind in a URL is spelled as users spell it; :func:`kind_named` makes it canonical, and
    the access engine then treats sites, datasets, models and workloads as their own entities
    (so the restricted-data rule applies) and anything else as a generic resource.
    """
    if not target.startswith("Estate/"):
        return target
    _, kind, name = target.split("/", 2)
    canonical = kind_named(kind)
    return f"{canonical}/{name}" if canonical else f"Resource/{kind}/{name}"


def security_headers(nonce: str | None = None) -> dict[str, str]:
    """Headers every response carries; pages get a content security policy with a nonce.

    Args:
        nonce: The nonce of the page's inline scripts, for HTML pages.

    Returns:
        The headers.
    """
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
    }
    if nonce is not None:
        headers["Content-Security-Policy"] = (
            "default-src 'none'; "
            f"script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
    return headers


def new_nonce() -> str:
    """A fresh script nonce."""
    return secrets.token_urlsafe(16)


def describe(check: Any) -> tuple[str, str, bool] | None:
    """The action, resource and mutation flag a guard requires, or ``None`` if not a guard."""
    action = getattr(check, "action", None)
    if action is None:
        return None
    return action, check.resource, check.mutates
