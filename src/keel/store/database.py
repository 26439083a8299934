"""Engines, transactions and migrations for SQLite and PostgreSQL.

Invariants:
    * Opening a :class:`Database` brings its schema to the latest migration, once per process
      and URL, under a lock (a file lock for SQLite, an advisory lock for PostgreSQL), so that
      processes starting together do not race.
    * :meth:`Database.write` runs one transaction that first locks the ``estate_meta`` row;
      writers are serialised, readers are not blocked.
    * Driver exceptions leave this module as :class:`~keel.errors.StoreError` or
      :class:`~keel.errors.ConfigError`.
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources as importlib_resources
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError, SQLAlchemyError

from keel.errors import ConfigError, StoreError
from keel.store.bulk import json_text
from keel.store.schema import estate_meta

SQLITE_BUSY_TIMEOUT_MS = 60_000
PG_MIGRATION_LOCK_KEY = 0x6B65656C  # "keel"

SCHEMA_REVISION = "0019"
"""The newest migration's revision: a database at it needs no Alembic run (a test keeps this in
step with ``migrations/versions``). Checking it with one query instead of loading Alembic saves
every command about 0.2 s of start-up."""

PING_IDLE_S = 5.0
"""A pooled PostgreSQL connection idle longer than this is checked before it is used."""

_migrated: set[str] = set()


def normalise_url(url: str) -> sa.URL:
    """Parse a database URL, selecting psycopg 3 for PostgreSQL.

    Args:
        url: ``sqlite:///path``, ``postgresql://...`` or any SQLAlchemy URL of those dialects.

    Returns:
        The parsed URL.

    Raises:
        ConfigError: If the URL is malformed or names an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(f"malformed database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed
    raise ConfigError(
        f"unsupported database {backend!r}: use sqlite:///PATH or postgresql://...",
        hint="set KEEL_DATABASE_URL or database_url in keel.yaml",
    )


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Check a connection that sat in the pool a while (a database restart drops them all).

    A busy server reuses connections within milliseconds: checking each one first (SQLAlchemy's
    ``pool_pre_ping``) costs a round trip per request and proves little. One idle for
    :data:`PING_IDLE_S` is checked, and replaced when the check fails.
    """
    if time.monotonic() - record.info.get("returned_at", 0.0) < PING_IDLE_S:
        return
    try:
        dbapi_connection.execute("SELECT 1")
        dbapi_connection.rollback()  # leave no transaction open behind the check
    except Exception as error:  # any failure: let the pool open a new connection
        raise DisconnectionError(str(error)) from error


def _returned(_dbapi_connection: Any, record: Any) -> None:
    record.info["returned_at"] = time.monotonic()


def _same(value: Any) -> Any:
    return value


# sqlite3 binds str, int, float and bytearray parameters as they are, but first looks up an
# adapter for any other type, bytes and None included: two failed attribute lookups, each
# raising an AttributeError inside, about 3,000 instructions a parameter. A registered adapter
# is found at once, which saves about half of that (callgrind: 3,300 per decision record, two
# bytes or None parameters of its rows). These change no value.
sqlite3.register_adapter(bytes, bytes)
sqlite3.register_adapter(type(None), _same)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


class Database:
    """One store: an engine plus transactions and migrations.

    Args:
        url: Database URL (see :func:`normalise_url`).
        migrate: Bring the schema to the latest migration on open.
    """

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = normalise_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite" and self.url.database not in (None, "", ":memory:"):
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine: Engine = sa.create_engine(
                self.url,
                # A server's thread pool runs many requests at once: keep their connections
                # open instead of reconnecting for each one above the default five.
                pool_size=32,
                max_overflow=32,
                json_serializer=json_text,
                json_deserializer=orjson.loads,
            )
        except (NoSuchModuleError, ArgumentError) as exc:
            raise ConfigError(f"cannot use database URL: {exc}") from exc
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            event.listen(self.engine, "checkout", _ping_if_idle)
            event.listen(self.engine, "checkin", _returned)
        if migrate:
            self.migrate()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextlib.contextmanager
    def _lock_for_migration(self, conn: Connection) -> Iterator[None]:
        if self.dialect == "postgresql":
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK_KEY}
            )
            yield
            return
        database = self.url.database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def migrate(self) -> None:
        """Upgrade the schema to the latest migration (idempotent, safe across processes).

        Raises:
            StoreError: If the database cannot be reached or a migration fails.
        """
        key = self.url.render_as_string(hide_password=False)
        if key in _migrated or self._at_head():
            _migrated.add(key)
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option(
            "script_location", str(importlib_resources.files("keel.store").joinpath("migrations"))
        )
        try:
            with self.engine.begin() as conn, self._lock_for_migration(conn):
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            cause = getattr(exc, "orig", None) or exc
            raise StoreError(
                f"cannot prepare the database at {self!r}: {type(cause).__name__}: {cause}",
                hint="check that the database is running and the URL is right",
            ) from exc
        _migrated.add(key)

    def _at_head(self) -> bool:
        """Whether the schema is already at :data:`SCHEMA_REVISION` (any failure: not known)."""
        try:
            with self.engine.connect() as conn:
                found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        except SQLAlchemyError:
            return False  # no table yet, or no database: the full path reports it
        return [row[0] for row in found] == [SCHEMA_REVISION]

    @contextlib.contextmanager
    def read(self, *, snapshot: bool = False) -> Iterator[Connection]:
        """A connection for reads.

        By default each statement sees the database as it is when it starts: on PostgreSQL it
        runs on its own (autocommit: at read committed a transaction would add two round trips
        and change nothing); on SQLite the driver begins no transaction before a ``SELECT``.
        ``snapshot`` makes every read see one moment, whatever commits meanwhile: a read-only
        repeatable-read transaction on PostgreSQL, an explicit ``BEGIN`` on SQLite (WAL keeps
        the snapshot of the first read). Use it where reads must agree with each other, as
        when verifying the ledger while others append.

        Args:
            snapshot: Read one consistent snapshot.

        Yields:
            The connection.

        Raises:
            StoreError: If the database fails.
        """
        try:
            with self.engine.connect() as conn:
                if self.dialect == "postgresql":
                    conn.execution_options(
                        isolation_level="REPEATABLE READ" if snapshot else "AUTOCOMMIT",
                        postgresql_readonly=snapshot,
                    )
                elif snapshot:
                    conn.exec_driver_sql("BEGIN")
                yield conn
                conn.rollback()
        except SQLAlchemyError as exc:
            raise StoreError(f"database read failed: {exc}") from exc

    @contextlib.contextmanager
    def unlocked(self, *, durable: bool = True) -> Iterator[Connection]:
        """A short write transaction without the estate lock; commits on success.

        Only for rows that one statement reads and changes at once (a rate-limit bucket), so
        that it need not queue behind the estate's writers.

        Args:
            durable: Whether the commit waits for the disk. ``False`` lets PostgreSQL
                acknowledge before its log is flushed: a crash may lose the last moments.

        Yields:
            The connection, inside the transaction.

        Raises:
            StoreError: If the database fails; nothing is committed then.
        """
        try:
            with self.engine.begin() as conn:
                if not durable and self.dialect == "postgresql":
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"database write failed, nothing was changed: {exc}") from exc

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction that holds the estate lock; commits on success.

        The first statement updates the single ``estate_meta`` row, taking SQLite's write lock
        or PostgreSQL's row lock, so concurrent writers queue instead of interleaving.

        Yields:
            The connection, inside the transaction.

        Raises:
            StoreError: If the database fails; nothing is committed then.
        """
        with self.unlocked() as conn:
            locked = conn.execute(
                sa.update(estate_meta)
                .where(estate_meta.c.id == 1)
                .values(updated_at=datetime.now(UTC))
            ).rowcount
            if locked != 1:
                raise StoreError("the estate_meta row is missing: the schema is damaged")
            yield conn
