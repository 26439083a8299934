"""Who acts: the principal every change is credited to and every access check is made for.

Every service operation that changes state takes an :class:`Actor`. Its principal is written to
the change's ledger entries in the same transaction (as the erasable commitment
``personal.actor``), and the access policy decides what it may change.

Where actors come from:

* the API: the authenticated API key or OIDC token (:meth:`Actor.of_token`);
* the local CLI: ``--as`` or ``KEEL_PRINCIPAL``, a ``Principal`` or ``Agent`` of the stored
  estate; while the estate names no principal at all, the operating-system user acts as a
  trusted *bootstrap* actor (there is nobody to check it against), and says so in the ledger;
* in-process callers (tests, benchmarks, the demo's set-up): :meth:`Actor.system`, trusted.

A trusted actor passes every access check. Only code that already holds the database and the
signing key can make one, so it grants nothing that code did not have.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import Any

from keel.service.tokens import Token


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts.

    Attributes:
        principal: ``user:NAME``, ``service_account:NAME``, ``agent:NAME``, or
            ``system:NAME`` for a trusted in-process actor.
        entity: The principal's Cedar entity when the estate does not declare it (an API key
            or an OIDC user, a member of its role); ``None`` otherwise.
        trusted: Whether access checks are skipped (system and bootstrap actors only).
    """

    principal: str
    entity: dict[str, Any] | None = None
    trusted: bool = False

    @classmethod
    def system(cls, name: str) -> Actor:
        """A trusted in-process actor (tests, benchmarks, the demo's set-up).

        Args:
            name: What acts, e.g. ``demo``.

        Returns:
            The actor ``system:NAME``.
        """
        return cls(f"system:{name}", None, True)

    @classmethod
    def bootstrap(cls) -> Actor:
        """The operating-system user, trusted while the estate names no principal.

        Returns:
            The actor ``system:bootstrap:USER``.
        """
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = f"uid{os.getuid()}"
        return cls(f"system:bootstrap:{user}", None, True)

    @classmethod
    def of_token(cls, token: Token) -> Actor:
        """The principal of an authenticated API key or OIDC token.

        Args:
            token: The token.

        Returns:
            The actor, with the token's Cedar entity (a member of its role).
        """
        return cls(token.principal, token.entity())
