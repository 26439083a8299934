"""A demo workspace with an API key per role, and keel serve on loopback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from live_server import KEEL, keel_serve

ROLES = ("viewer", "operator", "approver", "admin")


def run(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A local command, acting as the demo's admin unless ``env`` says otherwise."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        env["KEEL_PRINCIPAL"] = "user:root-ops"
    return subprocess.run(
        [KEEL, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=180, check=False
    )


@dataclass
class Server:
    url: str
    root: Path
    keys: dict[str, str]

    def client(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The demo (applied, planned, monitored, with lineage), one key per role, plus an expired
    and a revoked key; keel serve with a generous rate limit."""
    root = tmp_path_factory.mktemp("api") / "ws"
    assert run("demo", "--keep", str(root), cwd=root.parent).returncode == 0
    keys = {}
    for role in ROLES:
        made = run("token", "create", "--name", f"{role}-key", "--role", role, cwd=root)
        assert made.returncode == 0, made.stderr
        keys[role] = made.stdout.strip()
    keys["expired"] = run(
        "token", "create", "--name", "old", "--role", "admin", "--expires", "1h", cwd=root
    ).stdout.strip()
    keys["revoked"] = run(
        "token", "create", "--name", "gone", "--role", "admin", cwd=root
    ).stdout.strip()
    assert run("token", "revoke", "gone", cwd=root).returncode == 0
    keys["malformed"] = "not-a-key"
    # Expire "old" by moving its expiry into the past, the way time would.
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{root / '.keel' / 'keel.db'}")
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE api_tokens SET expires_at = '2020-01-01 00:00:00.000000' WHERE name = 'old'"
            )
        )
    engine.dispose()
    with keel_serve(root, "--rate-limit", "1000", "--auth-failure-rate", "1000") as url:
        yield Server(url, root, keys)
