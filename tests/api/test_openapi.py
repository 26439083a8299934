"""The app as built: every successful answer typed in the OpenAPI document; workers' settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from keel.api.app import WORKER_SETTINGS, create_app, factory, worker_settings
from keel.api.security import ApiSettings
from keel.errors import ConfigError
from keel.service import Workspace


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_every_2xx_answer_has_a_schema_with_properties(tmp_path: Path) -> None:
    workspace = Workspace.open(tmp_path / "ws")
    try:
        document = create_app(workspace).openapi()
    finally:
        workspace.close()
    components = document.get("components", {}).get("schemas", {})
    checked, missing = 0, []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation["responses"].items():
                if not status.startswith("2") or status == "204":
                    continue  # 204 has no body by definition
                content = answer.get("content") or {}
                if not content:
                    missing.append(f"{method.upper()} {path} {status}: no content")
                for media, body in content.items():
                    schema = _resolve(body.get("schema", {}), components)
                    checked += 1
                    if media == "text/plain":
                        ok = schema.get("type") == "string"
                    else:
                        ok = media == "application/json" and bool(schema.get("properties"))
                    if not ok:
                        missing.append(f"{method.upper()} {path} {status} {media}: {schema}")
    assert checked >= 35, checked  # every route with a body (38 when this was written)
    assert not missing, "\n".join(missing)


def test_workers_start_from_the_parents_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keel serve --workers hands each worker one document; nothing else of the env counts."""
    workspace = Workspace.open(tmp_path / "ws")
    settings = ApiSettings(rate_per_s=7.0, burst=9, failures_per_s=0.5, failure_burst=3)
    monkeypatch.setenv(WORKER_SETTINGS, worker_settings(workspace, settings))
    monkeypatch.setenv("KEEL_HOME", str(tmp_path / "not-this-one"))
    workspace.close()
    app = factory()
    guards = app.state.guards
    try:
        assert guards.workspace.settings.workspace == (tmp_path / "ws").resolve()
        assert (guards.limiter.rate, guards.limiter.burst) == (7.0, 9)
        assert (guards.failures.rate, guards.failures.burst) == (0.5, 3)
    finally:
        guards.workspace.close()
    monkeypatch.delenv(WORKER_SETTINGS)
    with pytest.raises(ConfigError, match="keel serve --workers"):
        factory()
