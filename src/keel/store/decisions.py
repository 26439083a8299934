"""The decision records' table: one row per model decision, beside its ledger leaf.

Invariants:
    * A row is written in the transaction that appends its leaf, so every row has a leaf and
      every ``decision`` leaf has a row.
    * A row holds the opening of its leaf's content commitment (``salt``, ``opening``).
      Pruning and erasure blank it with ``subject_key`` and ``outcome`` and say why
      (``gone_reason``); they never delete the row (its leaf's index and commitment stay
      findable by id).
    * A row with a ``subject_key`` has exactly one subject index entry (the key's first
      :data:`~keel.store.schema.SUBJECT_PREFIX_CHARS` characters and the row's ledger index):
      on SQLite in ``decision_subjects_staged`` while it is among the newest records, then in
      ``decision_subjects``; on PostgreSQL in ``decision_subjects`` at once. A blanked row has
      none. Subject keys are random, so on SQLite an index kept on the rows took a page write
      per record once it outgrew the page cache; the staging table stays small (its pages are
      shared by a batch's writes) and its entries are merged in key order, many at a time.
    * Ids are unique. On SQLite every row has one id index entry (its id and ledger index),
      staged and merged as subject entries are, since clients' ids may be as random as subject
      keys (UUIDs); the intake checks that an id is new (:meth:`existing`) in the write
      transaction that inserts it, which holds the estate lock, and each of the two tables
      refuses an id twice. PostgreSQL keeps a unique index on ``id``.
    * Times are stored in UTC; SQLite keeps them as naive text and they are read back as UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.errors import StoreError
from keel.store.bulk import insert_rows, placeholders, timestamp
from keel.store.schema import (
    SUBJECT_PREFIX_CHARS,
    decision_ids,
    decision_ids_staged,
    decision_meta,
    decision_subjects,
    decision_subjects_staged,
    decisions,
)

KEY_BATCH = 500
STAGED_ENTRIES = 16_384
"""Staged index entries (subject or id) that make an insert merge them into their index."""


_ID_TABLES = (decision_ids, decision_ids_staged)
"""SQLite's id index and its staging table: a lookup by id searches both."""


def _with_ids(conn: Connection, ids: Sequence[str]) -> sa.ColumnElement[bool]:
    """Rows with any of some ids: on SQLite found through the id index.

    PostgreSQL gets the ids as literals (they are checked against a strict pattern, and
    SQLAlchemy quotes them): it then hashes the list. With bound parameters it compares every
    row with every id whenever it scans, as it does while its statistics still call a fresh
    table empty: 190 us a record at 10,000 records a batch.
    """
    if conn.dialect.name != "sqlite":
        return decisions.c.id.in_(
            sa.bindparam("ids", list(ids), expanding=True, literal_execute=True)
        )
    indices = sa.union_all(
        *(sa.select(table.c.ledger_index).where(table.c.id.in_(ids)) for table in _ID_TABLES)
    )
    return decisions.c.ledger_index.in_(indices)


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """A decision record's row (its content stays behind its commitment)."""

    id: str
    ledger_index: int
    model: str
    workload: str | None
    decided_at: datetime
    received_at: datetime
    expires_at: datetime
    input_digest: str
    content: str
    outcome: str | None
    salt: bytes | None
    opening: str | None
    gone_at: datetime | None
    gone_reason: str | None


_COLUMNS = (
    decisions.c.id,
    decisions.c.ledger_index,
    decisions.c.model,
    decisions.c.workload,
    decisions.c.decided_at,
    decisions.c.received_at,
    decisions.c.expires_at,
    decisions.c.input_digest,
    decisions.c.content,
    decisions.c.outcome,
    decisions.c.salt,
    decisions.c.opening,
    decisions.c.gone_at,
    decisions.c.gone_reason,
)


