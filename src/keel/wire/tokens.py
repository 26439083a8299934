"""API keys (never their secrets, except once at creation)."""

from __future__ import annotations

from pydantic import Field

from keel.wire.base import Instant, Wire


class Token(Wire):
    """An API key without its secret."""

    name: str
    role: str
    principal: str
    state: str
    created_at: Instant
    expires_at: Instant | None
    revoked_at: Instant | None
    agent: str | None = Field(default=None, description="The agent whose own key it is.")


class Tokens(Wire):
    """Every API key."""

    tokens: list[Token]


class CreatedToken(Wire):
    """A new key; ``key`` is shown this once and never stored."""

    token: Token
    key: str = Field(description="keel_<id>_<secret>: store it now.")
