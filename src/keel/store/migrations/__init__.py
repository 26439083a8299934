"""Alembic migrations of the Keel store."""
