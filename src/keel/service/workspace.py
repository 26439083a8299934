"""A workspace: settings plus the store they point at, and units of work on that store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from sqlalchemy.engine import Connection

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


class Repository(Protocol):
    """What a store repository is made from: the unit's transaction."""

    def __init__(self, conn: Connection) -> None: ...


R = TypeVar("R", bound=Repository)


@dataclass
class Unit:
    """One transaction on a workspace's store: its repositories, who acts, what runs after it.

    Service functions that read or change stored state take a unit instead of a database
    connection; :func:`keel.service.ledger.record` appends entries in the unit's transaction and
    credits them to its principal. Work that must only happen once the transaction committed
    (emitting lineage events to another system, say) is queued with :meth:`after_commit`.

    Attributes:
        workspace: The workspace.
        principal: Who acts, credited in the ledger entries recorded in this unit (``None`` for
            reads and for entries that name no actor).
        writes: Whether the unit holds the estate's write lock and commits at its end.
    """

    workspace: Workspace
    principal: str | None
    writes: bool
    _conn: Connection
    _after: list[Callable[[], None]] = field(default_factory=list)

    def repository(self, kind: type[R]) -> R:
        """A repository of the store, working in this unit's transaction.

        Args:
            kind: The repository class (from :mod:`keel.store`).

        Returns:
            The repository.
        """
        return kind(self._conn)

    def after_commit(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once the unit committed (never when it rolled back).

        Args:
            hook: What to run.
        """
        self._after.append(hook)


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

    @contextmanager
    def unit(
        self, principal: str | None = None, *, write: bool = False, snapshot: bool = False
    ) -> Iterator[Unit]:
        """A unit of work: one transaction, committed (``write``) or rolled back at its end.

        A writing unit holds the estate's write lock, so writers queue instead of interleaving.
        Its after-commit hooks run, in order, once it committed.

        Args:
            principal: Who acts (credited in the ledger entries recorded in the unit).
            write: Take the write lock and commit at the end; otherwise read only.
            snapshot: For a reading unit, every read sees one moment (see
                :meth:`Database.read`); a writing unit holds the lock anyway.

        Yields:
            The unit.
        """
        connection = self.database.write() if write else self.database.read(snapshot=snapshot)
        with connection as conn:
            unit = Unit(self, principal, write, conn)
            yield unit
        for hook in unit._after:
            hook()

    def close(self) -> None:
        """Release the store's connections."""
        self.database.close()
