"""Rate limits kept in the database, so that every API server on it enforces the same ones.

One statement takes tokens from a bucket: it refills the bucket for the time since its last
take, by the database's clock (servers on several hosts agree on it), grants as many whole
tokens as asked and available, and says how many. Concurrent servers queue on the bucket's row.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.engine import Connection

MAX_KEY_CHARS = 300
"""The ``key`` column's width; a longer key is stored as a prefix and its digest."""

_CLOCK = {
    "postgresql": "EXTRACT(EPOCH FROM clock_timestamp())",
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
}
_SMALLER = {"postgresql": "LEAST", "sqlite": "MIN"}
_WHOLE = {"postgresql": "CAST(FLOOR({}) AS INTEGER)", "sqlite": "CAST({} AS INTEGER)"}


def _statement(dialect: str) -> sa.TextClause:
    clock, smaller, whole = _CLOCK[dialect], _SMALLER[dialect], _WHOLE[dialect]
    refilled = f"{smaller}(:burst, rate_buckets.level + ({clock} - rate_buckets.at_s) * :rate)"
    granted = f"{smaller}(:want, {whole.format(refilled)})"
    return sa.text(
        "INSERT INTO rate_buckets (key, level, at_s, granted)"
        f" VALUES (:key, :burst - :first, {clock}, :first)"
        " ON CONFLICT (key) DO UPDATE SET"
        f" granted = {granted}, level = {refilled} - {granted}, at_s = {clock}"
        " RETURNING granted, level"
    )


class RateBuckets:
    """Token buckets on one connection.

    Args:
        conn: The connection (its transaction holds the bucket's row until it ends).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def take(self, key: str, rate_per_s: float, burst: int, want: int = 1) -> tuple[int, float]:
        """Take up to ``want`` tokens of a bucket.

        Args:
            key: The bucket (``requests/...`` or ``failures/addr:...``).
            rate_per_s: Refill rate.
            burst: Bucket size (a new bucket starts full).
            want: Most tokens to take.

        Returns:
            The tokens granted (0 to ``want``) and, when none, the seconds until one would be.
        """
        if (
            len(key) > MAX_KEY_CHARS
        ):  # a very long principal name: its digest, same bucket each time
            key = key[:100] + "#" + hashlib.sha256(key.encode()).hexdigest()
        granted, level = self.conn.execute(
            _statement(self.conn.dialect.name),
            {
                "key": key,
                "rate": rate_per_s,
                "burst": float(burst),
                "want": want,
                "first": min(want, burst),
            },
        ).one()
        return int(granted), 0.0 if granted else (1.0 - float(level)) / rate_per_s

    def prune(self, scope: str, idle_s: float) -> int:
        """Delete a scope's buckets untouched for ``idle_s`` seconds (by the database's clock).

        A bucket left alone for as long as it takes to refill is full, and so is a bucket that
        does not exist: with ``idle_s`` at least ``burst / rate`` a prune changes no answer.

        Args:
            scope: The keys' first part (``requests``, ``failures``).
            idle_s: Seconds since a bucket's last take.

        Returns:
            How many were deleted.
        """
        prefix = f"{scope}/"
        clock = _CLOCK[self.conn.dialect.name]
        deleted = self.conn.execute(
            sa.text(
                "DELETE FROM rate_buckets WHERE substr(key, 1, :length) = :prefix"
                f" AND at_s < {clock} - :idle"
            ),
            {"length": len(prefix), "prefix": prefix, "idle": idle_s},
        )
        return int(deleted.rowcount or 0)
