"""Persistence: SQLAlchemy tables, repositories and Alembic migrations.

Knows the domain's plain data, nothing above it. SQLite and PostgreSQL are both first-class.
"""

from keel.store.database import Database
from keel.store.resources import ResourceRepository, StoredResource

__all__ = ["Database", "ResourceRepository", "StoredResource"]
