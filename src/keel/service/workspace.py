"""A workspace: settings plus the store they point at."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keel.config import Settings, load_settings
from keel.estate import Limits
from keel.store import Database


def limits_for(settings: Settings) -> Limits:
    """Manifest input limits from settings.

    Args:
        settings: The effective settings.

    Returns:
        The limits.
    """
    return Limits(max_file_bytes=int(settings.max_manifest_mb * 1024 * 1024))


def local_settings(workspace: str | Path | None = None) -> Settings:
    """The effective settings, without opening the store.

    Args:
        workspace: Workspace folder to use instead of the configured one.

    Returns:
        The settings.
    """
    return load_settings(workspace=workspace)


def manifest_limits(workspace: str | Path | None = None) -> Limits:
    """Manifest input limits from the configuration, without opening the store.

    Args:
        workspace: Workspace folder to use instead of the configured one.

    Returns:
        The limits.
    """
    return limits_for(load_settings(workspace=workspace))


@dataclass
class Workspace:
    """Where Keel keeps its state for one estate.

    Attributes:
        settings: The effective settings.
        database: The store.
    """

    settings: Settings
    database: Database

    @classmethod
    def open(
        cls,
        workspace: str | Path | None = None,
        *,
        database_url: str | None = None,
    ) -> Workspace:
        """Open (and if needed create) a workspace and migrate its store.

        Args:
            workspace: Folder to use instead of the configured one.
            database_url: Database URL to use instead of the configured one.

        Returns:
            The open workspace.
        """
        settings = load_settings(workspace=workspace, database_url=database_url)
        return cls(settings, Database(settings.database_url))

    @property
    def limits(self) -> Limits:
        """Manifest input limits from the settings."""
        return limits_for(self.settings)

    def close(self) -> None:
        """Release the store's connections."""
        self.database.close()
