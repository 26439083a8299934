"""A local server that replays the Electricity Maps and WattTime APIs' documented answers.

It serves the excerpts in ``tests/fixtures/grid`` in the providers' own formats:

* Electricity Maps v3: ``GET /v3/carbon-intensity/past-range`` (``auth-token`` header;
  ``{"zone", "data": [{"zone", "carbonIntensity", "datetime", "updatedAt",
  "emissionFactorType", "isEstimated", "estimationMethod"}]}``, at most 10 days a request) and
  ``GET /v3/carbon-intensity/forecast`` (``{"zone", "forecast": [{"carbonIntensity",
  "datetime"}], "updatedAt"}``): DE-LU's 48 hours of January 2024; its forecast repeats
  them a week later.
* WattTime v3: ``GET /login`` (HTTP Basic; ``{"token"}``), ``GET /v3/historical`` and
  ``GET /v3/forecast`` (bearer token; ``{"data": [{"point_time", "value"}], "meta":
  {"region", "signal_type", "units": "lbs_co2_per_mwh", "data_point_period_seconds"}}``):
  the first hour of PG&E's marginal rate, 31 July 2021, converted from kg/kWh to lbs/MWh.

``mode`` makes it misbehave the ways a real API can: ``broken`` (an answer without its list),
``html`` (not JSON), ``units`` (WattTime in other units).
"""

from __future__ import annotations

import base64
import csv
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

GRID = Path(__file__).parent / "fixtures" / "grid"
KEY = "em-test-key"
USER, PASSWORD, TOKEN = "wt-user", "wt-password", "wt-token"
LBS_PER_KG = 1 / 0.45359237


def _em_hours() -> dict[datetime, float]:
    with (GRID / "DE-LU_2024_hourly.csv").open(encoding="utf-8") as handle:
        return {
            datetime.fromisoformat(row["Datetime (UTC)"]).replace(tzinfo=UTC): float(
                row["Carbon Intensity gCO₂eq/kWh (direct)"]
            )
            for row in csv.DictReader(handle)
        }


def _moer() -> dict[datetime, float]:
    with (GRID / "CAISO-PGE_moer.csv").open(encoding="utf-8") as handle:
        return {
            datetime.fromisoformat(row["time"]): float(row["moer"]) * 1000 * LBS_PER_KG
            for row in csv.DictReader(handle)
        }


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


@dataclass
class Replay:
    """The running server: its URL, the requests it got, and how it behaves."""

    url: str = ""
    mode: str = "ok"
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    em: dict[datetime, float] = field(default_factory=_em_hours)
    moer: dict[datetime, float] = field(default_factory=_moer)

    def answer(self, path: str, query: dict[str, str], headers: Any) -> tuple[int, object]:
        self.requests.append((path, query))
        if path.startswith("/v3/carbon-intensity/"):
            if headers.get("auth-token") != KEY:
                return 401, {"error": "Access denied"}
            return 200, self._em(path, query)
        if path == "/login":
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if headers.get("Authorization") != expected:
                return 403, {"error": "bad credentials"}
            return 200, {"token": TOKEN}
        if path in ("/v3/historical", "/v3/forecast"):
            if headers.get("Authorization") != f"Bearer {TOKEN}":
                return 401, {"error": "no token"}
            return 200, self._watttime(path, query)
        return 404, {"error": "not found"}

    def _em(self, path: str, query: dict[str, str]) -> object:
        if self.mode == "broken":
            return {"zone": query.get("zone")}
        if path.endswith("/forecast"):
            later = [
                {"carbonIntensity": v, "datetime": _iso(t + timedelta(days=7))}
                for t, v in sorted(self.em.items())
            ]
            return {"zone": query["zone"], "forecast": later, "updatedAt": _iso(datetime.now(UTC))}
        assert query.get("emissionFactorType") == "direct"
        start = datetime.fromisoformat(query["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(query["end"].replace("Z", "+00:00"))
        assert end - start <= timedelta(days=10), "past-range answers at most 10 days"
        data = [
            {
                "zone": query["zone"],
                "carbonIntensity": value,
                "datetime": _iso(when),
                "updatedAt": "2024-02-01T00:00:00.000Z",
                "emissionFactorType": "direct",
                "isEstimated": False,
                "estimationMethod": None,
            }
            for when, value in sorted(self.em.items())
            if start <= when < end and query["zone"] == "DE-LU"
        ]
        return {"zone": query["zone"], "data": data}

    def _watttime(self, path: str, query: dict[str, str]) -> object:
        units = "g_co2_per_kwh" if self.mode == "units" else "lbs_co2_per_mwh"
        meta = {
            "region": query["region"],
            "signal_type": query["signal_type"],
            "units": units,
            "data_point_period_seconds": 300,
        }
        if path.endswith("/forecast"):
            ahead = [
                {"point_time": (t + timedelta(days=1)).isoformat(), "value": v}
                for t, v in sorted(self.moer.items())
            ]
            return {"data": ahead, "meta": {**meta, "generated_at": "2021-07-31T00:00:00+00:00"}}
        start, end = (datetime.fromisoformat(query[k]) for k in ("start", "end"))
        data = [
            {"point_time": t.isoformat(), "value": v}
            for t, v in sorted(self.moer.items())
            if start <= t < end and query["region"] == "CAISO_NORTH"
        ]
        return {"data": data, "meta": meta}


@contextmanager
def replay() -> Iterator[Replay]:
    """Serve the replay on a free loopback port for the ``with`` block."""
    state = Replay()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            status, body = state.answer(parsed.path, query, self.headers)
            text = "<html>maintenance</html>" if state.mode == "html" else json.dumps(body)
            payload = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
