"""``/healthz`` and the API's own OpenAPI document."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from keel import wire
from keel.api.security import Caller, guard

router = APIRouter(tags=["meta"])


@router.get("/healthz", response_model=wire.Health)
def healthz() -> wire.Health:
    """Liveness (anonymous)."""
    return wire.Health()


@router.get("/v1/openapi.json", response_model=wire.OpenAPIDocument)
def openapi(
    request: Request, _: Annotated[Caller, Depends(guard("read", "Resource/Api/openapi"))]
) -> wire.OpenAPIDocument:
    """This API's OpenAPI document."""
    return wire.OpenAPIDocument.model_validate(request.app.openapi())
