"""Ledger entries, appends and verification reports (checkpoints and proofs travel as text)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from keel.wire.base import Instant, JsonObject, Wire


class LedgerEntry(Wire):
    """One entry; personal values as commitments, opened only on the local workspace."""

    index: int
    created_at: Instant
    entry: JsonObject
    personal: JsonObject | None = Field(
        default=None, description="Opened personal values (local only; never over the API)."
    )


class LedgerEntries(Wire):
    """Entries from an index on."""

    entries: list[LedgerEntry]
    size: int = Field(description="The log's size when read: entries 0 to size - 1 exist.")


class Appended(Wire):
    """Where appended entries landed."""

    first_index: int
    size: int


class Verification(Wire):
    """A successful verification of the whole log."""

    ok: Literal[True] = True
    size: int
    checkpoints: int
    previous_size: int | None = None
    trust: Literal["given", "pinned", "unpinned"] = "unpinned"
    origin: str | None = None
    pinned: bool = False
    latest_note: str | None = None
