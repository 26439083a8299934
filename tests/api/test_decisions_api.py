"""/v1/decisions over HTTP: who may send, count, open, find and erase; bad batches; and the
Recorder SDK from several threads through keel.Client against the live server."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import keel
from conftest import Server
from keel.decisions import Recorder


def record(n: int, subject: str = "cust-api", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"api-{n}",
        "model": "credit-scoring@3.1",
        "workload": "credit-decision-api",
        "decided_at": (datetime.now(UTC) - timedelta(seconds=n)).isoformat(),
        "input_digest": "sha256:" + hashlib.sha256(f"in-{n}".encode()).hexdigest(),
        "output": {"decision": "deny" if n % 4 == 0 else "approve"},
        "explanation": {"reason_codes": ["R1"]},
        "subject": subject,
    } | extra


def test_roles_send_count_open_and_erase(server: Server) -> None:
    batch = [record(n) for n in range(8)]
    with server.client("viewer") as viewer:
        refused = viewer.post("/v1/decisions", json={"records": batch})
        assert refused.status_code == 403
    with server.client("operator") as operator:
        sent = operator.post("/v1/decisions", json={"records": batch})
        assert sent.status_code == 200, sent.text
        assert sent.json()["stored"] == 8
        again = operator.post("/v1/decisions", json={"records": batch}).json()
        assert (again["stored"], again["duplicates"]) == (0, 8)
        # Opening contents and finding subjects is an admin's: the operator sees neither.
        assert operator.get("/v1/decisions/api-1").status_code == 403
        assert operator.post("/v1/decisions/searches", json={"subject": "x"}).status_code == 403
        assert operator.post("/v1/decisions/prunes").status_code == 403
    with server.client("viewer") as viewer:
        counts = viewer.get("/v1/decisions/summary", params={"model": "credit-scoring@3.1"})
        assert counts.status_code == 200, counts.text
        [model] = counts.json()["models"]
        assert model["count"] >= 8 and sum(model["outcomes"].values()) == model["count"]
        assert all(n >= 5 or "fewer" in k for k, n in model["outcomes"].items())
    with server.client("admin") as admin:
        found = admin.post("/v1/decisions/searches", json={"subject": "cust-api"}).json()
        assert {d["id"] for d in found["decisions"]} >= {f"api-{n}" for n in range(8)}
        one = admin.get("/v1/decisions/api-3").json()
        assert one["content"]["output"] == {"decision": "approve"}
        proof = admin.get("/v1/decisions/api-3/proof").json()
        assert proof["proof"].startswith("c2sp.org/tlog-proof@v1") and proof["salt"]
        erased = admin.post(
            "/v1/decisions/erasures", json={"subject": "cust-api", "reason": "Art. 17"}
        )
        assert erased.status_code == 200 and erased.json()["records"] >= 8
        assert admin.get("/v1/decisions/api-3").json()["gone"] == "erasure: Art. 17"
        assert admin.post("/v1/decisions/searches", json={"subject": "cust-api"}).json() == {
            "decisions": [],
            "more": False,
        }


def test_a_bad_batch_names_every_record_and_stores_nothing(server: Server) -> None:
    with server.client("admin") as admin:
        before = admin.get("/v1/ledger/entries", params={"limit": 1}).json()["size"]
        batch = [record(100), record(101, model="cn-risk-model@2.0"), record(102, output=None)]
        batch[2].pop("output")
        answer = admin.post("/v1/decisions", json={"records": batch})
        assert answer.status_code == 400
        error = answer.json()["error"]
        assert error["code"] == "E-DECISION"
        assert [(p["path"], p["field"]) for p in error["problems"]] == [
            ("records[1]", "model"),
            ("records[2]", "output"),
        ]
        # Nothing but refusals (earlier tests', written up to half a second late) since.
        since = admin.get("/v1/ledger/entries", params={"start": before, "limit": 100}).json()
        assert {e["entry"]["type"] for e in since["entries"]} <= {"access.denied"}
        assert admin.get("/v1/decisions/api-100").status_code == 404
        too_many = admin.post("/v1/decisions", json={"records": [record(0)] * 10_001})
        assert too_many.status_code in (413, 422)
        assert admin.post("/v1/decisions", json={"records": []}).status_code == 422
        assert admin.get("/v1/decisions/bad%2Fid").status_code in (404, 422)
        skewed = admin.get("/v1/decisions/summary", params={"since": "yesterday"})
        assert skewed.status_code == 400 and "since" in skewed.json()["error"]["message"]


def test_the_recorder_sends_from_many_threads_through_the_client(server: Server) -> None:
    with keel.Client(server.url, token=server.keys["operator"]) as api:
        recorder = Recorder(
            api, model="credit-scoring@3.1", workload="credit-decision-api", flush_s=0.05
        )

        def serve(thread: int) -> None:
            for n in range(100):
                recorder.record(
                    {"thread": thread, "n": n}, {"decision": "approve"}, subject=f"sdk-{thread}"
                )

        threads = [threading.Thread(target=serve, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        recorder.close()
        assert recorder.pending() == 0 and recorder.sent == 400
    with keel.Client(server.url, token=server.keys["admin"]) as admin:
        for thread in range(4):
            assert len(admin.decisions_of_subject(f"sdk-{thread}").decisions) == 100


def test_a_sheet_shows_the_monitors_as_they_were_when_it_decided(server: Server) -> None:
    with server.client("admin") as admin:
        alerts = admin.get("/v1/monitors/alerts", params={"all": True}).json()["alerts"]
        drift = next(a for a in alerts if a["condition"] == "drift" and a["state"] == "resolved")
        during = datetime.fromisoformat(drift["raised_at"]) + timedelta(milliseconds=1)
        sent = admin.post(
            "/v1/decisions",
            json={
                "records": [
                    record(300, decided_at=during.isoformat()),
                    record(301, decided_at=datetime.now(UTC).isoformat()),
                ]
            },
        )
        assert sent.status_code == 200, sent.text
        then = admin.get("/v1/decisions/api-300/sheet").json()
        now = admin.get("/v1/decisions/api-301/sheet").json()
    assert then["decision"]["id"] == "api-300" and then["risk_tier"] == "high"
    assert [a["by"] for a in then["approvals"]] == ["user:erin", "user:farid"]
    assert all(a["declared"] for a in then["approvals"])
    assert then["trained_on"] == ["credit-bureau-scores", "eu-customer-profiles"]
    [monitor] = then["monitors"]
    assert monitor["monitor"] == "credit-decision-health"
    assert monitor["status"] == "firing" and "drift" in monitor["firing"]
    [later] = now["monitors"]
    assert later["status"] == "ok" and later["firing"] == []
