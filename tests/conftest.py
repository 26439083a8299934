"""Shared fixtures: store backends (SQLite always, PostgreSQL when configured) and helpers."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.service import Workspace
from keel.store import Database
from pg_schema import fresh_schema


@pytest.fixture(autouse=True, scope="session")
def _own_config_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keys pinned by tests (``known_logs``) go to a temporary config folder, never ~/.config.

    Set in the environment, so ``keel`` processes the tests start inherit it.
    """
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config-home"))


@pytest.fixture(autouse=True, scope="session")
def _no_job_outlives_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Local jobs run in sessions of their own and outlive Keel, by design; a test that fails
    before it cancels its services must not leave them running after the suite."""
    yield
    base = str(tmp_path_factory.getbasetemp())
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"keel.runtimes.local_job" in argv and any(
            a.decode(errors="replace").startswith(base) for a in argv
        ):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(proc.name), signal.SIGTERM)


def _backends() -> list[object]:
    pg = pytest.param("postgresql", marks=pytest.mark.postgres)
    return ["sqlite", pg]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend.

    PostgreSQL tests get their own schema (``search_path``), dropped afterwards. When
    ``CI=true`` a missing PostgreSQL fails the test instead of skipping it.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'keel.db'}"
        return
    with fresh_schema() as url:
        yield url


@pytest.fixture
def workspace(tmp_path: Path, database_url: str) -> Iterator[Workspace]:
    """An open workspace on each backend."""
    ws = Workspace.open(tmp_path, database_url=database_url)
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """An open, migrated database on each backend."""
    db = Database(database_url)
    try:
        yield db
    finally:
        db.close()


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    """The demo estate written as manifests into a temporary folder."""
    from keel.estate import demo_manifest_files

    folder = tmp_path / "demo"
    folder.mkdir()
    for name, text in demo_manifest_files():
        (folder / name).write_text(text, encoding="utf-8")
    return folder
