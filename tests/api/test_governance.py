"""Governance is not operations: the kind x role table, no self-escalation, no lock-out, the
registrant is whoever registered, and every change names its actor.

These are the holes an attacker found on an operator key (issue 13, items 1 and 2): a
``PolicySet`` with ``permit(principal, action, resource);`` was accepted from an operator, and
one key could register, evaluate, validate and approve the same model version.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from conftest import ROLES, Server, run
from keel.estate.resources import KINDS
from keel.policy.access.entities import GOVERNANCE_KINDS
from live_server import clean_env, keel_serve

MAY_APPLY = {
    "viewer": set(),
    "approver": set(),
    "operator": set(KINDS) - set(GOVERNANCE_KINDS),
    "admin": set(KINDS),
}
"""The documented kind x role table (docs/security.md): who may apply or delete each kind."""

OPEN_POLICY = """\
kind: PolicySet
name: open-door
spec:
  access:
    - name: everything
      cedar: |
        @id("everyone.everything")
        permit (principal, action, resource);
"""

LOCKOUT = """\
kind: PolicySet
name: lock-admins-out
spec:
  access:
    - name: lockout
      cedar: |
        @id("no.admins")
        forbid (principal in Keel::Role::"admin", action, resource);
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo, one key per role, keel serve with the demo folder as its data root."""
    root = tmp_path_factory.mktemp("gov") / "ws"
    assert run("demo", "--keep", str(root), cwd=root.parent).returncode == 0
    keys = {}
    for role in ROLES:
        made = run("token", "create", "--name", f"{role}-key", "--role", role, cwd=root)
        assert made.returncode == 0, made.stderr
        keys[role] = made.stdout.strip()
    env = clean_env(KEEL_DATA_ROOT=str(root))
    with keel_serve(root, "--rate-limit", "1000", env=env) as url:
        yield Server(url, root, keys)


def _copy_of(server: Server, kind: str) -> str:
    """A manifest of a new resource of a kind: a copy of a stored one under a new name."""
    if kind == "Accelerator":
        spec: dict[str, Any] = {"vendor": "acme", "memory_gb": 64, "power_w": 400}
    elif kind == "Cluster":  # a site no cluster serves yet
        with server.client("admin") as admin:
            served = {
                s["site"]
                for c in admin.get("/v1/resources/clusters").json()["items"]
                for s in c["spec"]["sites"]
            }
            sites = [i["name"] for i in admin.get("/v1/resources/sites").json()["items"]]
        spec = {"type": "local", "sites": [{"site": next(s for s in sites if s not in served)}]}
    elif kind == "PolicySet":
        spec = {"packs": [{"name": "gdpr"}]}
    elif kind == "Link":  # a pair of sites not linked yet
        with server.client("admin") as admin:
            linked = {
                frozenset(i["spec"]["between"])
                for i in admin.get("/v1/resources/links").json()["items"]
            }
            sites = [i["name"] for i in admin.get("/v1/resources/sites").json()["items"]]
        pair = next([a, b] for a in sites for b in sites if a < b and {a, b} not in linked)
        spec = {"between": pair, "latency_ms": 20, "bandwidth_gbps": 10}
    else:
        with server.client("admin") as admin:
            stored = admin.get(f"/v1/resources/{kind}").json()["items"][0]
        spec = stored["spec"]
    if kind == "Model":  # a new version is registered as a draft by whoever applies it
        spec = {
            **spec,
            "versions": [
                {k: v for k, v in version.items() if k not in ("approved_by", "registered_by")}
                | {"state": "draft"}
                for version in spec["versions"]
            ],
        }
    return yaml.safe_dump({"kind": kind, "name": f"matrix-{kind.lower()}", "spec": spec})


def test_the_kind_by_role_table(server: Server) -> None:
    """Every kind x role, apply (dry run, so the table is independent of order) and delete."""
    for kind in KINDS:
        manifest = _copy_of(server, kind)
        for role in ROLES:
            with server.client(role) as client:
                applied = client.post("/v1/apply", json={"manifests": manifest, "dry_run": True})
                deleted = client.delete(f"/v1/resources/{kind}/no-such-{kind.lower()}")
            where = f"{role} {kind}: {applied.status_code} {applied.text[:300]}"
            if kind in MAY_APPLY[role]:
                assert applied.status_code == 200, where
                assert applied.json()["changes"][0]["action"] == "created", where
                assert deleted.status_code == 404, f"{role} {kind}: {deleted.text[:200]}"
            else:
                assert applied.status_code == 403, where
                assert deleted.status_code == 403, f"{role} {kind}: {deleted.text[:200]}"
                if role == "operator":
                    assert "governance.admin_only" in applied.json()["error"]["message"], where


def test_an_operator_cannot_grant_itself_everything(server: Server) -> None:
    with server.client("operator") as operator:
        before = operator.get("/v1/ledger/checkpoint").text
        refused = operator.post("/v1/apply", json={"manifests": OPEN_POLICY})
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == "E-FORBIDDEN" and "PolicySet/open-door" in error["message"]
        assert operator.get("/v1/resources/policysets/open-door").status_code == 404
        # A permit-all in the same request does not authorise the request that carries it.
        both = OPEN_POLICY + "---\n" + _copy_of(server, "Site")
        assert operator.post("/v1/apply", json={"manifests": both}).status_code == 403
        after = operator.get("/v1/ledger/entries", params={"start": 0, "limit": 1000}).json()
    denials = [
        e["entry"]
        for e in after["entries"]
        if e["entry"]["type"] == "access.denied" and e["entry"]["resource"] == "PolicySet/open-door"
    ]
    assert len(denials) == 2 and denials[0]["policies"] == ["governance.admin_only"]
    assert before  # a checkpoint existed; the refused apply stored nothing else
    with server.client("viewer") as viewer:
        probe = {"entries": [{"type": "probe"}]}
        assert viewer.post("/v1/ledger/entries", json=probe).status_code == 403
    with server.client("operator") as operator:
        erase = {"node": "dataset:eu-customer-profiles", "reason": "escalation"}
        assert operator.post("/v1/lineage/erasures", json=erase).status_code == 403


def test_restricted_data_cannot_be_changed_by_an_operator(server: Server) -> None:
    with server.client("admin") as admin:
        stored = admin.get("/v1/resources/dataset/eu-card-transactions").json()
    assert stored["spec"]["classification"] == "restricted"
    downgraded = yaml.safe_dump(
        {
            "kind": "Dataset",
            "name": "eu-card-transactions",
            "spec": {**stored["spec"], "classification": "public"},
        }
    )
    with server.client("operator") as operator:
        refused = operator.post("/v1/apply", json={"manifests": downgraded})
    assert refused.status_code == 403
    assert "restricted.owner_or_admin" in refused.json()["error"]["message"]


def test_a_policy_that_locks_every_admin_out_is_refused(server: Server) -> None:
    with server.client("admin") as admin:
        refused = admin.post("/v1/apply", json={"manifests": LOCKOUT})
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["code"] == "E-MANIFEST"
        (problem,) = (p["text"] for p in error["problems"])
        assert problem.startswith("request.yaml:")  # never the server's temporary path
        assert "lock every admin out" in problem
        assert admin.get("/v1/resources/policysets/lock-admins-out").status_code == 404


def _ledger_size(server: Server) -> int:
    with server.client("admin") as admin:
        return int(admin.get("/v1/ledger/checkpoint").text.splitlines()[1])


def _entries_since(server: Server, size: int) -> list[dict[str, Any]]:
    """The ledger's entries from ``size`` on, without refusals.

    The server writes refusals (of earlier tests) up to half a second late, in batches, so they
    may land before, between or after the entries a test looks for.
    """
    shown = run("ledger", "show", "--from", str(size), "--limit", "100", cwd=server.root)
    entries = [json.loads(line) for line in shown.stdout.splitlines()]
    return [e for e in entries if e["entry"]["type"] != "access.denied"]


def test_a_governance_change_records_both_digests_and_its_actor(server: Server) -> None:
    viewer_role = "kind: Principal\nname: gina\nspec: {type: user, roles: [viewer]}\n"
    size = _ledger_size(server)
    with server.client("admin") as admin:
        applied = admin.post("/v1/apply", json={"manifests": viewer_role})
        assert applied.status_code == 200, applied.text
    created, governance = _entries_since(server, size)
    assert created["entry"]["type"] == "estate.created"
    assert governance["entry"]["type"] == "governance.changed"
    assert governance["entry"]["resources"] == ["Principal/gina"]
    digests = governance["entry"]["access_digest"]
    assert digests["before"] != digests["after"]
    assert (
        governance["entry"]["compliance_digest"]["before"]
        == (governance["entry"]["compliance_digest"]["after"])
    )
    for entry in (created, governance):
        assert entry["personal"] == {"actor": "service_account:token:admin-key"}


def _model(name: str, **version: Any) -> str:
    spec = {
        "owner": "risk-team",
        "purpose": "scoring under test",
        "risk_tier": "high",
        "versions": [{"version": "1.0", "parameters_billion": 0.1, **version}],
    }
    return yaml.safe_dump({"kind": "Model", "name": name, "spec": spec})


def test_one_key_cannot_register_and_approve_the_same_version(server: Server) -> None:
    with server.client("admin") as admin:
        assert admin.post("/v1/apply", json={"manifests": _model("solo")}).status_code == 200
        version = admin.get("/v1/models/solo@1.0").json()
        assert version["registered_by"] == "service_account:token:admin-key"
        results = [
            {"kind": "benchmark", "name": "auc", "passed": True, "score": 0.9},
            {"kind": "probe", "name": "membership-inference", "passed": True},
        ]
        ref = "/v1/models/solo@1.0"
        assert admin.post(f"{ref}/evaluations", json={"results": results}).status_code == 200
        assert admin.post(f"{ref}/transitions", json={"to": "validated"}).status_code == 200
        refused = admin.post(f"{ref}/approvals")
    assert refused.status_code == 403
    assert "sod.no_self_approval" in refused.json()["error"]["message"]
    with server.client("approver") as approver:
        assert approver.post(f"{ref}/approvals").status_code == 200


@pytest.mark.parametrize(
    ("declared", "field"),
    [
        ({"registered_by": "alice"}, "registered_by"),
        ({"state": "validated"}, "state"),
        ({"approved_by": ["erin", "farid"], "state": "approved"}, "approved_by"),
    ],
)
def test_only_an_admin_imports_a_version_history(
    server: Server, declared: dict[str, Any], field: str
) -> None:
    name = f"import-{field.replace('_', '-')}"
    manifest = _model(name, **declared)
    with server.client("operator") as operator:
        refused = operator.post("/v1/apply", json={"manifests": manifest})
        assert refused.status_code == 400, refused.text
        error = refused.json()["error"]
        assert error["code"] == "E-DENIED"
        texts = [p["text"] for p in error["problems"]]
        assert any(f"versions[0].{field}" in t and "only an admin" in t for t in texts)
        assert operator.get(f"/v1/models/{name}@1.0").status_code == 404
    with server.client("admin") as admin:
        imported = admin.post("/v1/apply", json={"manifests": manifest})
        assert imported.status_code == 200, imported.text
        detail = admin.get(f"/v1/models/{name}@1.0").json()
    registered = next(e for e in detail["history"] if e["type"] == "registered")
    assert registered["detail"]["imported"] is True
    if field == "registered_by":
        assert detail["registered_by"] == "user:alice"


def test_local_commands_act_as_a_named_principal(server: Server, tmp_path: Path) -> None:
    env = clean_env()
    site = tmp_path / "site.yaml"
    site.write_text(_copy_of(server, "Site"))
    anonymous = run("apply", "-f", str(site), "--dry-run", cwd=server.root, env=env)
    assert anonymous.returncode == 2 and "error[E-AUTH]" in anonymous.stderr
    assert "--as user:NAME" in anonymous.stderr
    nobody = run("--as", "user:nobody", "plan", cwd=server.root, env=env)
    assert nobody.returncode == 2 and "E-NOT-FOUND" in nobody.stderr
    policy = tmp_path / "open.yaml"
    policy.write_text(OPEN_POLICY)
    bob = run("--as", "user:bob", "apply", "-f", str(policy), cwd=server.root, env=env)
    assert bob.returncode == 2 and "E-FORBIDDEN" in bob.stderr
    assert "governance.admin_only" in bob.stderr
    dana = run("--as", "user:dana", "apply", "-f", str(site), cwd=server.root, env=env)
    assert dana.returncode == 2 and "E-FORBIDDEN" in dana.stderr
    key = run("--as", "user:bob", "token", "create", "--name", "sneaky", "--role", "admin",
              cwd=server.root, env=env)  # fmt: skip
    assert key.returncode == 2 and "E-FORBIDDEN" in key.stderr
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/healthz").status_code == 200


def test_a_monitor_sent_to_the_api_reads_only_under_the_data_root(server: Server) -> None:
    with server.client("admin") as admin:
        stored = admin.get("/v1/resources/monitors").json()["items"][0]
        spec = {**stored["spec"], "reference": "/etc/passwd"}
        manifest = yaml.safe_dump({"kind": "Monitor", "name": "peek", "spec": spec})
        refused = admin.post("/v1/apply", json={"manifests": manifest})
    assert refused.status_code == 400
    (problem,) = (p["text"] for p in refused.json()["error"]["problems"])
    assert problem.startswith("request.yaml:") and "spec.reference" in problem
    assert "/etc/passwd lies outside the server's data root" in problem
    assert "/tmp" not in problem  # no server path


def test_creating_and_revoking_keys_is_in_the_ledger(server: Server) -> None:
    size = _ledger_size(server)
    made = run("token", "create", "--name", "audited", "--role", "viewer", cwd=server.root)
    assert made.returncode == 0, made.stderr
    assert run("token", "revoke", "audited", cwd=server.root).returncode == 0
    created, revoked = _entries_since(server, size)
    assert created["entry"] | {"personal": None, "expires_at": None} == {
        "type": "token.created",
        "token": "audited",
        "role": "viewer",
        "expires_at": None,
        "personal": None,
    }
    expires = datetime.fromisoformat(created["entry"]["expires_at"])  # 90 days unless told
    assert timedelta(days=89) < expires - datetime.now(UTC) <= timedelta(days=90)
    forever = run("token", "create", "--name", "forever", "--role", "viewer", "--expires", "never",
                  cwd=server.root)  # fmt: skip
    assert forever.returncode == 0 and "expires never" in forever.stderr, forever.stderr
    assert revoked["entry"]["type"] == "token.revoked" and revoked["entry"]["token"] == "audited"
    for entry in (created, revoked):
        assert entry["personal"] == {"actor": "user:root-ops"}
        assert made.stdout.strip() not in json.dumps(entry)  # never the secret
