"""Bulk inserts handed straight to the driver.

SQLAlchemy's per-row parameter processing dominates large ``executemany`` inserts; the bulk
paths (first apply of an estate, ledger appends) pass ready-made tuples to the DB-API driver
in one ``executemany`` per batch instead. Values must already be in the driver's types:
JSON as text (see :func:`json_text`), timestamps through :func:`timestamp`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

BATCH_ROWS = 5_000


def json_text(value: Any) -> str:
    """Serialise a value for a JSON column (compact, UTF-8 unescaped).

    Args:
        value: JSON-compatible data.

    Returns:
        The JSON text.
    """
    return orjson.dumps(value).decode()


def timestamp(conn: Connection, column: sa.Column[Any], value: datetime) -> Any:
    """A datetime in the form the driver stores for a column (SQLite keeps text).

    Args:
        conn: The connection (its dialect decides the form).
        column: A ``DateTime`` column.
        value: The time.

    Returns:
        The driver-ready value.
    """
    process = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return process(value) if process else value


def placeholders(conn: Connection, count: int) -> str:
    """``count`` of the driver's parameter marks, comma-separated (for driver SQL).

    Args:
        conn: The connection (its driver decides the mark: ``?`` or ``%s``).
        count: How many.

    Returns:
        ``"?, ?, ?"`` or ``"%s, %s, %s"``.
    """
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * count)


def insert_rows(
    conn: Connection, table: sa.Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert rows with the driver's ``executemany``, in batches (PostgreSQL: ``COPY``).

    Args:
        conn: An open connection inside a transaction.
        table: The table.
        columns: Column names, in the order of each row's values.
        rows: Driver-ready value tuples.
    """
    if conn.dialect.name == "postgresql" and len(rows) > 1:
        # COPY: one stream instead of a statement per row (pipelined, but each still parsed,
        # planned and answered); same rows, same constraints, same transaction.
        import psycopg

        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        driver = conn.connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:  # as SQLAlchemy would raise it (IntegrityError...)
            raise sa.exc.DBAPIError.instance(statement, None, exc, psycopg.Error) from exc
        return
    marks = placeholders(conn, len(columns))
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})"
    for start in range(0, len(rows), BATCH_ROWS):
        conn.exec_driver_sql(statement, list(rows[start : start + BATCH_ROWS]))
