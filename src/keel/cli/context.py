"""State shared by every command: the global options, and the operations they run against.

A command that reads or changes state asks for :meth:`CliState.ops`: the local workspace's
operations (acting as ``--as``), or :class:`keel.Client` when ``--server`` is given. A command
that only works on local files says so with :meth:`CliState.local`, which refuses ``--server``
with the reason :data:`keel.operations.LOCAL_ONLY` gives.

Start-up: the CLI's modules import only Typer, the errors and the wire's light parts at module
level. The services, the client and their libraries (SQLAlchemy, pyarrow, numpy, httpx) load
inside the command that needs them, so ``keel --help`` and a usage error stay fast
(``bench/startup.py`` measures it against ``python -c pass``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from keel.errors import UserError
from keel.operations import LOCAL_ONLY

if TYPE_CHECKING:  # the services, the client and their libraries load when a command runs
    from keel.client import Client
    from keel.config import Settings
    from keel.estate import Limits
    from keel.operations import Operations
    from keel.service import Workspace
    from keel.service.actor import Actor


@dataclass
class CliState:
    """Global options, and the workspace or client once a command asks for them."""

    workspace_dir: str | None = None
    server: str | None = None
    token: str | None = field(default=None, repr=False)
    principal: str | None = None
    _workspace: Workspace | None = field(default=None, repr=False)
    _client: Client | None = field(default=None, repr=False)

    def ops(self, principal: str | None = None, *, create: bool = False) -> Operations:
        """The operations a command runs: on ``--server`` if given, else on the workspace.

        Args:
            principal: The command's own ``--as`` (local only), which wins over the global one.
            create: Whether the command may create the local workspace (``keel apply``).

        Returns:
            The client, or the local workspace's operations acting as the named principal.

        Raises:
            UserError: If ``--as`` is given with ``--server`` (the API key decides who acts).
        """
        if self.server is not None:
            if principal:
                raise UserError(
                    "--as names a local principal; with --server the API key decides who acts"
                )
            if self._client is None:
                from keel.client import Client

                self._client = Client(self.server, self.token)
            return self._client
        from keel.service.operations import LocalOperations

        workspace = self.workspace(create=create)
        name = principal or self.principal or workspace.settings.principal
        return LocalOperations(workspace, principal=name)

    def local(self, command: str) -> None:
        """Refuse ``--server`` for a command that only works on local files.

        Args:
            command: The command's name, a key of :data:`keel.operations.LOCAL_ONLY`.

        Raises:
            UserError: If a server is given.
        """
        if self.server is not None:
            raise UserError(
                f"keel {command} {LOCAL_ONLY[command]}: drop --server (or KEEL_SERVER)",
                hint="every command that reads or changes stored state works with --server",
            )

    def actor(self, principal: str | None = None) -> Actor:
        """Who a local command that changes state acts as (the demo's and scripts' way).

        Args:
            principal: The command's own ``--as``, which wins over the global one.

        Returns:
            The named principal (``--as``, else ``KEEL_PRINCIPAL`` or ``principal`` in
            keel.yaml), or the bootstrap user while the estate declares no principal.
        """
        from keel.service import access

        workspace = self.workspace()
        name = principal or self.principal or workspace.settings.principal
        return access.local_actor(workspace, name)

    def workspace(self, *, create: bool = False) -> Workspace:
        """Open the workspace on first use.

        Args:
            create: Whether the command may create it (in an existing folder, or a new folder
                whose parent exists).

        Returns:
            The open workspace.

        Raises:
            UserError: If there is no workspace there and the command may not create one, or
                its folder's parent does not exist either.
        """
        if self._workspace is None:
            from keel.service import Workspace
            from keel.service.workspace import local_settings

            _require_workspace(local_settings(self.workspace_dir), create=create)
            self._workspace = Workspace.open(self.workspace_dir)
        return self._workspace

    def data_root(self) -> Path | None:
        """The configured data root, without opening the store."""
        from keel.service.workspace import local_settings

        return local_settings(self.workspace_dir).data_root

    def grid_data(self) -> Path | None:
        """The configured grid data folder (``grid_data``), without opening the store."""
        from keel.service.workspace import local_settings

        return local_settings(self.workspace_dir).grid_data

    def limits(self) -> Limits:
        """Manifest input limits, without opening the store."""
        from keel.service import manifest_limits

        return manifest_limits(self.workspace_dir)

    def close(self) -> None:
        """Close the workspace and the client if they were opened."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._workspace is not None:
            self._workspace.close()
            self._workspace = None


def _require_workspace(settings: Settings, *, create: bool) -> None:
    """Refuse to create a workspace by accident (a typo in --workspace, the wrong folder)."""
    default_db = f"sqlite:///{(settings.state_dir / 'keel.db').resolve()}"
    if settings.database_url != default_db or (settings.state_dir / "keel.db").exists():
        return  # a database elsewhere (PostgreSQL, KEEL_DATABASE_URL), or a workspace here
    folder = settings.workspace
    if not create:
        raise UserError(
            f"{folder} is not a Keel workspace (no .keel/keel.db)",
            hint="keel apply -f DIR makes this folder one (keel init DIR writes the demo's"
            " manifests); or name the workspace with --workspace or KEEL_HOME",
        )
    if not folder.exists() and not folder.parent.is_dir():
        raise UserError(
            f"workspace {folder}: neither it nor its parent folder exists",
            hint="check the path; Keel creates at most the workspace folder itself",
        )


def state(ctx: typer.Context) -> CliState:
    """The shared state of the running command.

    Args:
        ctx: The Typer context.

    Returns:
        The state object the root callback created.
    """
    found = ctx.find_root().obj
    assert isinstance(found, CliState)
    return found
