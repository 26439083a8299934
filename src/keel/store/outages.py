"""Engines that dispatch could not reach, and the sites that count as down because of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from keel.store.schema import engine_outages


@dataclass(frozen=True, slots=True)
class Outage:
    """A Cluster whose engine could not be reached at dispatch's latest try.

    Attributes:
        cluster: The Cluster.
        unreachable_since: The first failed try of this outage.
        message: Why, as the engine's adapter said at the latest try.
        down_since: When its sites began to count as down, or ``None`` (not yet).
        sites: The sites that count as down.
    """

    cluster: str
    unreachable_since: datetime
    message: str
    down_since: datetime | None = None
    sites: tuple[str, ...] = ()


class OutageRepository:
    """Reads and writes engine outages on one connection.

    Args:
        conn: An open connection (in a write transaction for the writing methods).
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def all(self) -> dict[str, Outage]:
        """Every outage, by cluster."""
        rows = self.conn.execute(sa.select(engine_outages))
        return {
            str(r.cluster): Outage(
                r.cluster,
                r.unreachable_since,
                r.message,
                r.down_since,
                tuple(r.sites),
            )
            for r in rows
        }

    def save(self, outage: Outage) -> None:
        """Store an outage (replacing the cluster's)."""
        self.end(outage.cluster)
        self.conn.execute(
            sa.insert(engine_outages).values(
                cluster=outage.cluster,
                unreachable_since=outage.unreachable_since,
                message=outage.message,
                down_since=outage.down_since,
                sites=list(outage.sites),
            )
        )

    def end(self, cluster: str) -> None:
        """Forget a cluster's outage (its engine answered)."""
        self.conn.execute(sa.delete(engine_outages).where(engine_outages.c.cluster == cluster))

    def down_sites(self) -> dict[str, str]:
        """Sites that count as down: site -> the cluster whose engine cannot be reached."""
        return {site: o.cluster for o in self.all().values() if o.down_since for site in o.sites}
