"""API keys: created with a role, shown once, stored as a hash, expiring and revocable.

A key reads ``keel_<id>_<secret>``: the id finds the row, the secret is compared with the
stored SHA-256 in constant time. A key acts as the principal ``service_account:token:<name>``,
a member of its role in the access policy.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from keel.errors import AuthenticationError, NotFoundError, UserError
from keel.estate.spelling import did_you_mean
from keel.policy.access.engine import NAMESPACE, ROLES
from keel.service.workspace import Workspace
from keel.store.tokens import StoredToken, TokenRepository

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
    """

    name: str
    role: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @property
    def principal(self) -> str:
        """The principal it acts as: ``service_account:token:NAME``."""
        return f"service_account:token:{self.name}"

    def state(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and _aware(self.expires_at) <= now:
            return "expired"
        return "active"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _public(row: StoredToken) -> Token:
    return Token(row.name, row.role, row.created_at, row.expires_at, row.revoked_at)


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
        raise UserError(f"--expires {text!r}: write a number of days (30d) or hours (12h)")
    value = float(match[1]) / (24 if match[2] == "h" else 1)
    if not 0 < value <= MAX_DAYS:
        raise UserError(f"--expires {text!r}: between 1 hour and {MAX_DAYS} days")
    return value


def create(
    workspace: Workspace, name: str, role: str, expires_days: float | None = None
) -> tuple[Token, str]:
    """Make a token; its key is returned once and never stored.

    Args:
        workspace: The workspace.
        name: A unique name (lowercase letters, digits and ``-``).
        role: ``viewer``, ``operator``, ``approver`` or ``admin``.
        expires_days: Lifetime in days; ``None`` for no expiry.

    Returns:
        The token and its key.

    Raises:
        UserError: If the name or role is invalid, or the name is taken.
    """
    if not NAME.match(name):
        raise UserError(f"token name {name!r}: lowercase letters, digits and '-', at most 63")
    if role not in ROLES:
        raise UserError(
            f"unknown role {role!r}{did_you_mean(role, ROLES)}; roles: {', '.join(ROLES)}"
        )
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires = now + timedelta(days=expires_days) if expires_days is not None else None
    with workspace.database.write() as conn:
        repo = TokenRepository(conn)
        if repo.by_name(name) is not None:
            raise UserError(f"a token named {name!r} exists; revoke it or choose another name")
        repo.add(StoredToken(token_id, name, role, _digest(secret), now, expires, None))
    return Token(name, role, now, expires, None), f"keel_{token_id}_{secret}"


def revoke(workspace: Workspace, name: str) -> Token:
    """Revoke a token at once.

    Args:
        workspace: The workspace.
        name: Its name.

    Returns:
        The token, revoked.

    Raises:
        NotFoundError: If no token has the name.
    """
    with workspace.database.write() as conn:
        repo = TokenRepository(conn)
        if repo.by_name(name) is None:
            names = [t.name for t in repo.all()]
            raise NotFoundError(f"no token named {name!r}{did_you_mean(name, names)}")
        repo.revoke(name, datetime.now(UTC))
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
    with workspace.database.read() as conn:
        return [_public(row) for row in TokenRepository(conn).all()]


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
    with workspace.database.read() as conn:
        return authenticate_in(conn, key)[0]


def authenticate_in(conn: Connection, key: str | None) -> tuple[Token, int]:
    """:func:`authenticate` on an open connection, with the estate's revision (one statement).

    Args:
        conn: A read connection.
        key: The presented key, or ``None``.

    Returns:
        The token and the estate revision.

    Raises:
        AuthenticationError: As :func:`authenticate`.
    """
    if not key:
        raise AuthenticationError("no credentials: send Authorization: Bearer <API key>")
    match = KEY.match(key)
    if match is None:
        raise AuthenticationError("malformed credentials: an API key reads keel_<id>_<secret>")
    row, revision = TokenRepository(conn).by_id_at_revision(match[1])
    if row is None or not hmac.compare_digest(row.secret_sha256, _digest(match[2])):
        raise AuthenticationError("unknown API key")
    token = _public(row)
    state = token.state(datetime.now(UTC))
    if state != "active":
        raise AuthenticationError(f"API key {token.name!r} is {state}")
    return token, revision


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
        if token.state(now) != "active":
            continue
        name = f"token:{token.name}"
        found.append(
            {
                "uid": {"type": f"{NAMESPACE}::ServiceAccount", "id": name},
                "attrs": {"name": name},
                "parents": [{"type": f"{NAMESPACE}::Role", "id": token.role}],
            }
        )
    return found
