"""Rate limits shared by every API server on one database.

Several ``keel serve`` processes behind a load balancer must enforce one limit per principal,
not one each: the buckets live in the database (:mod:`keel.store.limits`), one statement per
request, committed without waiting for the disk (a bucket lost in a crash only refills early).
"""

from __future__ import annotations

from keel.service.workspace import Workspace
from keel.store.limits import RateBuckets


def take(
    workspace: Workspace, key: str, rate_per_s: float, burst: int, want: int = 1
) -> tuple[int, float]:
    """Take up to ``want`` requests' worth of a shared bucket.

    Args:
        workspace: The workspace whose database holds the buckets.
        key: The bucket (``requests/`` and a principal, ``failures/addr:`` and an address).
        rate_per_s: Refill rate.
        burst: Bucket size.
        want: Most tokens to take (a server may hold a few to spend without asking again).

    Returns:
        The tokens granted and, when none, the seconds until one would be.
    """
    with workspace.database.unlocked(durable=False) as conn:
        return RateBuckets(conn).take(key, rate_per_s, burst, want)


def prune(workspace: Workspace, scope: str, idle_s: float) -> int:
    """Delete a scope's buckets idle for ``idle_s`` seconds.

    One row per principal or client address would otherwise stay forever. With ``idle_s`` at
    least the refill time, the deleted buckets were full, as a missing one is.

    Args:
        workspace: The workspace whose database holds the buckets.
        scope: ``requests`` or ``failures``.
        idle_s: Seconds since a bucket's last take.

    Returns:
        How many were deleted.
    """
    with workspace.database.unlocked(durable=False) as conn:
        return RateBuckets(conn).prune(scope, idle_s)