def _stored(row: Sequence[Any]) -> StoredDecision:
    (ident, index, model, workload, decided, received, expires, digest, content, outcome,
     salt, opening, gone, reason) = row  # fmt: skip
    return StoredDecision(
        ident,
        int(index),
        model,
        workload,
        decided,
        received,
        expires,
        digest,
        content,
        outcome,
        None if salt is None else bytes(salt),
        opening,
        gone,
        reason,
    )


_INSERTED = (
    "id", "ledger_index", "model", "workload", "decided_at", "received_at", "expires_at",
    "input_digest", "content", "subject_key", "outcome", "salt", "opening",
)  # fmt: skip


class NewDecision(NamedTuple):
    """A row to insert (see :class:`StoredDecision`; a named tuple: batches make thousands).

    ``decided_text`` is ``decided_at`` as ``keel.decisions.instant`` writes it
    (``YYYY-MM-DDTHH:MM:SS.ffffffZ``); the content is kept until ``decided_at + kept_for``.
    """

    id: str
    ledger_index: int
    model: str
    workload: str | None
    decided_at: datetime
    decided_text: str
    kept_for: timedelta
    input_digest: str
    content: str
    subject_key: str | None
    outcome: str | None
    salt: bytes
    opening: str


def _sqlite_rows(
    conn: Connection, rows: Sequence[NewDecision], now: datetime
) -> list[tuple[Any, ...]]:
    """Driver-ready rows for SQLite, whose times are text (``YYYY-MM-DD HH:MM:SS.ffffff``).

    A record's decision time is cut from the instant it carries rather than formatted again
    (formatting is about 15,000 instructions, a twentieth of a record's intake). A period of
    whole seconds changes only a time's seconds part, so an expiry is formatted once per
    decision second and period.
    """

    def formatted(moment: datetime) -> str:
        return str(timestamp(conn, decisions.c.expires_at, moment.astimezone(UTC)))

    received = formatted(now)
    ends: dict[tuple[str, timedelta], str] = {}
    values = []
    for r in rows:
        text = r.decided_text
        decided = text[:10] + " " + text[11:26]
        if r.kept_for.microseconds:
            expires = formatted(r.decided_at + r.kept_for)
        else:
            key = (decided[:19], r.kept_for)
            head = ends.get(key)
            if head is None:
                head = ends[key] = formatted(r.decided_at + r.kept_for)[:19]
            expires = head + decided[19:]
        values.append(
            (r.id, r.ledger_index, r.model, r.workload, decided, received, expires,
             r.input_digest, r.content, r.subject_key, r.outcome, r.salt, r.opening)
        )  # fmt: skip
    return values


def subject_query(key: str, limit: int) -> sa.Select[Any]:
    """A subject's newest records, found through the subject index.

    The ledger indices under the key's prefix in the subject index and its staging table, then
    the rows at those indices that have the whole key.
    """
    prefix = key[:SUBJECT_PREFIX_CHARS]
    indices = sa.union_all(
        sa.select(decision_subjects.c.ledger_index).where(decision_subjects.c.prefix == prefix),
        sa.select(decision_subjects_staged.c.ledger_index).where(
            decision_subjects_staged.c.prefix == prefix
        ),
    )
    return (
        sa.select(*_COLUMNS)
        .where(decisions.c.ledger_index.in_(indices), decisions.c.subject_key == key)
        .order_by(decisions.c.decided_at.desc(), decisions.c.id)
        .limit(limit)
    )


