"""Grid signals from the Electricity Maps and WattTime APIs, as :class:`GridSeries`.

Where the series of a horizon come from is a :class:`Source`: a folder of files
(:class:`Files`), Electricity Maps (:class:`ElectricityMaps`: the location-based average) or
WattTime (:class:`WattTime`: the marginal rate). Every source answers the same question: the
hourly values of one zone and signal over a window, as a series whose ``source`` names where
they came from.

* **Electricity Maps** (API v3): ``GET /carbon-intensity/past-range`` for hours that have
  passed, in requests of at most 10 days (the API's limit at hourly granularity), and
  ``GET /carbon-intensity/forecast`` for the rest, each with ``emissionFactorType=direct``
  (the figure the hourly exports give) and the key in the ``auth-token`` header. Forecast hours
  are flagged *estimated*, as the hours the API flags ``isEstimated``.
* **WattTime** (API v3): ``GET /login`` with HTTP Basic authentication gives a token;
  ``GET /v3/historical`` (at most 31 days a request) and ``GET /v3/forecast`` give the
  ``co2_moer`` signal at 5-minute steps in lbs CO2 per MWh, converted to g/kWh and folded into
  hours. A zone maps to a WattTime region (``US-CAL-CISO=CAISO_NORTH``, ...).

Keys come from the environment (``ELECTRICITYMAPS_API_KEY``; ``WATTTIME_USER`` and
``WATTTIME_PASSWORD``, as WattTime's own SDK reads them), never from a manifest or the store.
Every failure (no key, a refused key, a timeout, an answer that is not the documented format,
values out of range) is an ``E-GRID`` error naming the provider and the request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx

from keel.energy import grid
from keel.energy.grid import GridSeries, Signal
from keel.errors import GridError

G_PER_LB = 453.59237
"""Grams in a pound: WattTime's lbs CO2/MWh times this, over 1,000, is g/kWh."""

TIMEOUT_S = 20.0
"""How long one request may take."""

EM_URL = "https://api.electricitymaps.com/v3"
EM_MAX_DAYS = 10
"""Electricity Maps answers at most 10 days of hourly history per request."""

WATTTIME_URL = "https://api.watttime.org"
WATTTIME_MAX_DAYS = 31
"""WattTime answers at most 32 days of history per request."""

WATTTIME_REGIONS = {"US-CAL-CISO": "CAISO_NORTH"}
"""Zone to WattTime region where the mapping is known (CAISO_NORTH is the region every
WattTime account may read); ``KEEL_WATTTIME_REGIONS`` adds or overrides others."""


class Source(Protocol):
    """Where a horizon's grid series come from."""

    @property
    def name(self) -> str:
        """``files``, ``electricitymaps`` or ``watttime``."""
        ...

    def hourly(self, zone: str, signal: Signal, start: datetime, hours: int) -> GridSeries:
        """The hourly values of a zone and signal from ``start`` (missing hours ``NaN``).

        Raises:
            GridError: If the source has no such series or cannot be read.
        """
        ...


@dataclass(frozen=True, slots=True)
class Files:
    """Series files in a folder (``<ZONE>_*.csv``; see :func:`keel.energy.grid.find`)."""

    folder: Path
    name: str = "files"

    def hourly(self, zone: str, signal: Signal, start: datetime, hours: int) -> GridSeries:
        """The zone's file, folded into hours, over the window."""
        return grid.find(self.folder, zone, signal).hourly().window(start, hours)


Get = Callable[[str, Mapping[str, str], Mapping[str, str]], Any]
"""One GET: URL, query and headers in; the decoded JSON out (``GridError`` on failure)."""


