"""Pooled connections on PostgreSQL: reads without a transaction, idle connections checked."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from keel.errors import StoreError
from keel.store import Database
from keel.store import database as database_module


def _postgres(database: Database) -> None:
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL's pool and transactions")


def _kill_pooled_connections(database: Database) -> None:
    """End the server process of the one pooled connection, as a restart would."""
    assert database.engine.pool.checkedin() == 1  # type: ignore[attr-defined]  # the one killed
    with database.read() as conn:
        mine = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    url = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (mine,))


def test_a_read_holds_no_transaction_open(database: Database) -> None:
    _postgres(database)
    with database.read() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, psycopg.Connection)
        # Autocommit: the statement's transaction ended with it (no BEGIN, no ROLLBACK).
        assert raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_an_idle_connection_that_died_is_replaced_without_an_error(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _postgres(database)
    _kill_pooled_connections(database)
    monkeypatch.setattr(database_module, "PING_IDLE_S", 0.0)  # every connection counts as idle
    with database.read() as conn:
        assert conn.execute(sa.text("SELECT 41 + 1")).scalar_one() == 42


def test_a_connection_that_died_while_busy_fails_one_request_only(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    _postgres(database)
    _kill_pooled_connections(database)
    monkeypatch.setattr(database_module, "PING_IDLE_S", 3600.0)  # not idle: no check first
    with pytest.raises(StoreError), database.read() as conn:
        conn.execute(sa.text("SELECT 1"))
    with database.read() as conn:  # the pool dropped it: the next one works
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
