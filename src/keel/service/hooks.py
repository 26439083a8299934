"""What other capabilities do when an apply changes the estate: hooks, registered in one place.

The estate service plans, authorises and writes an apply. Capabilities that keep state derived
from the estate (the model registry, the lineage graph) take part through an :class:`ApplyHook`,
so the estate service imports none of them; :mod:`keel.service` registers them, in order, when
it is imported.

A hook's ``admit`` runs while the apply is planned (read only) and returns the problems that
refuse it; its ``written`` runs inside the apply's writing unit of work, after the resources
were written, and returns the ledger entries to record with the apply's own (one checkpoint
for the whole apply) and what to do once their indices are known. Work for after the commit
goes to :meth:`~keel.service.workspace.Unit.after_commit`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from keel.errors import Problem
from keel.estate import Estate, LocatedResource
from keel.service.actor import Actor
from keel.service.workspace import Unit

Key = tuple[str, str]
"""``(kind, name)`` of a resource."""


def _nothing(first_index: int) -> None:
    del first_index


@dataclass
class Recorded:
    """Ledger entries a hook adds to an apply's record.

    Attributes:
        entries: The entries, appended after the apply's own, in order.
        indexed: Called with the ledger index of ``entries[0]`` once they are appended.
    """

    entries: list[dict[str, Any]] = field(default_factory=list)
    indexed: Callable[[int], None] = _nothing


class ApplyHook(Protocol):
    """A capability's part in every apply (see the module's documentation)."""

    def admit(
        self,
        unit: Unit,
        estate: Estate,
        located: list[LocatedResource],
        touched: set[Key],
        *,
        actor: Actor,
        admin: bool,
    ) -> list[Problem]:
        """The problems that refuse the apply, located where they were declared."""
        ...

    def written(
        self, unit: Unit, estate: Estate, touched: set[Key], now: datetime, actor: Actor
    ) -> Recorded:
        """Bring the capability's state in line with the estate just written."""
        ...


_HOOKS: list[ApplyHook] = []


def register(hook: ApplyHook) -> None:
    """Give a capability its part in every apply, after the hooks registered before it.

    Args:
        hook: The hook.
    """
    if hook not in _HOOKS:
        _HOOKS.append(hook)


def registered() -> tuple[ApplyHook, ...]:
    """The hooks, in the order they run.

    Returns:
        Every registered hook.
    """
    return tuple(_HOOKS)
