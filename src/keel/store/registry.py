"""The model registry in the store: versions with their lifecycle state, their history, aliases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import model_aliases, model_events, model_versions


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """A registered model version.

    Attributes:
        model: The model's name.
        version: The version.
        state: Its lifecycle state now.
        declared_state: The state its manifest declared when it was first applied.
        registered_by: The principal that registered it, if known.
        record: Artifact digest, framework, parameters, metrics, tags, trained-on datasets.
        created_at: When it was registered.
        updated_at: When it last changed.
    """

    model: str
    version: str
    state: str
    declared_state: str
    registered_by: str | None
    record: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @property
    def ref(self) -> str:
        """``model@version``."""
        return f"{self.model}@{self.version}"


@dataclass(frozen=True, slots=True)
class ModelEvent:
    """Something that happened to a model version, with its ledger entry.

    Attributes:
        model: The model's name.
        version: The version.
        type: ``registered``, ``evaluated``, ``approved``, ``transitioned``, ``aliased``.
        principal: Who did it (``user:alice``), if anyone.
        detail: What exactly (the evaluation, the states, the alias).
        ledger_index: The ledger entry that records it.
        at: When.
    """

    model: str
    version: str
    type: str
    principal: str | None
    detail: dict[str, Any]
    ledger_index: int | None
    at: datetime


class RegistryRepository:
    """Reads and writes the registry on one connection.

    Args:
        conn: An open connection (in a write transaction for the writing methods).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def versions(self, model: str | None = None) -> list[StoredVersion]:
        """Registered versions, of one model or all.

        Args:
            model: The model, or ``None`` for all.

        Returns:
            The versions, by model and registration time.
        """
        query = sa.select(model_versions)
        if model is not None:
            query = query.where(model_versions.c.model == model)
        query = query.order_by(model_versions.c.model, model_versions.c.created_at)
        return [StoredVersion(**row._mapping) for row in self.conn.execute(query)]

    def version(self, model: str, version: str) -> StoredVersion | None:
        """One registered version.

        Args:
            model: The model.
            version: The version.

        Returns:
            The version, or ``None``.
        """
        row = self.conn.execute(
            sa.select(model_versions).where(
                model_versions.c.model == model, model_versions.c.version == version
            )
        ).first()
        return None if row is None else StoredVersion(**row._mapping)

    def states(self) -> dict[tuple[str, str], str]:
        """Every version's state: ``(model, version) -> state``."""
        query = sa.select(model_versions.c.model, model_versions.c.version, model_versions.c.state)
        return {(m, v): s for m, v, s in self.conn.execute(query)}

    def insert(self, versions: list[StoredVersion]) -> None:
        """Register versions.

        Args:
            versions: The new versions.
        """
        if versions:
            rows = [
                {
                    "model": v.model,
                    "version": v.version,
                    "state": v.state,
                    "declared_state": v.declared_state,
                    "registered_by": v.registered_by,
                    "record": v.record,
                    "created_at": v.created_at,
                    "updated_at": v.updated_at,
                }
                for v in versions
            ]
            self.conn.execute(sa.insert(model_versions), rows)

    def update(self, model: str, version: str, now: datetime, **values: Any) -> None:
        """Change a version's state or record.

        Args:
            model: The model.
            version: The version.
            now: The time.
            **values: ``state=...`` and/or ``record=...``.
        """
        self.conn.execute(
            sa.update(model_versions)
            .where(model_versions.c.model == model, model_versions.c.version == version)
            .values(updated_at=now, **values)
        )

    def add_events(self, events: list[ModelEvent]) -> None:
        """Append history.

        Args:
            events: The events, with their ledger indices.
        """
        if events:
            rows = [
                {
                    "model": e.model,
                    "version": e.version,
                    "type": e.type,
                    "principal": e.principal,
                    "detail": e.detail,
                    "ledger_index": e.ledger_index,
                    "at": e.at,
                }
                for e in events
            ]
            self.conn.execute(sa.insert(model_events), rows)

    def events(self, model: str, version: str) -> list[ModelEvent]:
        """A version's history, oldest first.

        Args:
            model: The model.
            version: The version.

        Returns:
            The events.
        """
        query = (
            sa.select(model_events)
            .where(model_events.c.model == model, model_events.c.version == version)
            .order_by(model_events.c.id)
        )
        return [
            ModelEvent(
                row.model,
                row.version,
                row.type,
                row.principal,
                dict(row.detail),
                row.ledger_index,
                row.at,
            )
            for row in self.conn.execute(query)
        ]

    def set_alias(self, model: str, alias: str, version: str, now: datetime) -> None:
        """Point an alias at a version (replacing where it pointed).

        Args:
            model: The model.
            alias: The alias (``champion``).
            version: The version.
            now: The time.
        """
        self.conn.execute(
            sa.delete(model_aliases).where(
                model_aliases.c.model == model, model_aliases.c.alias == alias
            )
        )
        self.conn.execute(
            sa.insert(model_aliases).values(
                model=model, alias=alias, version=version, updated_at=now
            )
        )

    def aliases(self, model: str | None = None) -> dict[tuple[str, str], str]:
        """Aliases: ``(model, alias) -> version``.

        Args:
            model: One model, or ``None`` for all.

        Returns:
            The aliases.
        """
        query = sa.select(model_aliases.c.model, model_aliases.c.alias, model_aliases.c.version)
        if model is not None:
            query = query.where(model_aliases.c.model == model)
        return {(m, a): v for m, a, v in self.conn.execute(query)}
