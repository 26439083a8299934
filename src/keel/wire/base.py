"""What every wire model shares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, JsonValue


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


Instant = Annotated[datetime, AfterValidator(_aware)]
"""A point in time, always with its offset (the store's naive times are UTC)."""

JsonObject = dict[str, JsonValue]
__all__ = ["Instant", "JsonObject", "JsonValue", "Wire"]
"""A JSON object whose shape the wire does not fix (a resource's spec, a ledger entry)."""


class Wire(BaseModel):
    """A wire model: immutable, and unknown fields are refused.

    Server and client ship together, so a field one knows and the other does not is a bug to
    report, not data to drop silently.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)
