"""API tokens in the store: name, role, the SHA-256 of the secret, expiry and revocation."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import api_tokens, estate_meta


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
    """

    id: str
    name: str
    role: str
    secret_sha256: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


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
