"""Credentials: API keys, and OIDC bearer tokens when an issuer is configured.

A key reads ``keel_<id>_<secret>``: the id finds the row, the secret is compared with the
stored SHA-256 in constant time. A key acts as the principal ``service_account:token:<name>``,
a member of its role in the access policy. Keys are created with a role, shown once, stored as
a hash, and expire and can be revoked.

An OIDC token is a JWT signed by the configured issuer (its public keys in a JWKS file), for the
configured audience, not expired; it acts as ``user:oidc:<sub>`` with the highest Keel role
named in its roles claim.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from keel.config import Settings
from keel.errors import AuthenticationError, NotFoundError, UserError
from keel.estate.spelling import did_you_mean
from keel.policy.access.engine import NAMESPACE, ROLES
from keel.service import ledger
from keel.service.stored import estate_in
from keel.service.workspace import Unit, Workspace
from keel.store import ResourceRepository
from keel.store.tokens import SessionRepository, StoredSession, StoredToken, TokenRepository

AGENT_ROLE = "agent"
"""The role of an agent's key: it opens only that agent's MCP gateway, never the API."""
KEY = re.compile(r"^keel_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_DAYS = 3650


@dataclass(frozen=True, slots=True)
class Token:
    """A token without its secret.

    Attributes:
        name: Its name.
        role: Its role.
        created_at: When it was made.
        expires_at: When it stops working, or ``None``.
        revoked_at: When it was revoked, or ``None``.
        agent: The agent whose key it is (role ``agent``), else ``None``.
    """

    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    agent: str | None = None

    @property
    def principal(self) -> str:
        """``service_account:token:NAME``, ``agent:NAME`` (an agent's key) or ``user:oidc:SUB``."""
        if self.agent is not None:
            return f"agent:{self.agent}"
        if self.name.startswith("oidc:"):
            return f"user:{self.name}"
        return f"service_account:token:{self.name}"

    def entity(self) -> dict[str, Any]:
        """The principal as a Cedar entity, a member of its role."""
        kind, _, name = self.principal.partition(":")
        return {
            "uid": {
                "type": f"{NAMESPACE}::{'User' if kind == 'user' else 'ServiceAccount'}",
                "id": name,
            },
            "attrs": {"name": name},
            "parents": [{"type": f"{NAMESPACE}::Role", "id": self.role}],
        }

    def state(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def _public(row: StoredToken) -> Token:
    return Token(row.name, row.role, row.created_at, row.expires_at, row.revoked_at, row.agent)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_duration_days(text: str) -> float:
    """``30d``, ``12h`` or ``90`` (days) as days.

    Args:
        text: The duration.

    Returns:
        Days.

    Raises:
        UserError: If it is malformed, not positive or over ten years.
    """
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([dh]?)", text.strip())
    if match is None:
        raise UserError(f"--expires {text!r}: write a number of days (30d), hours (12h) or never")
    value = float(match[1]) / (24 if match[2] == "h" else 1)
    if not 0 < value <= MAX_DAYS:
        raise UserError(f"--expires {text!r}: between 1 hour and {MAX_DAYS} days")
    return value


def create(
    workspace: Workspace,
    name: str,
    role: str,
    expires_days: float | None = None,
    *,
    actor: str,
    agent: str | None = None,
) -> tuple[Token, str]:
    """Make a token; its key is returned once and never stored.

    The creation is a ledger entry (name, role, expiry, never the secret) in the same
    transaction. The caller decides whether the actor may (``admin``).

    Args:
        workspace: The workspace.
        name: A unique name (lowercase letters, digits and ``-``).
        role: ``viewer``, ``operator``, ``approver`` or ``admin``.
        expires_days: Lifetime in days; ``None`` for no expiry.
        actor: Who creates it (recorded in the ledger).
        agent: Make it this agent's own key (role ``agent``): it opens only the agent's MCP
            gateway, where it acts as ``agent:NAME``.

    Returns:
        The token and its key.

    Raises:
        UserError: If the name or role is invalid, or the name is taken.
    """
    if not NAME.match(name):
        raise UserError(f"token name {name!r}: lowercase letters, digits and '-', at most 63")
    if agent is not None and role != AGENT_ROLE:
        raise UserError(f"an agent's key has role {AGENT_ROLE!r}, not {role!r}")
    if agent is None and role not in ROLES:
        hint = " (an agent's key: give the agent)" if role == AGENT_ROLE else ""
        raise UserError(
            f"unknown role {role!r}{did_you_mean(role, ROLES)}; roles: {', '.join(ROLES)}{hint}"
        )
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = now + timedelta(days=expires_days) if expires_days is not None else None
    with workspace.unit(actor, write=True) as unit:
        repo = unit.repository(TokenRepository)
        if repo.by_name(name) is not None:
            raise UserError(f"a token named {name!r} exists; revoke it or choose another name")
        if agent is not None:
            agents = estate_in(unit).of_kind("Agent")
            if agent not in agents:
                raise NotFoundError(f"no agent {agent!r}{did_you_mean(agent, agents)}")
        repo.add(StoredToken(token_id, name, role, _digest(secret), now, expires, None, agent))
        entry = {
            "type": "token.created",
            "token": name,
            "role": role,
            "expires_at": expires.isoformat() if expires else None,
        }
        if agent is not None:
            entry["agent"] = agent
        ledger.record(unit, [entry])
    return Token(name, role, now, expires, None, agent), f"keel_{token_id}_{secret}"


def revoke(workspace: Workspace, name: str, *, actor: str) -> Token:
    """Revoke a token at once (a ledger entry in the same transaction).

    Args:
        workspace: The workspace.
        name: Its name.
        actor: Who revokes it (recorded in the ledger).

    Returns:
        The token, revoked.

    Raises:
        NotFoundError: If no token has the name.
    """
    with workspace.unit(actor, write=True) as unit:
        repo = unit.repository(TokenRepository)
        if repo.by_name(name) is None:
            names = [t.name for t in repo.all()]
            raise NotFoundError(f"no token named {name!r}{did_you_mean(name, names)}")
        repo.revoke(name, datetime.now(UTC))
        ledger.record(unit, [{"type": "token.revoked", "token": name}])
        row = repo.by_name(name)
    assert row is not None
    return _public(row)


def list_tokens(workspace: Workspace) -> list[Token]:
    """Every token, without secrets.

    Args:
        workspace: The workspace.

    Returns:
        The tokens, by name.
    """
    with workspace.unit() as unit:
        return [_public(row) for row in unit.repository(TokenRepository).all()]


def authenticate(workspace: Workspace, key: str | None) -> Token:
    """The token a presented key belongs to, if it is valid now.

    Args:
        workspace: The workspace.
        key: The presented key, or ``None``.

    Returns:
        The token.

    Raises:
        AuthenticationError: If the key is missing, malformed, unknown, wrong, expired or
            revoked. The message never contains the key.
    """
    with workspace.unit() as unit:
        return authenticate_in(unit, key, workspace.settings)[0]


def authenticate_in(
    unit: Unit, key: str | None, settings: Settings | None = None
) -> tuple[Token, int]:
    """:func:`authenticate` on an open connection, with the estate's revision (one statement).

    Args:
        unit: A unit of work.
        key: The presented key or OIDC token, or ``None``.
        settings: The settings (OIDC is accepted when they name an issuer).

    Returns:
        The token and the estate revision.

    Raises:
        AuthenticationError: As :func:`authenticate`.
    """
    if not key:
        raise AuthenticationError("no credentials: send Authorization: Bearer <API key>")
    if key.count(".") == 2 and not key.startswith("keel_"):
        token = _oidc(key, settings)
        return token, unit.repository(ResourceRepository).revision()[0]
    match = KEY.match(key)
    if match is None:
        raise AuthenticationError("malformed credentials: an API key reads keel_<id>_<secret>")
    row, revision = unit.repository(TokenRepository).by_id_at_revision(match[1])
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(match[2])):
        raise AuthenticationError("unknown API key")
    token = _public(row)
    state = token.state(datetime.now(UTC))
    if state != "active":
        raise AuthenticationError(f"API key {token.name!r} is {state}")
    return token, revision


_JWKS: dict[str, tuple[float, jwt.PyJWKSet]] = {}
_JWKS_LOCK = threading.Lock()


def _keys(path: str) -> jwt.PyJWKSet:
    try:
        stamp = Path(path).stat().st_mtime
        with _JWKS_LOCK:
            cached = _JWKS.get(path)
            if cached is None or cached[0] != stamp:
                keys = jwt.PyJWKSet.from_json(Path(path).read_text("utf-8"))
                _JWKS[path] = cached = (stamp, keys)
        return cached[1]
    except (OSError, json.JSONDecodeError, jwt.PyJWTError) as error:
        raise AuthenticationError(f"the OIDC key set cannot be read: {error}") from None


ALGORITHMS_BY_KEY = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "OKP": ("EdDSA",),
}
"""The signature algorithms each key type may verify; a token naming another is refused."""

_JWT_ERRORS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the OIDC token has expired"),
    (jwt.ImmatureSignatureError, "the OIDC token is not valid yet"),
    (jwt.InvalidAudienceError, "the OIDC token is for another audience"),
    (jwt.InvalidIssuerError, "the OIDC token is from another issuer"),
    (jwt.InvalidSignatureError, "the OIDC token's signature does not verify"),
    (jwt.exceptions.InvalidSubjectError, "the OIDC token's sub claim must be a string"),
    (jwt.InvalidAlgorithmError, "the OIDC token's algorithm is not accepted"),
    (jwt.DecodeError, "the OIDC token is malformed"),
)


def _reason(error: Exception) -> str:
    """A fixed, stable message for a JWT failure (never the library's text or a repr)."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"the OIDC token lacks the required claim {error.claim!r}"
    for kind, message in _JWT_ERRORS:
        if isinstance(error, kind):
            return message
    return "the OIDC token is invalid"


def _oidc(text: str, settings: Settings | None) -> Token:
    if settings is None or not settings.oidc_issuer:
        raise AuthenticationError("OIDC tokens are not accepted here: no oidc_issuer is set")
    keys = _keys(settings.oidc_jwks_file)
    try:
        header = jwt.get_unverified_header(text)
    except jwt.PyJWTError:
        raise AuthenticationError("the OIDC token is malformed") from None
    kid, algorithm = header.get("kid"), header.get("alg")
    candidates = [k for k in keys.keys if kid is None or k.key_id == kid]
    if not candidates:
        raise AuthenticationError("the OIDC token's key id is not in the issuer's key set")
    key = candidates[0]
    allowed = ALGORITHMS_BY_KEY.get(str(key.key_type), ())
    if algorithm not in allowed:
        raise AuthenticationError(
            f"the OIDC token's algorithm {str(algorithm)[:16]!r} does not fit its"
            f" {key.key_type} key; accepted: {', '.join(allowed) or 'none'}"
        )
    try:
        claims = jwt.decode(
            text,
            key.key,
            algorithms=[algorithm],
            audience=settings.oidc_audience,
            issuer=settings.oidc_issuer,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except (jwt.PyJWTError, ValueError, TypeError) as error:
        raise AuthenticationError(_reason(error)) from None
    role = _role(claims, settings.oidc_roles_claim)
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise AuthenticationError("the OIDC token's sub claim must be a string of 1-255 characters")
    try:
        issued = datetime.fromtimestamp(int(claims.get("iat", claims["exp"])), UTC)
        expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise AuthenticationError("the OIDC token's iat or exp is not a time") from None
    return Token(f"oidc:{subject}", role, issued, expires, None)


def _role(claims: dict[str, Any], claim: str) -> str:
    """The highest Keel role a token's roles claim names: a list of strings, nothing else."""
    granted = claims.get(claim)
    if not isinstance(granted, list) or not all(isinstance(g, str) for g in granted):
        raise AuthenticationError(
            f"the OIDC token's {claim!r} claim must be a list of role names (strings)"
        )
    role = next((r for r in reversed(ROLES) if r in granted), None)
    if role is None:
        raise AuthenticationError(f"the OIDC token names no Keel role in its {claim!r} claim")
    return role


