"""The ledger's tables: entries, complete-subtree hashes, checkpoints and erasable payloads.

Invariants:
    * Appends run inside a write transaction and first lock the ``ledger_meta`` row, so indices
      are gap-free and strictly increasing whatever the number of writers.
    * ``ledger_nodes`` holds the hash of every complete subtree (level 0: the leaf hashes);
      an append reads only the O(log n) nodes on the tree's right edge and a proof reads only
      the O(log n) nodes it is made of.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.errors import StoreError
from keel.ledger import leaf_hash, new_nodes, range_hash, right_edge
from keel.ledger.merkle import NodeKey, subtrees
from keel.store.bulk import insert_rows, placeholders, timestamp
from keel.store.schema import (
    ledger_checkpoints,
    ledger_entries,
    ledger_meta,
    ledger_nodes,
    ledger_payloads,
)

KEY_BATCH = 500
SCAN_BATCH = 10_000


class LedgerRepository:
    """Reads and writes the ledger on one connection.

    Args:
        conn: An open connection (inside a write transaction for appends).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.node_reads = 0

    def size(self) -> int:
        """The number of entries.

        Returns:
            The tree size.
        """
        return int(self.conn.execute(sa.select(ledger_meta.c.size)).scalar_one())

    def _lock_size(self) -> int:
        locked = self.conn.execute(
            sa.update(ledger_meta).where(ledger_meta.c.id == 1).values(size=ledger_meta.c.size)
        ).rowcount
        if locked != 1:
            raise StoreError("the ledger_meta row is missing: the schema is damaged")
        return self.size()

    def nodes(self, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
        """Stored subtree hashes.

        Args:
            keys: ``(level, index)`` pairs.

        Returns:
            Hashes by key; missing keys are absent.
        """
        by_level: dict[int, list[int]] = {}
        for level, index in set(keys):
            by_level.setdefault(level, []).append(index)
        # "level = ? AND idx IN (...)" terms joined by OR: a primary-key lookup per level on
        # both databases (a row-value IN is not one on SQLite). Written for the driver: through
        # SQLAlchemy, building and caching such a statement cost about 1 ms an append, as much
        # as appending 50 entries (the set of levels changes with the tree's size).
        terms: list[tuple[str, list[int]]] = []
        for level, indices in sorted(by_level.items()):
            for start in range(0, len(indices), KEY_BATCH):
                chunk = indices[start : start + KEY_BATCH]
                term = f"(level = {placeholders(self.conn, 1)} AND idx IN"
                term += f" ({placeholders(self.conn, len(chunk))}))"
                terms.append((term, [level, *chunk]))
        found: dict[NodeKey, bytes] = {}
        while terms:
            batch: list[str] = []
            params: list[int] = []
            while terms and len(params) + len(terms[-1][1]) <= 2 * KEY_BATCH + 2:
                term, values = terms.pop()
                batch.append(term)
                params += values
            rows = self.conn.exec_driver_sql(
                f"SELECT level, idx, hash FROM {ledger_nodes.name} WHERE {' OR '.join(batch)}",
                tuple(params),
            )
            for level, index, digest in rows:
                found[(level, index)] = bytes(digest)
        self.node_reads += len(found)
        return found

    def root(self, size: int) -> bytes:
        """The root hash of the tree at a size, from stored nodes.

        Args:
            size: A tree size not larger than the log.

        Returns:
            The RFC 9162 root hash.
        """
        return range_hash(0, size, self.nodes(subtrees(0, size)))

    def append(self, entries: Sequence[bytes], now: datetime) -> tuple[int, int, bytes]:
        """Append entries, with their leaf and parent hashes, under the ledger lock.

        Args:
            entries: Canonical entry bytes, in order.
            now: Append time.

        Returns:
            The index of the first new entry, the new tree size and the new root hash.
        """
        size = self._lock_size()
        edge = self.nodes(right_edge(size))
        if not entries:
            return size, size, range_hash(0, size, edge)
        created = new_nodes(size, edge, [leaf_hash(entry) for entry in entries])
        stamp = timestamp(self.conn, ledger_entries.c.created_at, now)
        insert_rows(
            self.conn,
            ledger_entries,
            ("idx", "entry", "created_at"),
            [(size + i, entry.decode(), stamp) for i, entry in enumerate(entries)],
        )
        insert_rows(self.conn, ledger_nodes, ("level", "idx", "hash"), created)
        new_size = size + len(entries)
        self.conn.execute(sa.update(ledger_meta).where(ledger_meta.c.id == 1).values(size=new_size))
        known = {**edge, **{(level, index): digest for level, index, digest in created}}
        return size, new_size, range_hash(0, new_size, known)

    def entries(self, start: int, end: int) -> list[tuple[int, bytes, datetime]]:
        """Entries with indices in ``[start, end)``.

        Args:
            start: First index.
            end: One past the last index.

        Returns:
            ``(index, entry bytes, created_at)`` in index order.
        """
        rows = self.conn.execute(
            sa.select(ledger_entries.c.idx, ledger_entries.c.entry, ledger_entries.c.created_at)
            .where(ledger_entries.c.idx >= start, ledger_entries.c.idx < end)
            .order_by(ledger_entries.c.idx)
        )
        return [(int(i), e.encode(), t) for i, e, t in rows]

    def entries_at(self, indices: Iterable[int]) -> dict[int, bytes]:
        """Entries by index.

        Args:
            indices: Entry indices.

        Returns:
            Entry bytes by index; missing indices are absent.
        """
        wanted = sorted(set(indices))
        found: dict[int, bytes] = {}
        for start in range(0, len(wanted), KEY_BATCH):
            rows = self.conn.execute(
                sa.select(ledger_entries.c.idx, ledger_entries.c.entry).where(
                    ledger_entries.c.idx.in_(wanted[start : start + KEY_BATCH])
                )
            )
            found.update({int(i): e.encode() for i, e in rows})
        return found

    def scan_entries(self) -> Iterator[tuple[int, bytes]]:
        """Every entry in index order, read in batches.

        Yields:
            ``(index, entry bytes)``.
        """
        after = -1
        while True:
            rows = self.conn.execute(
                sa.select(ledger_entries.c.idx, ledger_entries.c.entry)
                .where(ledger_entries.c.idx > after)
                .order_by(ledger_entries.c.idx)
                .limit(SCAN_BATCH)
            ).all()
            if not rows:
                return
            for index, entry in rows:
                yield int(index), entry.encode()
            after = int(rows[-1][0])

    def scan_level(self, level: int) -> Iterator[tuple[int, bytes]]:
        """Every stored node of one level in index order, read in batches.

        Args:
            level: Tree level (0 for leaves).

        Yields:
            ``(index, hash)``.
        """
        after = -1
        while True:
            rows = self.conn.execute(
                sa.select(ledger_nodes.c.idx, ledger_nodes.c.hash)
                .where(ledger_nodes.c.level == level, ledger_nodes.c.idx > after)
                .order_by(ledger_nodes.c.idx)
                .limit(SCAN_BATCH)
            ).all()
            if not rows:
                return
            for index, digest in rows:
                yield int(index), bytes(digest)
            after = int(rows[-1][0])

    def add_checkpoint(self, size: int, root: bytes, note: str, now: datetime) -> None:
        """Store a signed checkpoint (replacing one of the same size).

        Args:
            size: Tree size.
            root: Root hash at that size.
            note: The signed note.
            now: Signing time.
        """
        self.conn.execute(
            sa.delete(ledger_checkpoints).where(ledger_checkpoints.c.tree_size == size)
        )
        self.conn.execute(
            sa.insert(ledger_checkpoints).values(
                tree_size=size, root=root, note=note, created_at=now
            )
        )

    def checkpoints(self) -> list[tuple[int, bytes, str]]:
        """Every stored checkpoint.

        Returns:
            ``(size, root, note)`` by increasing size.
        """
        rows = self.conn.execute(
            sa.select(
                ledger_checkpoints.c.tree_size, ledger_checkpoints.c.root, ledger_checkpoints.c.note
            ).order_by(ledger_checkpoints.c.tree_size)
        )
        return [(int(size), bytes(root), note) for size, root, note in rows]

    def latest_checkpoint(self) -> tuple[int, bytes, str] | None:
        """The checkpoint with the largest tree size.

        Returns:
            ``(size, root, note)``, or ``None`` when none was signed yet.
        """
        row = self.conn.execute(
            sa.select(
                ledger_checkpoints.c.tree_size, ledger_checkpoints.c.root, ledger_checkpoints.c.note
            )
            .order_by(ledger_checkpoints.c.tree_size.desc())
            .limit(1)
        ).first()
        return None if row is None else (int(row[0]), bytes(row[1]), row[2])

    def put_payloads(self, payloads: Sequence[tuple[str, bytes, bytes]]) -> None:
        """Store the openings of commitments.

        Args:
            payloads: ``(commitment, salt, canonical value)``.
        """
        if payloads:
            insert_rows(
                self.conn,
                ledger_payloads,
                ("commitment", "salt", "value"),
                [(c, salt, value.decode()) for c, salt, value in payloads],
            )

    def payloads(
        self, commitments: Iterable[str]
    ) -> dict[str, tuple[bytes | None, str | None, str | None]]:
        """Openings of commitments.

        Args:
            commitments: ``sha256:<hex>`` commitments.

        Returns:
            ``(salt, value, erasure_reason)`` by commitment; salt and value are ``None`` once
            erased.
        """
        wanted = sorted(set(commitments))
        found: dict[str, tuple[bytes | None, str | None, str | None]] = {}
        for start in range(0, len(wanted), KEY_BATCH):
            rows = self.conn.execute(
                sa.select(
                    ledger_payloads.c.commitment,
                    ledger_payloads.c.salt,
                    ledger_payloads.c.value,
                    ledger_payloads.c.erasure_reason,
                ).where(ledger_payloads.c.commitment.in_(wanted[start : start + KEY_BATCH]))
            )
            for commitment, salt, value, reason in rows:
                found[commitment] = (None if salt is None else bytes(salt), value, reason)
        return found

    def erase(self, commitment: str, reason: str, now: datetime) -> bool:
        """Erase the opening of a commitment; the commitment itself stays in its entry.

        Args:
            commitment: The commitment.
            reason: Why (kept with the erasure).
            now: Erasure time.

        Returns:
            Whether an opening was erased (``False`` if unknown or already erased).
        """
        result = self.conn.execute(
            sa.update(ledger_payloads)
            .where(ledger_payloads.c.commitment == commitment, ledger_payloads.c.salt.is_not(None))
            .values(salt=None, value=None, erased_at=now, erasure_reason=reason)
        )
        return bool(result.rowcount)
