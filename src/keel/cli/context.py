"""State shared by every command: the global options and the lazily opened workspace."""

from __future__ import annotations

from dataclasses import dataclass, field

import typer

from keel.estate import Limits
from keel.service import Workspace, manifest_limits


@dataclass
class CliState:
    """Global options, and the workspace once a command asks for it."""

    workspace_dir: str | None = None
    _workspace: Workspace | None = field(default=None, repr=False)

    def workspace(self) -> Workspace:
        """Open the workspace on first use.

        Returns:
            The open workspace.
        """
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
        """Close the workspace if it was opened."""
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
