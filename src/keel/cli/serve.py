"""``keel serve``: the HTTP API under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from keel.api.app import create_app
from keel.cli.context import state


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8470,
) -> None:
    """Serve the HTTP API: POST /api/v1/lineage (OpenLineage, as Marquez), lineage queries."""
    app = create_app(state(ctx).workspace())
    typer.echo(f"keel API on http://{host}:{port} (OpenLineage: POST /api/v1/lineage)")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
