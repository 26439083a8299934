"""A throwaway PostgreSQL schema for one benchmark run."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


def postgres_url(explicit: str | None) -> str | None:
    """The PostgreSQL URL to benchmark: the argument, else KEEL_BENCH_ or KEEL_TEST_DATABASE_URL."""
    return (
        explicit
        or os.environ.get("KEEL_BENCH_DATABASE_URL")
        or os.environ.get("KEEL_TEST_DATABASE_URL")
    )


@contextmanager
def postgres_schema(url: str) -> Iterator[tuple[str, str]]:
    """Create a fresh schema, yield its name and a URL whose search_path points at it, drop it."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in url else "?"
        yield schema, f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
