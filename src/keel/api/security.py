"""Authentication, authorisation, rate limits and security headers for every request.

Every route but ``/healthz`` (and the dashboard's sign-in form) depends on :func:`guard`: it
authenticates the API key (``Authorization: Bearer``, or the dashboard's session cookie),
applies the principal's rate limit, and asks the Cedar access policy whether the principal may
do the route's action to the route's resource. A refusal is written to the ledger with the
principal. The guard's action and resource stay on the dependency, so tests can enumerate what
each route requires and no route can skip it unnoticed.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from keel.errors import RateLimitError
from keel.estate.resources import kind_named
from keel.service import access
from keel.service.tokens import Token
from keel.service.workspace import Workspace

SESSION_COOKIE = "keel_session"


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
    """

    rate_per_s: float = 50.0
    burst: int = 100
    max_body_bytes: int = 16 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    auth_cache_s: float = 1.0


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
                wait = (1 - level) / self.rate
                raise RateLimitError(
                    f"rate limit: {self.rate:g} requests/s, burst {self.burst}", wait
                )
            self._buckets[principal] = (level - 1, now)


def retry_after(error: RateLimitError) -> str:
    """The ``Retry-After`` header value (whole seconds, at least 1)."""
    return str(max(1, math.ceil(error.retry_after_s)))


def presented_key(request: Request) -> str | None:
    """The API key a request carries: the bearer token, else the session cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else "malformed"
    return request.cookies.get(SESSION_COOKIE)


@dataclass
class Guards:
    """What the guards share: the workspace, the access gate, the rate limiter."""

    workspace: Workspace
    gate: access.Gate
    limiter: RateLimiter


def guard(
    guards: Guards, action: str, resource: str, *, mutates: bool = False
) -> Callable[[Request], Token]:
    """A dependency that lets a request through only if its principal may do ``action``.

    Args:
        guards: The shared state.
        action: The Cedar action the route performs.
        resource: The resource, ``Kind/name`` with ``{path parameters}`` filled from the URL.
        mutates: Whether the route changes state (the change records its actor in the ledger
            itself; a cookie-authenticated mutation must pass the CSRF check).

    Returns:
        The dependency; it returns the authenticated token.
    """

    def check(request: Request) -> Token:
        # A plain function: FastAPI runs it in its thread pool, once per request.
        target = _typed(resource.format(**request.path_params))
        token, decision = guards.gate.admit(presented_key(request), action, target)
        guards.limiter.take(token.principal)
        if not decision.allowed:
            access.refuse(
                guards.workspace, token.principal, action, target, list(decision.policies)
            )
        request.state.principal = token.principal
        request.state.action = action
        request.state.resource = target
        return token

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


def require_visible(guards: Guards, token: Token, resource: str | None) -> None:
    """Refuse (403, in the ledger) a request about one item the token may not read.

    Args:
        guards: The shared state.
        token: The caller.
        resource: The item's ``Kind/name``, or ``None`` when it is not an estate resource.
    """
    if resource is not None and not guards.gate.readable(token, [resource])[0]:
        access.refuse(guards.workspace, token.principal, "read", resource, [])


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
