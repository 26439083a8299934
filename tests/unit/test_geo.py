"""Great-circle distance and the RTT estimate."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keel.estate.geo import estimated_rtt_ms, great_circle_km

lat = st.floats(-90, 90)
lon = st.floats(-180, 180)


def test_known_distances() -> None:
    # Frankfurt to New York: about 6,200 km; London to Paris: about 344 km.
    assert great_circle_km(50.11, 8.68, 40.71, -74.01) == pytest.approx(6200, rel=0.02)
    assert great_circle_km(51.507, -0.128, 48.857, 2.352) == pytest.approx(344, rel=0.01)
    assert great_circle_km(0, 0, 0, 180) == pytest.approx(20015, rel=0.001)


@given(lat, lon, lat, lon)
def test_distance_is_a_symmetric_bounded_metric(a: float, b: float, c: float, d: float) -> None:
    there = great_circle_km(a, b, c, d)
    assert there == pytest.approx(great_circle_km(c, d, a, b), abs=1e-6)
    assert 0 <= there <= 20_016


def test_rtt_estimate_grows_with_distance_and_has_a_floor() -> None:
    assert estimated_rtt_ms(0) == 2.0
    assert estimated_rtt_ms(6500) == pytest.approx(99.5)
    assert estimated_rtt_ms(100) < estimated_rtt_ms(1000)