def _http_get(client: httpx.Client, provider: str) -> Get:
    def get(url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Any:
        where = f"{provider}: GET {url}"
        try:
            answer = client.get(url, params=dict(params), headers=dict(headers))
        except httpx.HTTPError as exc:
            raise GridError(f"{where} failed: {exc}", []) from None
        if answer.status_code in (401, 403):
            raise GridError(
                f"{where} refused the credentials (HTTP {answer.status_code})",
                [],
                hint="check the key in the environment (docs/carbon.md)",
            )
        if answer.status_code != 200:
            raise GridError(f"{where} answered HTTP {answer.status_code}: {answer.text[:200]}", [])
        try:
            return answer.json()
        except ValueError:
            raise GridError(f"{where} answered something that is not JSON", []) from None

    return get


def _chunks(start: datetime, end: datetime, days: int) -> Iterator[tuple[datetime, datetime]]:
    at = start
    while at < end:
        upto = min(at + timedelta(days=days), end)
        yield at, upto
        at = upto


def _when(text: object, where: str) -> datetime:
    if not isinstance(text, str):
        raise GridError(f"{where}: a time is {text!r}, not an ISO 8601 string", [])
    try:
        found = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise GridError(f"{where}: {text!r} is not an ISO 8601 time", []) from None
    if found.tzinfo is None:
        raise GridError(f"{where}: {text!r} has no UTC offset", [])
    return found.astimezone(UTC)


def _number(value: object, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GridError(f"{where}: a value is {value!r}, not a number", [])
    return float(value)


def _items(answer: object, key: str, where: str) -> list[dict[str, Any]]:
    items = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise GridError(f"{where}: the answer has no list '{key}' (not the documented format)", [])
    return items


def _window(  # noqa: PLR0917 (one answer's points and the window they fill)
    points: dict[datetime, tuple[float, bool]],
    zone: str,
    signal: Signal,
    name: str,
    start: datetime,
    hours: int,
    step_s: int,
) -> GridSeries:
    """The hourly series over the window from the points gathered (hours without any: NaN)."""
    end = start + timedelta(hours=hours)
    for edge in (start, end - timedelta(seconds=step_s)):  # the series spans the window
        points.setdefault(edge, (math.nan, False))
    ordered = sorted(points.items())
    found = grid.from_points(
        zone,
        signal,
        name,
        [t for t, _ in ordered],
        [v for _, (v, _e) in ordered],
        [e for _, (_v, e) in ordered],
    )
    return found.hourly().window(start, hours)


@dataclass
class ElectricityMaps:
    """Electricity Maps API v3: the location-based (average, direct) carbon intensity.

    Args:
        key: The API key (``ELECTRICITYMAPS_API_KEY``).
        url: The API's base URL (a local replay server in tests).
        client: The HTTP client (``httpx`` by default).
        now: The current time (hours from it on come from the forecast).
    """

    key: str
    url: str = EM_URL
    client: httpx.Client | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    name: str = "electricitymaps"

    def hourly(self, zone: str, signal: Signal, start: datetime, hours: int) -> GridSeries:
        """Past hours from ``past-range``, the rest from ``forecast``."""
        if signal != "carbon_location":
            raise GridError(
                f"electricitymaps gives carbon_location, not {signal}",
                [],
                hint="use watttime for carbon_marginal",
            )
        if self.client is None:
            with httpx.Client(timeout=TIMEOUT_S) as client:
                return replace(self, client=client).hourly(zone, signal, start, hours)
        get = _http_get(self.client, self.name)
        headers = {"auth-token": self.key}
        end = start + timedelta(hours=hours)
        now = self.now().replace(minute=0, second=0, microsecond=0)
        points: dict[datetime, tuple[float, bool]] = {}
        for first, last in _chunks(start, min(end, now), EM_MAX_DAYS):
            url = f"{self.url}/carbon-intensity/past-range"
            params = {
                "zone": zone,
                "start": first.isoformat().replace("+00:00", "Z"),
                "end": last.isoformat().replace("+00:00", "Z"),
                "emissionFactorType": "direct",
                "temporalGranularity": "hourly",
            }
            where = f"electricitymaps {zone} {params['start']}..{params['end']}"
            for item in _items(get(url, params, headers), "data", where):
                when = _when(item.get("datetime"), where)
                if first <= when < last:
                    value = _number(item.get("carbonIntensity"), where)
                    points[when] = (value, bool(item.get("isEstimated")))
        if end > now:
            url = f"{self.url}/carbon-intensity/forecast"
            params = {"zone": zone, "emissionFactorType": "direct", "horizonHours": "72"}
            where = f"electricitymaps {zone} forecast"
            for item in _items(get(url, params, headers), "forecast", where):
                when = _when(item.get("datetime"), where)
                if max(start, now) <= when < end:
                    points[when] = (_number(item.get("carbonIntensity"), where), True)
        name = f"electricitymaps:{zone}"
        if not points:
            raise GridError(f"{name}: no value from {start:%Y-%m-%dT%H:%MZ} for {hours} h", [])
        return _window(points, zone, signal, name, start, hours, 3600)


def watttime_regions(environ: Mapping[str, str]) -> dict[str, str]:
    """The zone to WattTime region map: the known ones, then ``KEEL_WATTTIME_REGIONS``.

    Raises:
        GridError: If ``KEEL_WATTTIME_REGIONS`` is not ``ZONE=REGION,...``.
    """
    regions = dict(WATTTIME_REGIONS)
    text = environ.get("KEEL_WATTTIME_REGIONS", "").strip()
    for pair in filter(None, (p.strip() for p in text.split(","))):
        zone, sep, region = pair.partition("=")
        if not sep or not zone.strip() or not region.strip():
            raise GridError(f"KEEL_WATTTIME_REGIONS: {pair!r} is not ZONE=REGION", [])
        regions[zone.strip()] = region.strip()
    return regions


@dataclass
class WattTime:
    """WattTime API v3: the marginal operating emissions rate (``co2_moer``).

    Args:
        user: The account (``WATTTIME_USER``).
        password: Its password (``WATTTIME_PASSWORD``).
        regions: Zone to WattTime region.
        url: The API's base URL (a local replay server in tests).
        client: The HTTP client (``httpx`` by default).
        now: The current time (hours from it on come from the forecast).
    """

    user: str
    password: str
    regions: dict[str, str] = field(default_factory=lambda: dict(WATTTIME_REGIONS))
    url: str = WATTTIME_URL
    client: httpx.Client | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    name: str = "watttime"

    def _token(self, client: httpx.Client) -> str:
        where = f"watttime: GET {self.url}/login"
        try:
            answer = client.get(f"{self.url}/login", auth=(self.user, self.password))
        except httpx.HTTPError as exc:
            raise GridError(f"{where} failed: {exc}", []) from None
        if answer.status_code != 200:
            raise GridError(
                f"{where} refused the credentials (HTTP {answer.status_code})",
                [],
                hint="check WATTTIME_USER and WATTTIME_PASSWORD",
            )
        try:
            token = answer.json().get("token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise GridError(f"{where}: the answer has no token", [])
        return token

    def hourly(self, zone: str, signal: Signal, start: datetime, hours: int) -> GridSeries:
        """Past hours from ``historical``, the rest from ``forecast``; 5-minute points folded."""
        if signal != "carbon_marginal":
            raise GridError(
                f"watttime gives carbon_marginal, not {signal}",
                [],
                hint="use electricitymaps for carbon_location",
            )
        region = self.regions.get(zone)
        if region is None:
            raise GridError(
                f"watttime: no region is known for zone {zone}",
                [],
                hint="map it: KEEL_WATTTIME_REGIONS=ZONE=REGION,...",
            )
        if self.client is None:
            with httpx.Client(timeout=TIMEOUT_S) as opened:
                return replace(self, client=opened).hourly(zone, signal, start, hours)
        client = self.client
        get = _http_get(client, self.name)
        headers = {"Authorization": f"Bearer {self._token(client)}"}
        end = start + timedelta(hours=hours)
        now = self.now().replace(minute=0, second=0, microsecond=0)
        points: dict[datetime, tuple[float, bool]] = {}
        for first, last in _chunks(start, min(end, now), WATTTIME_MAX_DAYS):
            params = {
                "region": region,
                "signal_type": "co2_moer",
                "start": first.isoformat(),
                "end": last.isoformat(),
            }
            where = f"watttime {region} {params['start']}..{params['end']}"
            answer = get(f"{self.url}/v3/historical", params, headers)
            self._gather(answer, where, first, last, False, points)
        if end > now:
            params = {"region": region, "signal_type": "co2_moer", "horizon_hours": "72"}
            answer = get(f"{self.url}/v3/forecast", params, headers)
            self._gather(answer, f"watttime {region} forecast", max(start, now), end, True, points)
        name = f"watttime:{region}"
        if not points:
            raise GridError(f"{name}: no value from {start:%Y-%m-%dT%H:%MZ} for {hours} h", [])
        return _window(points, zone, signal, name, start, hours, 300)

    @staticmethod
    def _gather(  # noqa: PLR0917 (one answer, its window and where it goes)
        answer: object,
        where: str,
        first: datetime,
        last: datetime,
        estimated: bool,
        points: dict[datetime, tuple[float, bool]],
    ) -> None:
        meta = answer.get("meta") if isinstance(answer, dict) else None
        units = meta.get("units") if isinstance(meta, dict) else None
        if units != "lbs_co2_per_mwh":
            raise GridError(f"{where}: units {units!r}, expected lbs_co2_per_mwh", [])
        for item in _items(answer, "data", where):
            when = _when(item.get("point_time"), where)
            if first <= when < last:
                value = _number(item.get("value"), where) * G_PER_LB / 1000.0
                points[when] = (value, estimated)


def source_from(kind: str, folder: Path | None, environ: Mapping[str, str]) -> Source | None:
    """The source a ``grid_source`` setting names, with its keys from the environment.

    Args:
        kind: ``files``, ``electricitymaps`` or ``watttime``.
        folder: The ``grid_data`` folder (for ``files``).
        environ: The environment.

    Returns:
        The source; ``None`` for ``files`` without a folder.

    Raises:
        GridError: If a provider's key is missing.
    """
    if kind == "electricitymaps":
        key = environ.get("ELECTRICITYMAPS_API_KEY", "")
        if not key:
            raise GridError(
                "grid_source electricitymaps needs ELECTRICITYMAPS_API_KEY in the environment",
                [],
            )
        return ElectricityMaps(key, url=environ.get("KEEL_ELECTRICITYMAPS_URL") or EM_URL)
    if kind == "watttime":
        user, password = environ.get("WATTTIME_USER", ""), environ.get("WATTTIME_PASSWORD", "")
        if not (user and password):
            raise GridError(
                "grid_source watttime needs WATTTIME_USER and WATTTIME_PASSWORD in the environment",
                [],
            )
        url = environ.get("KEEL_WATTTIME_URL") or WATTTIME_URL
        return WattTime(user, password, regions=watttime_regions(environ), url=url)
    return Files(folder) if folder is not None else None
