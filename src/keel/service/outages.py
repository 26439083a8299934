"""Sites reported down by their engine: tracked by dispatch, moved away from by a re-plan.

Each dispatch cycle asks every engine involved what it runs. An engine that cannot be asked
starts an *outage*; once the outage has lasted ``site_down_after_s`` (setting, default 300 s),
the sites its Cluster serves count as **down**: a ``site.down`` ledger entry names the cluster,
the sites, since when and the engine's last error, and Keel re-plans and commits at once (every
later plan, too, treats those sites as unavailable until they are up). When the engine answers
again, or its Cluster is deleted, the outage ends; if its sites were down, a ``site.up`` entry
records it and Keel re-plans again (moves cost churn, so work moves back only where that is
clearly better).

A short blip never moves work: below the threshold the runs are only marked ``unknown``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from keel.estate import Estate
from keel.estate.resources import ClusterSpec
from keel.service import engines, ledger
from keel.service.actor import Actor
from keel.service.workspace import Workspace
from keel.store.outages import Outage, OutageRepository


def observe(
    workspace: Workspace,
    estate: Estate,
    *,
    reachable: Iterable[str],
    unreachable: Mapping[str, str],
    actor: Actor,
    now: datetime,
) -> list[dict[str, Any]]:
    """Track what one dispatch cycle found of the engines; re-plan when sites go down or up.

    Args:
        workspace: The workspace.
        estate: The estate (which sites each Cluster serves).
        reachable: Clusters whose engine answered.
        unreachable: Cluster -> why its engine could not be asked.
        actor: Who dispatches (credited with the entries and the re-plan).
        now: The cycle's time.

    Returns:
        The ``site.down`` and ``site.up`` entries recorded (empty: nothing changed, no re-plan).
    """
    with workspace.unit() as unit:
        known = unit.repository(OutageRepository).all()
    clusters = set(estate.specs(ClusterSpec))  # an outage of a Cluster since deleted ends too
    ended = [o for name, o in known.items() if name in set(reachable) or name not in clusters]
    started = {name: why for name, why in unreachable.items() if name not in known}
    threshold_s = workspace.settings.site_down_after_s
    served: dict[str, list[str]] = {}
    for site, (cluster, _) in engines.clusters_by_site(estate).items():
        served.setdefault(cluster, []).append(site)
    declared = []
    for name, why in unreachable.items():
        outage = known.get(name) or Outage(name, now, why)
        if outage.down_since is None and (now - outage.unreachable_since).total_seconds() >= (
            threshold_s
        ):
            sites = tuple(sorted(served.get(name, [])))
            declared.append(replace(outage, message=why, down_since=now, sites=sites))
    if not (ended or started or declared):
        return []
    entries: list[dict[str, Any]] = []
    with workspace.unit(actor.principal, write=True) as unit:
        repo = unit.repository(OutageRepository)
        for name, why in started.items():
            repo.save(Outage(name, now, why))
        for outage in declared:
            repo.save(outage)
            entries.append(
                {
                    "type": "site.down",
                    "cluster": outage.cluster,
                    "sites": list(outage.sites),
                    "unreachable_since": outage.unreachable_since.isoformat(),
                    "message": outage.message,
                }
            )
        for outage in ended:
            repo.end(outage.cluster)
            if outage.down_since is not None:
                entries.append(
                    {
                        "type": "site.up",
                        "cluster": outage.cluster,
                        "sites": list(outage.sites),
                        "down_since": outage.down_since.isoformat(),
                    }
                )
        if entries:
            ledger.record(unit, entries)
    if entries:
        _replan(workspace, actor)
    return entries


def _replan(workspace: Workspace, actor: Actor) -> None:
    from keel.service import planning  # planning reads this module's down sites

    planning.commit_plan(workspace, planning.compute_plan(workspace, replan=True), actor=actor)


def known(workspace: Workspace) -> dict[str, Outage]:
    """Every engine outage now, by Cluster."""
    with workspace.unit() as unit:
        return unit.repository(OutageRepository).all()


__all__ = ["known", "observe"]
