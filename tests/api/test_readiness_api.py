"""/v1/readiness over HTTP: who may read and assess, what the evidence reveals, bad input,
and the CLI over --server."""

from __future__ import annotations

import json

import pytest

from conftest import Server, run


def test_a_viewer_reads_the_latest_assessment_but_may_not_assess(server: Server) -> None:
    with server.client("viewer") as viewer:
        latest = viewer.get("/v1/readiness")
        assert latest.status_code == 200, latest.text
        body = latest.json()
        assert len(body["trend"]) >= 2  # the demo assesses after planning and at the end
        assert body["level"] in ("nascent", "developing", "established", "leading")
        refused = viewer.post("/v1/readiness", json={})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "E-FORBIDDEN"
        assert viewer.get("/v1/readiness").json()["id"] == body["id"]  # nothing stored


def test_the_evidence_never_names_what_the_caller_may_not_read(server: Server) -> None:
    admin_names: set[str] = set()
    for role in ("admin", "viewer"):
        with server.client(role) as client:
            body = client.get("/v1/readiness").json()
            named = {
                r
                for s in body["scores"]
                for c in s["components"]
                for r in (*c["refs"], *c["gaps"])
                if r.startswith(("Dataset/", "Workload/", "Model/", "Site/"))
            }
            for ref in sorted(named):
                kind, name = ref.split("/")
                one = client.get(f"/v1/resources/{kind}/{name}")
                assert one.status_code == 200, f"{role} is shown {ref} but may not read it"
            withheld = sum(c["withheld"] for s in body["scores"] for c in s["components"])
            if role == "admin":
                assert withheld == 0
                admin_names = named
            else:
                # The demo holds restricted datasets only their owners and admins read.
                assert withheld > 0 and named < admin_names


def test_an_operator_assesses_and_the_trend_grows(server: Server) -> None:
    with server.client("operator") as operator:
        before = operator.get("/v1/readiness").json()
        made = operator.post("/v1/readiness", json={})
        assert made.status_code == 200, made.text
        body = made.json()
        assert body["id"] == before["id"] + 1
        assert [p["id"] for p in body["trend"]][-2:] == [before["id"], body["id"]]
        entries = operator.get(
            "/v1/ledger/entries", params={"start": body["ledger_index"], "limit": 1}
        ).json()["entries"]
        assert entries[0]["entry"]["type"] == "readiness.assessed"
        assert entries[0]["entry"]["inputs"]["estate_digest"] == body["inputs"]["estate_digest"]


@pytest.mark.parametrize(
    ("who", "method", "body", "status"),
    [
        (None, "GET", None, 401),
        (None, "POST", {}, 401),
        ("operator", "POST", {"dry_run": True}, 422),
        ("operator", "POST", [], 422),
    ],
)
def test_bad_requests_are_refused_and_store_nothing(
    server: Server, who: str | None, method: str, body: object, status: int
) -> None:
    with server.client("admin") as admin:
        before = admin.get("/v1/readiness").json()["id"]
    with server.client(who) as client:
        answer = client.request(method, "/v1/readiness", json=body)
        assert answer.status_code == status, answer.text
    with server.client("admin") as admin:
        assert admin.get("/v1/readiness").json()["id"] == before


def test_the_cli_shows_the_same_assessment_over_the_server(server: Server) -> None:
    remote = run(
        "--server", server.url, "--token", server.keys["viewer"],
        "readiness", "--latest", "-o", "json", cwd=server.root,
    )  # fmt: skip
    assert remote.returncode == 0, remote.stderr
    with server.client("viewer") as viewer:
        assert json.loads(remote.stdout) == viewer.get("/v1/readiness").json()
    page = run(
        "--server", server.url, "--token", server.keys["viewer"],
        "readiness", "--latest", "-o", "html", cwd=server.root,
    )  # fmt: skip
    assert page.returncode == 0 and "<svg" in page.stdout and "Next steps" in page.stdout
