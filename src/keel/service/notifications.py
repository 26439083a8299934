"""Where alerts and monitor actions are told: the workspace's alert log, or a webhook.

Both the monitor's alert routes and ``notify`` actions send through here, so both log the same
way, time out the same way and report a failed webhook the same way: by scheme and host only,
since a webhook URL often carries its secret in its path or query (``/hooks/T0/B0/XXXX``) and
the report ends up in lists and the ledger.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from typing import Any

from keel.errors import UserError
from keel.service.workspace import Workspace

WEBHOOK_TIMEOUT_S = 5.0
ALERT_LOG = "alerts.log"
"""JSON lines under the workspace's ``.keel``."""


def log_alert(workspace: Workspace, payload: dict[str, Any]) -> None:
    """Append one JSON line, stamped with the time, to the workspace's alert log."""
    log = workspace.settings.state_dir / ALERT_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"at": datetime.now(UTC).isoformat(), **payload}) + "\n")


def where(url: str) -> str:
    """A webhook URL as reports show it: scheme and host, never the path or query."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{f':{parts.port}' if parts.port else ''}"


def post(url: str, payload: dict[str, Any]) -> None:
    """POST a JSON payload to a webhook (manifests allow http(s) URLs only).

    Raises:
        UserError: If it does not answer with success within :data:`WEBHOOK_TIMEOUT_S`, naming
            the webhook by :func:`where` only.
    """
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as response:
            response.read()
    except OSError as error:
        reason = getattr(error, "reason", None) or getattr(error, "code", None) or error
        raise UserError(f"webhook at {where(url)}: {reason}") from None


__all__ = ["log_alert", "post", "where"]
