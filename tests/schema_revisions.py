"""Moving a test database between schema revisions with Alembic, as ``keel`` migrates it."""

from __future__ import annotations

from importlib import resources

import sqlalchemy as sa
from alembic import command
from alembic.config import Config


def alembic_config() -> Config:
    """Keel's migrations, for Alembic's commands."""
    config = Config()
    location = resources.files("keel.store").joinpath("migrations")
    config.set_main_option("script_location", str(location))
    return config


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision``."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Downgrade the schema to ``revision`` (an id, or ``-1`` for one step)."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