SESSION_HOURS = 8.0
"""How long a dashboard session lasts at most (never past its API key's expiry)."""
SESSION = re.compile(r"^ks_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in dashboard session.

    Attributes:
        token: The API key it acts as.
        csrf: What a state-changing request must echo (``X-CSRF-Token`` or a form's ``csrf``).
        expires_at: When it ends.
    """

    token: Token
    csrf: str
    expires_at: datetime


def refuse_agent_key(token: Token) -> None:
    """Refuse an agent's key anywhere but its MCP gateway.

    Raises:
        AuthenticationError: If the token is an agent's key.
    """
    if token.agent is not None:
        raise AuthenticationError(
            f"API key {token.name!r} belongs to agent {token.agent}: it opens only that agent's"
            " MCP gateway (keel gateway --http), not the API or the dashboard"
        )


def open_session(workspace: Workspace, key: str) -> tuple[str, Session]:
    """Sign in with an API key: a server-side session whose random id goes in the cookie.

    The cookie never holds the key. Only the id's hash is stored; the session ends after
    :data:`SESSION_HOURS`, at sign-out, or as soon as its key expires or is revoked.

    Args:
        workspace: The workspace.
        key: The API key.

    Returns:
        The session id (for the cookie, shown once) and the session.

    Raises:
        AuthenticationError: If the key is not valid now.
    """
    match = KEY.match(key)
    if match is None:
        raise AuthenticationError("malformed credentials: an API key reads keel_<id>_<secret>")
    session_id = f"ks_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    with workspace.unit(write=True) as unit:
        token, _ = authenticate_in(unit, key, workspace.settings)
        refuse_agent_key(token)
        expires = now + timedelta(hours=SESSION_HOURS)
        if token.expires_at is not None:
            expires = min(expires, token.expires_at)
        csrf = secrets.token_urlsafe(32)
        unit.repository(SessionRepository).add(
            StoredSession(_digest(session_id), match[1], csrf, now, expires, None)
        )
    return session_id, Session(token, csrf, expires)


def session_in(unit: Unit, session_id: str | None) -> tuple[Session, int]:
    """The session a cookie names, if it is valid now, and the estate's revision.

    Args:
        unit: A unit of work.
        session_id: The cookie's value.

    Returns:
        The session and the revision.

    Raises:
        AuthenticationError: If the session is unknown, signed out or expired, or its key is
            no longer active.
    """
    if not session_id or SESSION.match(session_id) is None:
        raise AuthenticationError("no valid session: sign in again")
    stored, row, revision = unit.repository(SessionRepository).with_token(_digest(session_id))
    now = datetime.now(UTC)
    if stored is None or row is None or stored.ended_at is not None:
        raise AuthenticationError("no valid session: sign in again")
    if stored.expires_at <= now:
        raise AuthenticationError("the session expired: sign in again")
    token = _public(row)
    state = token.state(now)
    if state != "active":
        raise AuthenticationError(f"API key {token.name!r} is {state}: sign in again")
    return Session(token, stored.csrf, stored.expires_at), revision


def session(workspace: Workspace, session_id: str) -> Session:
    """The session a cookie names, if it is valid now (see :func:`session_in`).

    Args:
        workspace: The workspace.
        session_id: The cookie's value.

    Returns:
        The session.
    """
    with workspace.unit() as unit:
        return session_in(unit, session_id)[0]


def end_session(workspace: Workspace, session_id: str) -> None:
    """Sign a session out (its cookie stops working at once).

    Args:
        workspace: The workspace.
        session_id: The cookie's value.
    """
    with workspace.unit(write=True) as unit:
        unit.repository(SessionRepository).end(_digest(session_id), datetime.now(UTC))


def entities(workspace: Workspace) -> list[dict[str, Any]]:
    """Active tokens as Cedar principals (``ServiceAccount::"token:NAME"`` in their role).

    Args:
        workspace: The workspace.

    Returns:
        Entity JSON objects.
    """
    now = datetime.now(UTC)
    found = []
    for token in list_tokens(workspace):
        if token.state(now) == "active" and token.agent is None:  # agents: the estate's own
            found.append(token.entity())
    return found
