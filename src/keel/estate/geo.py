"""Great-circle distances and the round-trip-time estimate used where no link is declared.

The estimate is ``rtt_ms = 2 * distance_km * ROUTE_FACTOR / FIBRE_KM_PER_MS + BASE_RTT_MS``:
light in fibre covers about 200 km per millisecond (two thirds of its speed in vacuum), real
routes are about 1.5 times longer than the great circle, and switching and last-mile hops add
a couple of milliseconds. Frankfurt to Northern Virginia (6,500 km) comes out at about 100 ms,
close to measured public RTTs of 85-95 ms. Declare a ``Link`` wherever you have measurements.
"""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088
FIBRE_KM_PER_MS = 200.0
ROUTE_FACTOR = 1.5
BASE_RTT_MS = 2.0


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance between two points along the Earth's surface (haversine).

    Args:
        lat1: Latitude of the first point, degrees.
        lon1: Longitude of the first point, degrees.
        lat2: Latitude of the second point, degrees.
        lon2: Longitude of the second point, degrees.

    Returns:
        The distance in kilometres.
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def estimated_rtt_ms(distance_km: float) -> float:
    """Round-trip time estimated from a great-circle distance.

    Args:
        distance_km: Great-circle distance in kilometres.

    Returns:
        The estimated round-trip time in milliseconds.
    """
    return 2 * distance_km * ROUTE_FACTOR / FIBRE_KM_PER_MS + BASE_RTT_MS
