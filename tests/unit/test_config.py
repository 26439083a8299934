"""Settings precedence: argument > keel.yaml (the workspace's) > KEEL_* environment > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from keel.config import load_settings
from keel.errors import ConfigError


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.workspace == tmp_path.resolve()
    assert settings.database_url == f"sqlite:///{tmp_path.resolve()}/.keel/keel.db"
    assert settings.max_manifest_mb == 16


def test_precedence(tmp_path: Path) -> None:
    env = {"KEEL_HOME": str(tmp_path / "env"), "KEEL_DATABASE_URL": "sqlite:///env.db"}
    assert load_settings(cwd=tmp_path, environ=env).database_url == "sqlite:///env.db"
    assert load_settings(cwd=tmp_path, environ=env).workspace == (tmp_path / "env").resolve()
    (tmp_path / "keel.yaml").write_text("database_url: sqlite:///file.db\nmax_manifest_mb: 2\n")
    from_file = load_settings(cwd=tmp_path, environ=env)
    assert from_file.database_url == "sqlite:///file.db"
    assert from_file.max_manifest_mb == 2
    explicit = load_settings(cwd=tmp_path, environ=env, database_url="sqlite:///arg.db")
    assert explicit.database_url == "sqlite:///arg.db"


def test_keel_yaml_is_read_from_the_workspace(tmp_path: Path) -> None:
    elsewhere, workspace = tmp_path / "elsewhere", tmp_path / "ws"
    elsewhere.mkdir()
    workspace.mkdir()
    (workspace / "keel.yaml").write_text("max_manifest_mb: 3\n")
    assert load_settings(cwd=elsewhere, environ={}).max_manifest_mb == 16
    assert load_settings(workspace=workspace, cwd=elsewhere, environ={}).max_manifest_mb == 3
    env = {"KEEL_HOME": str(workspace)}
    assert load_settings(cwd=elsewhere, environ=env).max_manifest_mb == 3
    (elsewhere / "keel.yaml").write_text(f"workspace: {workspace}\nmax_manifest_mb: 5\n")
    assert load_settings(cwd=elsewhere, environ=env).max_manifest_mb == 5  # the folder's own


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("databse_url: x\n", "unknown settings ['databse_url']"),
        ("- a\n", "must be a mapping"),
        ("max_manifest_mb: lots\n", "must be a number"),
        ("max_manifest_mb: -1\n", "between 0 and 4096"),
        ("a: [\n", "not valid YAML"),
        ("site_down_after_s: soon\n", "site_down_after_s must be a number, got 'soon'"),
        ("site_down_after_s: -1\n", "site_down_after_s must be 0 to 86,400, got -1"),
        ("site_down_after_s: .nan\n", "site_down_after_s must be 0 to 86,400, got nan"),
        ("decision_retention_days: 0\n", "decision_retention_days must be 1 to 36,500, got 0"),
    ],
)
def test_bad_config_file(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "keel.yaml").write_text(text)
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        load_settings(cwd=tmp_path, environ={})


def test_the_site_down_threshold_comes_from_the_file_or_the_environment(tmp_path: Path) -> None:
    assert load_settings(cwd=tmp_path, environ={}).site_down_after_s == 300
    env = {"KEEL_SITE_DOWN_AFTER_S": "45"}
    assert load_settings(cwd=tmp_path, environ=env).site_down_after_s == 45
    (tmp_path / "keel.yaml").write_text("site_down_after_s: 0\n")
    assert load_settings(cwd=tmp_path, environ=env).site_down_after_s == 0  # the file wins
