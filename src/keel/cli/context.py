"""State shared by every command: the global options and the lazily opened workspace."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from keel.client import Client
from keel.errors import UserError
from keel.estate import Limits
from keel.service import Workspace, manifest_limits


@dataclass
class CliState:
    """Global options, and the workspace once a command asks for it."""

    workspace_dir: str | None = None
    server: str | None = None
    token: str | None = field(default=None, repr=False)
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
