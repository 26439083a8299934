"""API tokens in the store: name, role, the SHA-256 of the secret, expiry and revocation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import api_sessions, api_tokens, estate_meta


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A token as stored (never its secret).

    Attributes:
        id: The public id (part of the key).
        name: Its name, also its principal's name (``service_account:NAME``).
        role: The role it acts with.
        secret_sha256: Hex SHA-256 of the secret.
        created_at: When it was made.
        expires_at: When it stops working, or ``None``.
        revoked_at: When it was revoked, or ``None``.
        agent: The agent a key of role ``agent`` belongs to, else ``None``.
    """

    id: str
    name: str
    role: str
    secret_sha256: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    agent: str | None = None


class TokenRepository:
    """Reads and writes tokens on one connection.

    Args:
        conn: An open connection.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, token: StoredToken) -> None:
        """Store a new token.

        Args:
            token: The token.
        """
        self.conn.execute(sa.insert(api_tokens).values(**asdict(token)))

    def by_id_at_revision(self, token_id: str) -> tuple[StoredToken | None, int]:
        """A token by id and the estate's revision, in one statement (a server's hot path).

        Args:
            token_id: The id.

        Returns:
            The token (or ``None``, with revision -1) and the estate revision.
        """
        revision = sa.select(estate_meta.c.revision).where(estate_meta.c.id == 1).scalar_subquery()
        row = self.conn.execute(
            sa.select(api_tokens, revision.label("revision")).where(api_tokens.c.id == token_id)
        ).first()
        if row is None:
            return None, -1
        found = dict(row._mapping)
        current = int(found.pop("revision"))
        return StoredToken(**found), current

    def by_name(self, name: str) -> StoredToken | None:
        """A token by name.

        Args:
            name: The name.

        Returns:
            The token, or ``None``.
        """
        row = self.conn.execute(sa.select(api_tokens).where(api_tokens.c.name == name)).first()
        return None if row is None else StoredToken(**row._mapping)

    def all(self) -> list[StoredToken]:
        """Every token, by name."""
        rows = self.conn.execute(sa.select(api_tokens).order_by(api_tokens.c.name))
        return [StoredToken(**row._mapping) for row in rows]

    def revoke(self, name: str, now: datetime) -> None:
        """Revoke a token.

        Args:
            name: Its name.
            now: The time.
        """
        self.conn.execute(
            sa.update(api_tokens).where(api_tokens.c.name == name).values(revoked_at=now)
        )


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A dashboard session as stored (never its id, only the id's hash).

    Attributes:
        id_sha256: Hex SHA-256 of the session id the cookie holds.
        token_id: The API key it was opened with (it acts as that key's principal).
        csrf: The token state-changing requests must echo.
        created_at: When it was opened.
        expires_at: When it ends at the latest.
        ended_at: When it was signed out, or ``None``.
    """

    id_sha256: str
    token_id: str
    csrf: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None


class SessionRepository:
    """Reads and writes dashboard sessions on one connection.

    Args:
        conn: An open connection.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add(self, session: StoredSession) -> None:
        """Store a new session.

        Args:
            session: The session.
        """
        self.conn.execute(sa.insert(api_sessions).values(**asdict(session)))

    def with_token(self, id_sha256: str) -> tuple[StoredSession | None, StoredToken | None, int]:
        """A session, its API key and the estate's revision, in one statement.

        Args:
            id_sha256: The hash of the presented session id.

        Returns:
            The session and its token (``None`` when unknown) and the revision.
        """
        revision = sa.select(estate_meta.c.revision).where(estate_meta.c.id == 1).scalar_subquery()
        row = self.conn.execute(
            sa.select(
                api_sessions,
                *[c.label(f"t_{c.name}") for c in api_tokens.c],
                revision.label("revision"),
            )
            .join(api_tokens, api_tokens.c.id == api_sessions.c.token_id)
            .where(api_sessions.c.id_sha256 == id_sha256)
        ).first()
        if row is None:
            return None, None, -1
        found = dict(row._mapping)
        token = StoredToken(**{c.name: found.pop(f"t_{c.name}") for c in api_tokens.c})
        current = int(found.pop("revision"))
        return StoredSession(**found), token, current

    def end(self, id_sha256: str, now: datetime) -> None:
        """Sign a session out.

        Args:
            id_sha256: The hash of its id.
            now: The time.
        """
        self.conn.execute(
            sa.update(api_sessions)
            .where(api_sessions.c.id_sha256 == id_sha256, api_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )
