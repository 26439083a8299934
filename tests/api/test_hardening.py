"""The API's edges under attack: sessions and CSRF, refused-request floods, oversized headers,
errors in one shape (issue 13, items 7, 8, 11, 12)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from conftest import Server, run
from keel import errors
from keel.api.app import create_app
from keel.api.security import ApiSettings
from keel.service import Workspace
from live_server import keel_serve


@pytest.fixture(scope="module")
def strict(server: Server) -> Iterator[str]:
    """The demo served with the default limits on failed authentication."""
    with keel_serve(server.root, "--rate-limit", "1000") as url:
        yield url


def _signed_in(url: str, key: str) -> tuple[httpx.Client, str]:
    """A browser-like client signed in to the dashboard, and its session's CSRF token."""
    client = httpx.Client(base_url=url, follow_redirects=False, headers={"Origin": url})
    answer = client.post("/ui/login", data={"key": key})
    assert answer.status_code == 303, answer.text
    page = client.get("/ui/models").text
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page[:500]
    return client, found.group(1)


def test_the_session_cookie_holds_a_server_side_session_not_the_key(
    server: Server, strict: str
) -> None:
    client, _ = _signed_in(strict, server.keys["operator"])
    cookie = client.cookies["keel_session"]
    assert cookie.startswith("ks_") and server.keys["operator"] not in cookie
    assert client.get("/v1/models").status_code == 200
    assert (
        httpx.get(f"{strict}/v1/models", cookies={"keel_session": "ks_" + "A" * 43}).status_code
        == 401
    )
    client.close()


def test_cookie_authenticated_changes_need_the_same_origin_and_the_csrf_token(
    server: Server, strict: str
) -> None:
    client, csrf = _signed_in(strict, server.keys["operator"])
    body = {"commit": "never"}
    assert client.post("/v1/plans", json=body).status_code == 403  # no token
    wrong = {"X-CSRF-Token": "x" * 43}
    assert client.post("/v1/plans", json=body, headers=wrong).status_code == 403
    foreign = {"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
    assert client.post("/v1/plans", json=body, headers=foreign).status_code == 403
    cross = {"X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}
    assert client.post("/v1/plans", json=body, headers=cross).status_code == 403
    sandboxed = {"X-CSRF-Token": csrf, "Origin": "null", "Sec-Fetch-Site": "cross-site"}
    assert client.post("/v1/plans", json=body, headers=sandboxed).status_code == 403
    allowed = client.post("/v1/plans", json=body, headers={"X-CSRF-Token": csrf})
    assert allowed.status_code == 200, allowed.text
    assert client.get("/v1/models").status_code == 200  # reads need no token
    # A bearer key is not a cookie: no CSRF token needed.
    bearer = {"Authorization": f"Bearer {server.keys['operator']}"}
    assert httpx.post(f"{strict}/v1/plans", json=body, headers=bearer).status_code == 200
    client.close()


def test_cross_site_sign_in_and_sign_out_are_refused(server: Server, strict: str) -> None:
    evil = httpx.post(
        f"{strict}/ui/login",
        data={"key": server.keys["viewer"]},
        headers={"Origin": "https://evil.example"},
    )
    assert evil.status_code == 403 and "set-cookie" not in evil.headers
    client, csrf = _signed_in(strict, server.keys["viewer"])
    cookie = client.cookies["keel_session"]
    assert client.post("/ui/logout", data={}).status_code == 403  # no token: still signed in
    assert client.get("/v1/models").status_code == 200
    assert client.post("/ui/logout", data={"csrf": csrf}).status_code == 303
    replayed = httpx.get(f"{strict}/v1/models", cookies={"keel_session": cookie})
    assert replayed.status_code == 401
    client.close()


def test_revoking_the_key_ends_its_sessions(server: Server, strict: str) -> None:
    made = run("token", "create", "--name", "browser", "--role", "viewer", cwd=server.root)
    client, _ = _signed_in(strict, made.stdout.strip())
    assert client.get("/v1/models").status_code == 200
    assert run("token", "revoke", "browser", cwd=server.root).returncode == 0
    time.sleep(1.1)  # the one-second authentication cache
    assert client.get("/v1/models").status_code == 401
    client.close()


def test_failed_authentication_is_rate_limited_per_address(server: Server, strict: str) -> None:
    bad = {"Authorization": "Bearer keel_000000000000_" + "x" * 43}
    with httpx.Client(base_url=strict, headers=bad) as client:  # 5/s, a burst of 20
        answers = [client.get("/v1/models") for _ in range(60)]
    statuses = [a.status_code for a in answers]
    assert statuses[:15] == [401] * 15 and statuses.count(429) >= 20, statuses
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.json()["error"]["code"] == "E-RATE" and "retry-after" in limited.headers
    good = {"Authorization": f"Bearer {server.keys['viewer']}"}
    assert httpx.get(f"{strict}/v1/models", headers=good).status_code == 200


def test_a_flood_of_refusals_is_recorded_in_a_few_batches(server: Server) -> None:
    """60 refused requests once cost 60 transactions and 60 signed checkpoints (1.2 s)."""
    with server.client("viewer") as viewer, server.client("admin") as admin:
        before = int(admin.get("/v1/ledger/checkpoint").text.splitlines()[1])
        for _ in range(60):
            assert viewer.post("/v1/plans", json={"commit": "never"}).status_code == 403
        deadline = time.monotonic() + 10
        while True:
            rows = admin.get("/v1/ledger/entries", params={"start": before, "limit": 1000})
            denied = [e for e in rows.json()["entries"] if e["entry"]["type"] == "access.denied"]
            if len(denied) >= 60 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert len(denied) == 60
    assert all(e["entry"]["principal"] == "service_account:token:viewer-key" for e in denied)
    times = {e["created_at"] for e in denied}
    assert len(times) <= 10, f"{len(times)} transactions for 60 refusals"


@pytest.mark.parametrize("size", [1024 * 1024, 10 * 1024 * 1024])
def test_oversized_headers_are_refused_before_authentication(server: Server, size: int) -> None:
    headers = {"Authorization": f"Bearer {server.keys['viewer']}", "X-Padding": "a" * size}
    answer = httpx.get(f"{server.url}/v1/models", headers=headers)
    assert answer.status_code == 431
    assert answer.json()["error"]["code"] == "E-USER"


def test_every_error_has_the_stable_shape(server: Server) -> None:
    with server.client("viewer") as client:
        missing = client.get("/v1/no-such-route")
        assert missing.status_code == 404
        assert missing.json()["error"] == {
            "code": "E-NOT-FOUND",
            "message": "no route /v1/no-such-route",
        }
        wrong = client.put("/v1/models")
        assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "E-USER"
        unparsable = client.post(
            "/v1/plans", content=b"{not json", headers={"Content-Type": "application/json"}
        )
        assert unparsable.status_code == 422 and unparsable.json()["error"]["code"] == "E-USER"


def test_an_unexpected_failure_is_a_500_in_the_stable_shape_without_details(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from keel.service import registry

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("secret internals /srv/keel/keel.db")

    workspace = Workspace.open(str(tmp_path))
    made = run("token", "create", "--name", "k", "--role", "viewer", cwd=tmp_path)  # type: ignore[arg-type]
    assert made.returncode == 0, made.stderr
    monkeypatch.setattr(registry, "list_versions", broken)
    with TestClient(create_app(workspace), raise_server_exceptions=False) as client:
        answer = client.get(
            "/v1/models", headers={"Authorization": f"Bearer {made.stdout.strip()}"}
        )
    workspace.close()
    assert answer.status_code == 500
    error = answer.json()["error"]
    assert error["code"] == "E-INTERNAL" and "incident" in error["message"]
    assert "secret" not in answer.text and "RuntimeError" not in answer.text


def test_every_error_class_round_trips_through_the_api_and_the_client(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raised in a service, answered by the API, raised again by keel.Client: same class,
    same code, same facts (problems, policies, the event's location, the wait)."""
    from fastapi.testclient import TestClient

    import keel
    from error_examples import all_classes, example, facts
    from keel.errors import KeelError
    from keel.service import registry

    workspace = Workspace.open(str(tmp_path))
    made = run("token", "create", "--name", "k", "--role", "viewer", cwd=tmp_path)  # type: ignore[arg-type]
    settings = ApiSettings(rate_per_s=1000, burst=1000)
    with TestClient(create_app(workspace, settings), raise_server_exceptions=False) as http:
        http.headers["Authorization"] = f"Bearer {made.stdout.strip()}"
        api = keel.Client("http://testserver", token="unused")
        api._http = http
        for kind in all_classes():
            if kind.__name__ in ("RequestError", "AuthenticationError"):
                continue  # 422 and 401 come from the framework and the guard, tested elsewhere
            sent = example(kind)

            def broken(*_: object, error: KeelError = sent, **__: object) -> None:
                raise error

            monkeypatch.setattr(registry, "list_versions", broken)
            with pytest.raises(KeelError) as caught:
                api.models()
            expected = facts(sent)
            if kind is errors.RateLimitError:
                expected["details"] = {"retry_after_s": 3.0}  # Retry-After: whole seconds
            assert facts(caught.value) == expected, kind.__name__
    workspace.close()
