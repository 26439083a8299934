"""A fresh PostgreSQL schema per test or module, on ``KEEL_TEST_DATABASE_URL``."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

PG_URL = os.environ.get("KEEL_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI") == "true"


@contextlib.contextmanager
def fresh_schema() -> Iterator[str]:
    """A database URL whose ``search_path`` is a new, empty schema, dropped afterwards.

    When ``CI=true`` a missing PostgreSQL fails the test instead of skipping it.

    Yields:
        The URL.
    """
    if not PG_URL:
        if IN_CI:
            pytest.fail("CI=true but KEEL_TEST_DATABASE_URL is not set: PostgreSQL is required")
        pytest.skip("KEEL_TEST_DATABASE_URL not set")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
