"""Health, the API's own description, and text documents."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict

from keel.wire.base import JsonObject, Wire


class Health(Wire):
    """Liveness."""

    status: Literal["ok"] = "ok"


class OpenAPIDocument(Wire):
    """This API's OpenAPI 3 document."""

    model_config = ConfigDict(extra="allow", frozen=True)

    openapi: str
    info: JsonObject
    paths: JsonObject


class Text(Wire):
    """A text document (a fact sheet in Markdown or HTML, a public key) with its format."""

    format: str
    text: str
