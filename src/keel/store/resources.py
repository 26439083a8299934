"""The resource repository: rows of ``resources`` and the estate revision.

Invariants:
    * Bulk operations use one ``executemany`` per batch, never a statement per row in Python.
    * Callers pass a connection from :meth:`keel.store.Database.read` or ``write``; the
      repository never commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.bulk import insert_rows, json_text, timestamp
from keel.store.schema import estate_meta, resources

BATCH_ROWS = 5_000
_INSERT_COLUMNS = (
    "kind",
    "name",
    "labels",
    "spec",
    "resolved",
    "spec_digest",
    "generation",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True, slots=True)
class StoredResource:
    """One row of ``resources``; ``spec`` is ``None`` when only the header was read."""

    kind: str
    name: str
    labels: dict[str, str]
    spec: dict[str, Any] | None
    resolved: dict[str, Any] | None
    spec_digest: str
    generation: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ResourceRow:
    """A row to insert or update."""

    kind: str
    name: str
    labels: dict[str, str]
    spec: dict[str, Any]
    resolved: dict[str, Any] | None
    spec_digest: str
    generation: int


_HEADER = (
    resources.c.kind,
    resources.c.name,
    resources.c.labels,
    resources.c.resolved,
    resources.c.spec_digest,
    resources.c.generation,
    resources.c.created_at,
    resources.c.updated_at,
)


def _batches(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), BATCH_ROWS):
        yield items[start : start + BATCH_ROWS]


class ResourceRepository:
    """Reads and writes estate resources on one connection.

    Args:
        conn: An open connection, inside a transaction for writes.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- reads --------------------------------------------------------------------------------
    def revision(self) -> tuple[int, str]:
        """The estate revision and digest.

        Returns:
            ``(revision, digest)``; revision 0 is the empty estate.
        """
        row = self.conn.execute(sa.select(estate_meta.c.revision, estate_meta.c.digest)).one()
        return int(row.revision), str(row.digest)

    def headers(self) -> list[StoredResource]:
        """Every resource without its spec (cheap: no large JSON).

        Returns:
            All resources, ordered by kind and name, with ``spec=None``.
        """
        rows = self.conn.execute(sa.select(*_HEADER).order_by(resources.c.kind, resources.c.name))
        return [
            StoredResource(kind, name, labels, None, resolved, digest, generation, created, updated)
            for kind, name, labels, resolved, digest, generation, created, updated in rows
        ]

    def specs(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The specs of the named resources.

        Args:
            keys: ``(kind, name)`` pairs.

        Returns:
            Specs by key; keys that do not exist are absent.
        """
        wanted = sorted(set(keys))
        found: dict[tuple[str, str], dict[str, Any]] = {}
        by_kind: dict[str, list[str]] = {}
        for kind, name in wanted:
            by_kind.setdefault(kind, []).append(name)
        for kind, names in by_kind.items():
            for chunk in _batches(names):
                rows = self.conn.execute(
                    sa.select(resources.c.name, resources.c.spec).where(
                        resources.c.kind == kind, resources.c.name.in_(chunk)
                    )
                )
                found.update({(kind, row.name): row.spec for row in rows})
        return found

    def list(self, kind: str | None = None, name: str | None = None) -> list[StoredResource]:
        """Full resources, optionally of one kind or one name.

        Args:
            kind: Only this kind, when given.
            name: Only this name, when given (with ``kind``).

        Returns:
            Matching resources ordered by kind and name.
        """
        query = sa.select(*_HEADER, resources.c.spec).order_by(resources.c.kind, resources.c.name)
        if kind is not None:
            query = query.where(resources.c.kind == kind)
        if name is not None:
            query = query.where(resources.c.name == name)
        return [
            StoredResource(kind, name, labels, spec, resolved, digest, generation, created, updated)
            for kind, name, labels, resolved, digest, generation, created, updated, spec in (
                self.conn.execute(query)
            )
        ]

    # -- writes -------------------------------------------------------------------------------
    def insert(self, rows: Sequence[ResourceRow], now: datetime) -> None:
        """Insert new resources (the bulk path of a first apply).

        Args:
            rows: Resources that do not exist yet.
            now: Creation time.
        """
        stamp = timestamp(self.conn, resources.c.created_at, now)
        insert_rows(
            self.conn,
            resources,
            _INSERT_COLUMNS,
            [
                (
                    r.kind,
                    r.name,
                    json_text(r.labels),
                    json_text(r.spec),
                    None if r.resolved is None else json_text(r.resolved),
                    r.spec_digest,
                    r.generation,
                    stamp,
                    stamp,
                )
                for r in rows
            ],
        )

    def update(self, rows: Sequence[ResourceRow], now: datetime) -> None:
        """Replace labels, spec, resolved values and generation of existing resources.

        Args:
            rows: Resources that exist.
            now: Update time.
        """
        statement = (
            sa.update(resources)
            .where(resources.c.kind == sa.bindparam("k"), resources.c.name == sa.bindparam("n"))
            .values(
                labels=sa.bindparam("labels"),
                spec=sa.bindparam("spec"),
                resolved=sa.bindparam("resolved"),
                spec_digest=sa.bindparam("spec_digest"),
                generation=sa.bindparam("generation"),
                updated_at=sa.bindparam("updated_at"),
            )
        )
        for chunk in _batches(rows):
            self.conn.execute(
                statement,
                [
                    {
                        "k": r.kind,
                        "n": r.name,
                        "labels": r.labels,
                        "spec": r.spec,
                        "resolved": r.resolved,
                        "spec_digest": r.spec_digest,
                        "generation": r.generation,
                        "updated_at": now,
                    }
                    for r in chunk
                ],
            )

    def delete(self, keys: Sequence[tuple[str, str]]) -> None:
        """Delete resources.

        Args:
            keys: ``(kind, name)`` pairs.
        """
        statement = sa.delete(resources).where(
            resources.c.kind == sa.bindparam("k"), resources.c.name == sa.bindparam("n")
        )
        for chunk in _batches(keys):
            self.conn.execute(statement, [{"k": k, "n": n} for k, n in chunk])

    def set_revision(self, revision: int, digest: str) -> None:
        """Record a new estate revision.

        Args:
            revision: The new revision number.
            digest: The estate digest at that revision.
        """
        self.conn.execute(
            sa.update(estate_meta)
            .where(estate_meta.c.id == 1)
            .values(revision=revision, digest=digest)
        )
