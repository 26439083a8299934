"""State shared by every command: the global options and the lazily opened workspace."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import typer

from keel.client import Client
from keel.errors import UserError
from keel.estate import Limits
from keel.service import Workspace, access, manifest_limits
from keel.service.actor import Actor
from keel.service.workspace import local_settings


@dataclass
class CliState:
    """Global options, and the workspace once a command asks for it."""

    workspace_dir: str | None = None
    server: str | None = None
    token: str | None = field(default=None, repr=False)
    principal: str | None = None
    _workspace: Workspace | None = field(default=None, repr=False)
    _client: Client | None = field(default=None, repr=False)

    def remote(self) -> Client | None:
        """The API client when a server is given (``--server`` or ``KEEL_SERVER``), else ``None``.

        Returns:
            The client, or ``None`` to work on the local workspace.
        """
        if self.server is None:
            return None
        if self._client is None:
            self._client = Client(self.server, self.token)
        return self._client

    def workspace(self) -> Workspace:
        """Open the workspace on first use.

        Returns:
            The open workspace.

        Raises:
            UserError: If a server is given: a command that needs the local workspace must not
                quietly work on it when the user asked for a server.
        """
        if self.server is not None:
            raise UserError(
                "this command runs on a local workspace only; drop --server (or KEEL_SERVER)",
                hint="over --server: get, plan, ledger show, lineage impact, model list|approve",
            )
        if self._workspace is None:
            self._workspace = Workspace.open(self.workspace_dir)
        return self._workspace

    def actor(self, principal: str | None = None) -> Actor:
        """Who a local command that changes state acts as.

        Args:
            principal: The command's own ``--as``, which wins over the global one.

        Returns:
            The named principal (``--as``, else ``KEEL_PRINCIPAL`` or ``principal`` in
            keel.yaml), or the bootstrap user while the estate declares no principal.
        """
        workspace = self.workspace()
        name = principal or self.principal or workspace.settings.principal
        return access.local_actor(workspace, name)

    def data_root(self) -> Path | None:
        """The configured data root, without opening the store.

        Returns:
            The folder, or ``None``.
        """
        return local_settings(self.workspace_dir).data_root

    def limits(self) -> Limits:
        """Manifest input limits, without opening the store.

        Returns:
            The limits from the configuration.
        """
        return manifest_limits(self.workspace_dir)

    def close(self) -> None:
        """Close the workspace and the client if they were opened."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._workspace is not None:
            self._workspace.close()
            self._workspace = None


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
