"""``/v1/tokens``: API keys, managed by admins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard
from keel.operations import DEFAULT_KEY_DAYS

router = APIRouter(tags=["tokens"])


class TokenBody(Body):
    """A key to create."""

    name: str = Field(min_length=1, max_length=63)
    role: str = Field(min_length=1, max_length=32)
    expires_days: float | None = Field(
        default=DEFAULT_KEY_DAYS, gt=0, le=3650, description="Lifetime in days; null: never"
    )
    agent: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        description="An agent's own key (role agent): it opens only that agent's MCP gateway.",
    )


@router.get("/v1/tokens", response_model=wire.Tokens)
def tokens(
    caller: Annotated[Caller, Depends(guard("admin", "Resource/ApiKey/all"))],
) -> wire.Tokens:
    """Every API key, without secrets."""
    return caller.ops.tokens()


@router.post("/v1/tokens", response_model=wire.CreatedToken, status_code=201)
def create(
    body: TokenBody,
    caller: Annotated[Caller, Depends(guard("admin", "Resource/ApiKey/all", mutates=True))],
) -> wire.CreatedToken:
    """Create an API key; its secret is in this answer only."""
    return caller.ops.create_token(body.name, body.role, body.expires_days, agent=body.agent)


@router.delete("/v1/tokens/{name}", response_model=wire.Token)
def revoke(
    name: str,
    caller: Annotated[Caller, Depends(guard("admin", "Resource/ApiKey/{name}", mutates=True))],
) -> wire.Token:
    """Revoke an API key at once (its dashboard sessions end too)."""
    return caller.ops.revoke_token(name)
