"""A scorecard per provider and site, from Keel's own records: judge partners on execution.

The report finds that partnerships fail on execution, not vision, and that organisations pick
partners on vision (IBM IBV 2025, "合作伙伴"). So each site (grouped by its provider; owned
sites by their kind) is scored on what Keel recorded: outages and downtime from the ledger,
price changes from the ledger, SLO attainment from monitors, time to capacity (submission to
start of its runs), and its grid carbon intensity and PUE.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import fmean, median

from keel.readiness.facts import Facts


@dataclass(frozen=True, slots=True)
class SiteCard:
    """One site's record.

    Attributes:
        provider: The provider, or ``own (on_prem)`` for owned sites.
        downtime_h: Hours marked unavailable (to now for an outage still open).
        usd_per_device_hour: Mean price of its pools now.
        price_changes: Pool price changes recorded; ``price_change_pct``: the latest one.
        slo_met / slo_checked: Online workloads placed there meeting their latency SLO, of
            those with a latency check.
        wait_s_p50: Median seconds from submission to start of its runs (time to capacity).
        runs: Runs handed to engines there.
        refs: Ledger entries behind the outages and price changes.
    """

    provider: str
    site: str
    kind: str
    available: bool
    outages: int
    downtime_h: float
    usd_per_device_hour: float | None
    price_changes: int
    price_change_pct: float | None
    slo_met: int
    slo_checked: int
    wait_s_p50: float | None
    runs: int
    carbon_gco2e_per_kwh: float
    pue: float
    refs: tuple[str, ...]


def site_cards(facts: Facts) -> list[SiteCard]:
    """Every site's scorecard, by provider then site.

    Args:
        facts: The facts.

    Returns:
        One card per site.
    """
    cards = []
    for site in facts.sites:
        outages = [o for o in facts.ledger.outages if o.site == site.name]
        downtime_s = sum(((o.recovered_at or facts.now) - o.at).total_seconds() for o in outages)
        changes = [c for c in facts.ledger.price_changes if c.site == site.name]
        latest = changes[-1] if changes else None
        online = [
            w
            for w in facts.workloads
            if w.kind == "online_inference"
            and w.latency_met is not None
            and any(where[0] == site.name for where in w.placed)
        ]
        runs = [r for r in facts.runs if r.site == site.name]
        waits = [r.wait_s for r in runs if r.wait_s is not None]
        refs = [f"ledger:{o.index}" for o in outages] + [f"ledger:{c.index}" for c in changes]
        cards.append(
            SiteCard(
                provider=site.provider or f"own ({site.kind})",
                site=site.name,
                kind=site.kind,
                available=site.available,
                outages=len(outages),
                downtime_h=round(downtime_s / 3600, 3),
                usd_per_device_hour=round(fmean(p.usd_per_device_hour for p in site.pools), 4)
                if site.pools
                else None,
                price_changes=len(changes),
                price_change_pct=round(100 * (latest.after_usd / latest.before_usd - 1), 1)
                if latest and latest.before_usd
                else None,
                slo_met=sum(1 for w in online if w.latency_met),
                slo_checked=len(online),
                wait_s_p50=round(median(waits), 3) if waits else None,
                runs=len(runs),
                carbon_gco2e_per_kwh=site.carbon_gco2e_per_kwh,
                pue=site.pue,
                refs=tuple(refs),
            )
        )
    return sorted(cards, key=lambda c: (c.provider, c.site))
