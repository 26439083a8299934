"""Settings, resolved once with a fixed precedence.

Precedence, highest first: an explicit argument (a CLI flag or a Python keyword), then
``keel.yaml``, then ``KEEL_*`` environment variables, then defaults.

``keel.yaml`` is read from the workspace: the folder given as an argument (``--workspace``,
``Workspace.open(folder)``); else the current folder if it holds one (it may name the
workspace); else the folder ``KEEL_HOME`` names; else the current folder.

=================== ======================= ============================================
setting             environment             default
=================== ======================= ============================================
workspace           ``KEEL_HOME``           the current directory
database_url        ``KEEL_DATABASE_URL``   SQLite at ``<workspace>/.keel/keel.db``
max_manifest_mb     ``KEEL_MAX_MANIFEST_MB`` 16
lineage_emit        ``KEEL_LINEAGE_EMIT``   off; ``file:PATH`` (JSON lines) or an
                                            OpenLineage HTTP endpoint (``http(s)://...``)
oidc_issuer         ``KEEL_OIDC_ISSUER``    off; the issuer (``iss``) of accepted JWTs
oidc_audience       ``KEEL_OIDC_AUDIENCE``  the audience (``aud``) they must name
oidc_jwks_file      ``KEEL_OIDC_JWKS_FILE`` the issuer's public keys (a JWKS JSON file)
oidc_roles_claim    ``KEEL_OIDC_ROLES_CLAIM`` ``roles``: the claim listing Keel roles
data_root           ``KEEL_DATA_ROOT``      none: a folder monitor data and policy files
                                            may lie in besides the manifest's own folder
                                            (the only one for manifests sent to the API)
grid_data           ``KEEL_GRID_DATA``      none: the folder of hourly grid series
                                            (``<ZONE>_*.csv``) that ``keel plan --horizon``
                                            and ``keel grid show`` read
grid_source         ``KEEL_GRID_SOURCE``    ``files`` (``grid_data``); ``electricitymaps``
                                            or ``watttime``: their APIs, keys from the
                                            environment (docs/carbon.md)
principal           ``KEEL_PRINCIPAL``      none: who the local CLI acts as
                                            (``user:NAME``; ``--as`` overrides)
known_logs          ``KEEL_KNOWN_LOGS``     ``~/.config/keel/known_logs``: pinned ledger
                                            public keys, one per log (like SSH's
                                            known_hosts)
decision_retention_days ``KEEL_DECISION_RETENTION_DAYS`` 183: how long decision records keep
                                            their content; never under 183 for high-risk
                                            models (EU AI Act Art. 19 and 26: six months)
site_down_after_s   ``KEEL_SITE_DOWN_AFTER_S`` 300: how long a Cluster's engine must stay
                                            unreachable before dispatch counts the sites
                                            it serves as down and re-plans
=================== ======================= ============================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from keel.errors import ConfigError

CONFIG_FILE = "keel.yaml"
STATE_DIR = ".keel"
_KEYS = (
    "workspace",
    "database_url",
    "max_manifest_mb",
    "lineage_emit",
    "oidc_issuer",
    "oidc_audience",
    "oidc_jwks_file",
    "oidc_roles_claim",
    "data_root",
    "grid_data",
    "grid_source",
    "principal",
    "known_logs",
    "decision_retention_days",
    "site_down_after_s",
)


GRID_SOURCES = ("files", "electricitymaps", "watttime")
"""Where plans over a horizon read grid series (``grid_source``)."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Effective settings.

    Attributes:
        workspace: Folder that holds ``.keel/`` (the SQLite database, keys, local state).
        database_url: SQLAlchemy URL of the store.
        max_manifest_mb: Largest manifest file read, in MiB.
        oidc_issuer: Issuer of accepted OIDC JWTs (``""``: OIDC off).
        oidc_audience: Audience they must carry.
        oidc_jwks_file: Path of the issuer's JWKS (public keys), read when it changes.
        oidc_roles_claim: The claim that lists Keel roles.
        lineage_emit: Where Keel sends OpenLineage events about its own runs: ``""`` (nowhere),
            ``file:PATH`` or an ``http(s)://`` endpoint that takes ``POST /api/v1/lineage``.
        data_root: A folder that monitor data and policy module files may lie in, besides the
            manifest's folder; ``None`` for none.
        grid_data: The folder of hourly grid series (``<ZONE>_*.csv``) that plans over a
            horizon read; ``None``: every site keeps its annual figure, and the plan says so.
        grid_source: Where plans over a horizon read grid series: ``files`` (``grid_data``),
            ``electricitymaps`` or ``watttime`` (their APIs; keys from the environment).
        principal: Who the local CLI acts as (``user:NAME``), or ``""``.
        known_logs: The file of pinned ledger public keys.
        decision_retention_days: Days a decision record keeps its content (output,
            explanation, subject) before it is pruned.
        site_down_after_s: Seconds a Cluster's engine must stay unreachable before the sites
            it serves count as down (and the plan moves their work).
    """

    workspace: Path
    database_url: str
    max_manifest_mb: float
    lineage_emit: str = ""
    oidc_issuer: str = ""
    oidc_audience: str = ""
    oidc_jwks_file: str = ""
    oidc_roles_claim: str = "roles"
    data_root: Path | None = None
    grid_data: Path | None = None
    grid_source: str = "files"
    principal: str = ""
    known_logs: Path = Path("~/.config/keel/known_logs")
    decision_retention_days: float = 183.0
    site_down_after_s: float = 300.0

    @property
    def state_dir(self) -> Path:
        """``<workspace>/.keel``, where local state lives."""
        return self.workspace / STATE_DIR


def _config_folder(workspace: str | Path | None, cwd: Path, env: Mapping[str, str]) -> Path:
    """Where ``keel.yaml`` is read from (see the module's documentation)."""
    if workspace is not None:
        return Path(workspace).expanduser()
    if (cwd / CONFIG_FILE).is_file() or not env.get("KEEL_HOME"):
        return cwd
    return Path(env["KEEL_HOME"]).expanduser()


def _file_settings(folder: Path) -> dict[str, Any]:
    path = folder / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of settings")
    unknown = sorted(set(data) - set(_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown settings {unknown}; known: {list(_KEYS)}")
    return data


def load_settings(
    *,
    workspace: str | Path | None = None,
    database_url: str | None = None,
    max_manifest_mb: float | None = None,
    cwd: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Resolve settings from arguments, ``keel.yaml``, the environment and defaults.

    Args:
        workspace: Explicit workspace folder.
        database_url: Explicit database URL.
        max_manifest_mb: Explicit manifest size limit.
        cwd: The current folder; ``Path.cwd()`` when ``None``.
        environ: Environment variables; ``os.environ`` when ``None``.

    Returns:
        The effective settings.

    Raises:
        ConfigError: If ``keel.yaml`` or a value is invalid.
    """
    cwd = cwd or Path.cwd()
    env = os.environ if environ is None else environ
    file = _file_settings(_config_folder(workspace, cwd, env))

    def pick(explicit: Any, key: str, env_name: str) -> Any:
        if explicit is not None:
            return explicit
        if file.get(key) is not None:
            return file[key]
        return env.get(env_name) or None

    ws = Path(pick(workspace, "workspace", "KEEL_HOME") or cwd).expanduser()
    if ws.exists() and not ws.is_dir():
        raise ConfigError(f"workspace {ws} is not a folder")
    url = pick(database_url, "database_url", "KEEL_DATABASE_URL")
    if url is None:
        url = f"sqlite:///{(ws / STATE_DIR / 'keel.db').resolve()}"
    raw_mb = pick(max_manifest_mb, "max_manifest_mb", "KEEL_MAX_MANIFEST_MB") or 16
    try:
        mb = float(raw_mb)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"max_manifest_mb must be a number, got {raw_mb!r}") from exc
    if not 0 < mb <= 4096:
        raise ConfigError(f"max_manifest_mb must be between 0 and 4096, got {mb}")
    emit = str(pick(None, "lineage_emit", "KEEL_LINEAGE_EMIT") or "")
    if emit and not emit.startswith(("file:", "http://", "https://")):
        raise ConfigError(f"lineage_emit must be file:PATH or an http(s):// URL, got {emit!r}")
    oidc = {
        key: str(pick(None, key, f"KEEL_{key.upper()}") or "")
        for key in ("oidc_issuer", "oidc_audience", "oidc_jwks_file", "oidc_roles_claim")
    }
    if oidc["oidc_issuer"] and not (oidc["oidc_audience"] and oidc["oidc_jwks_file"]):
        raise ConfigError("oidc_issuer needs oidc_audience and oidc_jwks_file too")
    raw_root = pick(None, "data_root", "KEEL_DATA_ROOT")
    data_root = Path(str(raw_root)).expanduser().resolve() if raw_root else None
    if data_root is not None and not data_root.is_dir():
        raise ConfigError(f"data_root {data_root} is not a folder")
    raw_grid = pick(None, "grid_data", "KEEL_GRID_DATA")
    grid_data = Path(str(raw_grid)).expanduser().resolve() if raw_grid else None
    if grid_data is not None and not grid_data.is_dir():
        raise ConfigError(f"grid_data {grid_data} is not a folder")
    grid_source = str(pick(None, "grid_source", "KEEL_GRID_SOURCE") or "files")
    if grid_source not in GRID_SOURCES:
        raise ConfigError(
            f"grid_source must be one of {', '.join(GRID_SOURCES)}, got {grid_source!r}"
        )
    config_home = Path(env.get("XDG_CONFIG_HOME") or "~/.config").expanduser()
    known = pick(None, "known_logs", "KEEL_KNOWN_LOGS") or config_home / "keel" / "known_logs"
    days = _number(pick(None, "decision_retention_days", "KEEL_DECISION_RETENTION_DAYS"),
                   "decision_retention_days", 183, (1, 36_500))  # fmt: skip
    down_after_s = _number(pick(None, "site_down_after_s", "KEEL_SITE_DOWN_AFTER_S"),
                           "site_down_after_s", 300, (0, 86_400))  # fmt: skip
    return Settings(
        workspace=ws.resolve(),
        database_url=str(url),
        max_manifest_mb=mb,
        lineage_emit=emit,
        oidc_issuer=oidc["oidc_issuer"],
        oidc_audience=oidc["oidc_audience"],
        oidc_jwks_file=oidc["oidc_jwks_file"],
        oidc_roles_claim=oidc["oidc_roles_claim"] or "roles",
        data_root=data_root,
        grid_data=grid_data,
        grid_source=grid_source,
        principal=str(pick(None, "principal", "KEEL_PRINCIPAL") or ""),
        known_logs=Path(str(known)).expanduser(),
        decision_retention_days=days,
        site_down_after_s=down_after_s,
    )


def _number(raw: object, name: str, default: float, bounds: tuple[float, float]) -> float:
    """A numeric setting within bounds (``default`` when unset)."""
    if raw is None or raw == "":
        return default
    try:
        value = float(str(raw))
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    low, high = bounds
    if not low <= value <= high:
        raise ConfigError(f"{name} must be {low:,g} to {high:,g}, got {value:g}")
    return value