class DecisionRepository:
    """Reads and writes decision records on one connection.

    Args:
        conn: An open connection (inside a write transaction for changes).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def index_key(self) -> bytes:
        """The secret key of the subjects' keyed hashes.

        Returns:
            32 bytes.

        Raises:
            StoreError: If the key row is missing (a damaged schema).
        """
        key = self.conn.execute(
            sa.select(decision_meta.c.index_key).where(decision_meta.c.id == 1)
        ).scalar()
        if key is None:
            raise StoreError("the decision_meta row is missing: the schema is damaged")
        return bytes(key)

    def insert(self, rows: Sequence[NewDecision], now: datetime) -> None:
        """Insert rows, and their subject index entries and (SQLite) id index entries.

        SQLite stages the entries; once :data:`STAGED_ENTRIES` of a kind are staged, they are
        merged into their index.

        Args:
            rows: The new records' rows, at consecutive ledger indices (a batch's leaves), with
                ids that no stored record has (see :meth:`existing`).
            now: When they were received.

        Raises:
            StoreError: If the rows' ledger indices are not consecutive; nothing is written.
        """
        if not rows:
            return
        first, last = rows[0].ledger_index, rows[-1].ledger_index
        if any(r.ledger_index != first + i for i, r in enumerate(rows)):
            raise StoreError(
                f"decision rows must hold consecutive ledger indices, in order (a batch's"
                f" leaves): {len(rows)} rows from {first} to {last}"
            )
        conn = self.conn
        if conn.dialect.name == "sqlite":
            values = _sqlite_rows(conn, rows, now)
        else:
            values = [
                (r.id, r.ledger_index, r.model, r.workload, r.decided_at, now,
                 r.decided_at + r.kept_for, r.input_digest, r.content, r.subject_key, r.outcome,
                 r.salt, r.opening)
                for r in rows
            ]  # fmt: skip
        insert_rows(conn, decisions, _INSERTED, values)
        sqlite = conn.dialect.name == "sqlite"
        written = decisions.c.ledger_index.between(first, last)
        if sqlite:  # the entries come from the rows just written, as subject entries do below
            conn.execute(
                sa.insert(decision_ids_staged).from_select(
                    ["id", "ledger_index"],
                    sa.select(decisions.c.id, decisions.c.ledger_index).where(written),
                )
            )
        if any(r.subject_key is not None for r in rows):
            # The entries come from the rows just written, by the database: one statement, and
            # on PostgreSQL no second stream of rows from this process. PostgreSQL keeps a
            # random-key index well enough in its shared buffers: staging only added server
            # work there (slower in all seven pairs of runs: 10,598-12,800 against
            # 12,156-19,284 records/s).
            prefix = sa.func.substr(decisions.c.subject_key, 1, SUBJECT_PREFIX_CHARS)
            conn.execute(
                sa.insert(decision_subjects_staged if sqlite else decision_subjects).from_select(
                    ["prefix", "ledger_index"],
                    sa.select(prefix, decisions.c.ledger_index).where(
                        written, decisions.c.subject_key.is_not(None)
                    ),
                )
            )
        if sqlite:
            self._merge(decision_ids_staged, decision_ids)
            self._merge(decision_subjects_staged, decision_subjects)

    def _merge(self, staged: sa.Table, index: sa.Table) -> None:
        """Move staged index entries into their index in key order, once there are enough."""
        # Counting a small WITHOUT ROWID table walks its few leaf pages, which are cached.
        count = self.conn.execute(sa.select(sa.func.count()).select_from(staged)).scalar_one()
        if count < STAGED_ENTRIES:
            return
        keys = staged.primary_key.columns
        self.conn.execute(
            sa.insert(index).from_select(
                [c.name for c in staged.columns], sa.select(staged).order_by(*keys)
            )
        )
        self.conn.execute(sa.delete(staged))

    def get(self, ids: Iterable[str]) -> dict[str, StoredDecision]:
        """Records by id.

        Args:
            ids: Record ids.

        Returns:
            The stored ones, by id.
        """
        wanted = sorted(set(ids))
        found: dict[str, StoredDecision] = {}
        for start in range(0, len(wanted), KEY_BATCH):
            chunk = wanted[start : start + KEY_BATCH]
            rows = self.conn.execute(sa.select(*_COLUMNS).where(_with_ids(self.conn, chunk)))
            found.update({row[0]: _stored(row) for row in rows})
        return found

    def existing(self, ids: Iterable[str]) -> set[str]:
        """Which of some record ids are stored (an intake's check for new ids and retries).

        Args:
            ids: Record ids.

        Returns:
            The stored ones.
        """
        wanted = sorted(set(ids))
        found: set[str] = set()
        for start in range(0, len(wanted), KEY_BATCH):
            chunk = wanted[start : start + KEY_BATCH]
            # SQLite gets driver SQL: SQLAlchemy's expansion of a batch's ids cost about 1 us a
            # record there.
            if self.conn.dialect.name == "sqlite":
                marks = placeholders(self.conn, len(chunk))
                rows = self.conn.exec_driver_sql(
                    " UNION ALL ".join(
                        f"SELECT id FROM {table.name} WHERE id IN ({marks})" for table in _ID_TABLES
                    ),
                    tuple(chunk) * len(_ID_TABLES),
                )
            else:
                rows = self.conn.execute(
                    sa.select(decisions.c.id).where(_with_ids(self.conn, chunk))
                )
            found.update(ident for (ident,) in rows)
        return found

    def of_subject(self, key: str, limit: int) -> list[StoredDecision]:
        """A subject's records, newest first.

        Args:
            key: The subject's keyed hash.
            limit: Most records.

        Returns:
            The records.
        """
        rows = self.conn.execute(subject_query(key, limit))
        return [_stored(row) for row in rows]

    def summary(
        self, model: str | None, since: datetime, until: datetime
    ) -> list[tuple[str, str | None, int]]:
        """Counts of records by model version and outcome in a time range.

        Args:
            model: ``name@version``, ``name`` (every version) or ``None`` (every model).
            since: First decision time included.
            until: Decision times before this one are included.

        Returns:
            ``(model, outcome, count)`` rows; pruned records count under outcome ``None``.
        """
        query = (
            sa.select(decisions.c.model, decisions.c.outcome, sa.func.count())
            .where(decisions.c.decided_at >= since.astimezone(UTC))
            .where(decisions.c.decided_at < until.astimezone(UTC))
            .group_by(decisions.c.model, decisions.c.outcome)
        )
        if model is not None and "@" in model:
            query = query.where(decisions.c.model == model)
        elif model is not None:
            query = query.where(decisions.c.model.startswith(model + "@", autoescape=True))
        return [(m, o, int(n)) for m, o, n in self.conn.execute(query)]

    def expired(self, now: datetime, limit: int) -> list[str]:
        """Records whose retention ended and whose content is still held.

        Args:
            now: The time.
            limit: Most records.

        Returns:
            Their ids.
        """
        rows = self.conn.execute(
            sa.select(decisions.c.id)
            .where(decisions.c.expires_at <= now.astimezone(UTC), decisions.c.gone_at.is_(None))
            .order_by(decisions.c.expires_at, decisions.c.id)
            .limit(limit)
        )
        return [ident for (ident,) in rows]

    def blank(self, ids: Sequence[str], reason: str, now: datetime) -> None:
        """Forget the content, subject and outcome of records (pruned or erased); rows stay.

        Their entries in the subject index go, so that no trace of the subject's key is left.

        Args:
            ids: Record ids.
            reason: Why (``retention``, ``erasure: <the request's reason>``).
            now: When.
        """
        for start in range(0, len(ids), KEY_BATCH):
            chunk = ids[start : start + KEY_BATCH]
            keyed = self.conn.execute(
                sa.select(decisions.c.ledger_index, decisions.c.subject_key).where(
                    _with_ids(self.conn, chunk), decisions.c.subject_key.is_not(None)
                )
            ).all()
            entries = [{"p": key[:SUBJECT_PREFIX_CHARS], "i": index} for index, key in keyed]
            for table in (decision_subjects, decision_subjects_staged) if entries else ():
                self.conn.execute(  # their subject index entries go, wherever they are
                    sa.delete(table).where(
                        table.c.prefix == sa.bindparam("p"),
                        table.c.ledger_index == sa.bindparam("i"),
                    ),
                    entries,
                )
            self.conn.execute(
                sa.update(decisions)
                .where(_with_ids(self.conn, chunk))
                .values(
                    subject_key=None,
                    outcome=None,
                    salt=None,
                    opening=None,
                    gone_at=now,
                    gone_reason=reason,
                )
            )
