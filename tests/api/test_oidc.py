"""OIDC bearer tokens: JWTs signed by a configured issuer, verified against its key set."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import run
from live_server import KEEL, clean_env, keel_serve

ISSUER = "https://login.aurelia.example"
AUDIENCE = "keel"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Any, str]]:
    """keel serve with OIDC configured (a JWKS file with one RSA key), and an admin API key."""
    root = tmp_path_factory.mktemp("oidc") / "ws"
    assert run("demo", "--keep", str(root), cwd=root.parent).returncode == 0
    admin = run("token", "create", "--name", "admin", "--role", "admin", cwd=root).stdout.strip()
    signer = _key()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signer.public_key()))
    jwks = root / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "alg": "RS256", "use": "sig"}]}))
    env = clean_env(
        KEEL_OIDC_ISSUER=ISSUER, KEEL_OIDC_AUDIENCE=AUDIENCE, KEEL_OIDC_JWKS_FILE=str(jwks)
    )
    with keel_serve(root, "--rate-limit", "1000", env=env) as url:
        yield url, signer, _key(), admin


def _token(key: Any, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "erin@aurelia.example",
        "iat": now,
        "exp": now + 300,
        "roles": ["approver"],
        **claims,
    }
    return jwt.encode(
        {k: v for k, v in body.items() if v is not None},
        key,
        algorithm="RS256",
        headers={"kid": "k1"},
    )


def test_a_valid_token_acts_with_its_role(oidc: tuple[str, Any, Any, str]) -> None:
    url, signer, _, _ = oidc
    headers = {"Authorization": f"Bearer {_token(signer)}"}
    assert httpx.get(f"{url}/v1/models", headers=headers).status_code == 200
    refused = httpx.post(f"{url}/v1/plans", headers=headers, json={"commit": "never"})
    assert refused.status_code == 403
    assert "user:oidc:erin@aurelia.example" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"roles": ["auditor"]}, "no Keel role"),
        ({"sub": None}, "sub"),
        # The roles claim has one shape: a list of strings (it once read {"admin": false} as
        # admin and took a bare string).
        ({"roles": {"admin": False}}, "must be a list of role names"),
        ({"roles": "admin"}, "must be a list of role names"),
        ({"roles": [{"admin": True}]}, "must be a list of role names"),
        ({"roles": None}, "must be a list of role names"),
        ({"sub": 42}, "sub claim must be a string"),
    ],
)
def test_bad_tokens_are_refused(
    oidc: tuple[str, Any, Any, str], claims: dict[str, Any], reason: str
) -> None:
    url, signer, _, _ = oidc
    answer = httpx.get(
        f"{url}/v1/models", headers={"Authorization": f"Bearer {_token(signer, **claims)}"}
    )
    assert answer.status_code == 401, answer.text
    assert reason.lower() in answer.json()["error"]["message"].lower()


def test_a_token_signed_by_another_key_is_refused(oidc: tuple[str, Any, Any, str]) -> None:
    url, _, stranger, _ = oidc
    answer = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {_token(stranger)}"})
    assert answer.status_code == 401 and "signature" in answer.json()["error"]["message"].lower()
    forged = jwt.encode(
        {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "x",
            "exp": int(time.time()) + 60,
            "roles": ["admin"],
        },
        "a-shared-secret-an-attacker-might-guess",  # HMAC: refused whatever the secret
        algorithm="HS256",
    )
    assert (
        httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )


def _signed_with(algorithm: str) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    key: Any = ec.generate_private_key(ec.SECP256R1()) if algorithm == "ES256" else None
    if algorithm == "EdDSA":
        key = ed25519.Ed25519PrivateKey.generate()
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": now + 60, "roles": ["admin"]}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": "k1"})


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA"])
def test_a_token_whose_algorithm_does_not_fit_the_key_is_a_clean_401(
    oidc: tuple[str, Any, Any, str], algorithm: str
) -> None:
    """An ES256 token naming the issuer's RSA key once crashed with 500; EdDSA leaked a repr."""
    url, _, _, _ = oidc
    headers = {"Authorization": f"Bearer {_signed_with(algorithm)}"}
    answer = httpx.get(f"{url}/v1/models", headers=headers)
    assert answer.status_code == 401, answer.text
    error = answer.json()["error"]
    assert error["code"] == "E-AUTH"
    assert f"algorithm '{algorithm}' does not fit its RSA key" in error["message"]
    assert "<" not in error["message"] and "object at" not in error["message"]


@pytest.mark.parametrize(
    "token",
    ["a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30.", "x" * 10 + "." + "y" * 10 + "." + "z", "..", "%%.%%.%%"],
)
def test_malformed_tokens_are_a_clean_401(oidc: tuple[str, Any, Any, str], token: str) -> None:
    url, _, _, _ = oidc
    answer = httpx.get(f"{url}/v1/models", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "E-AUTH"


def test_an_oidc_approver_approves_and_is_in_the_ledger(oidc: tuple[str, Any, Any, str]) -> None:
    url, signer, _, admin = oidc
    operator = {"Authorization": f"Bearer {admin}"}
    ref = "fraud-detector@7.1"
    results = [
        {"kind": "benchmark", "name": "auc", "passed": True, "score": 0.9},
        {"kind": "probe", "name": "evasion", "passed": True},
    ]
    assert (
        httpx.post(
            f"{url}/v1/models/{ref}/evaluations", headers=operator, json={"results": results}
        ).status_code
        == 200
    )
    assert (
        httpx.post(
            f"{url}/v1/models/{ref}/transitions", headers=operator, json={"to": "validated"}
        ).status_code
        == 200
    )
    erin = {"Authorization": f"Bearer {_token(signer)}"}
    approved = httpx.post(f"{url}/v1/models/{ref}/approvals", headers=erin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "approved"
    history = httpx.get(f"{url}/v1/models/{ref}", headers=erin).json()["history"]
    assert any(
        h["type"] == "approved" and h["by"] == "user:oidc:erin@aurelia.example" for h in history
    )


def test_oidc_needs_audience_and_keys(tmp_path: Path) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["KEEL_OIDC_ISSUER"] = ISSUER
    done = subprocess.run(
        [KEEL, "token", "list"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2 and "oidc_audience" in done.stderr
