"""``keel serve``: the HTTP API and dashboard under uvicorn; ``keel token``: API keys."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from keel.cli.context import state
from keel.cli.estate import Format, Out
from keel.cli.output import machine, table
from keel.errors import UserError
from keel.operations import DEFAULT_KEY_DAYS

app = typer.Typer(help="API keys: create (shown once), list, revoke.")


def serve(
    ctx: typer.Context,
    *,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8470,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    rate_limit: Annotated[
        float, typer.Option(min=0.1, help="Requests per second per principal (burst 2x).")
    ] = 50.0,
    auth_failure_rate: Annotated[
        float,
        typer.Option(
            min=0.1, help="Failed sign-ins per second per client address (burst 4x), then 429."
        ),
    ] = 5.0,
    shared_rate_limits: Annotated[
        bool | None,
        typer.Option(
            "--shared-rate-limits/--local-rate-limits",
            help="Keep rate limits in the database, one limit for every server and worker on"
            " it (default on PostgreSQL), or in each process (default on SQLite).",
        ),
    ] = None,
    tls_cert: Annotated[str | None, typer.Option(help="TLS certificate (PEM).")] = None,
    tls_key: Annotated[str | None, typer.Option(help="TLS private key (PEM).")] = None,
) -> None:
    """Serve the API (/v1, OpenAPI at /v1/openapi.json) and the dashboard (/ui/)."""
    state(ctx).local("serve")
    import uvicorn  # the web stack loads only for this command

    from keel.api.app import WORKER_SETTINGS, create_app, worker_settings
    from keel.api.security import ApiSettings

    workspace = state(ctx).workspace()
    scheme = "https" if tls_cert else "http"
    typer.echo(f"keel API and dashboard on {scheme}://{host}:{port}/ui/ (sign in with an API key)")
    tls = {"ssl_certfile": tls_cert, "ssl_keyfile": tls_key} if tls_cert else {}
    settings = ApiSettings(
        rate_per_s=rate_limit,
        burst=int(2 * rate_limit),
        failures_per_s=auth_failure_rate,
        failure_burst=int(4 * auth_failure_rate),
        shared_limits=shared_rate_limits,
    )
    if workers == 1:
        api = create_app(workspace, settings)
        uvicorn.run(
            api,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            **tls,  # type: ignore[arg-type]
        )
        return
    os.environ[WORKER_SETTINGS] = worker_settings(workspace, settings)  # uvicorn spawns them
    workspace.close()
    uvicorn.run(
        "keel.api.app:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        **tls,  # type: ignore[arg-type]
    )


@app.command("create")
def create_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="A unique name (lowercase, digits, '-').")],
    role: Annotated[
        str | None,
        typer.Option(help="viewer, operator, approver or admin (agent with --agent)."),
    ] = None,
    expires: Annotated[
        str, typer.Option(help="Lifetime: 30d, 12h, or never.")
    ] = f"{DEFAULT_KEY_DAYS:g}d",
    agent: Annotated[
        str | None,
        typer.Option(help="An agent's own key: it opens only that agent's MCP gateway."),
    ] = None,
) -> None:
    """Create an API key (an admin); it is printed once and only its hash is stored."""
    from keel.service import tokens

    if role is None and agent is None:
        raise UserError("give --role (viewer, operator, approver, admin) or --agent NAME")
    days = None if expires.strip() == "never" else tokens.parse_duration_days(expires)
    made = state(ctx).ops().create_token(name, role or tokens.AGENT_ROLE, days, agent=agent)
    token = made.token
    until = token.expires_at.isoformat(timespec="seconds") if token.expires_at else "never"
    typer.echo(made.key)
    typer.echo(
        f"token {token.name}: role {token.role}, acts as {token.principal}, expires {until}."
        " Store the key now: it cannot be shown again.",
        err=True,
    )


@app.command("list")
def list_command(ctx: typer.Context, output: Out = Format.table) -> None:
    """List API keys (never their secrets)."""
    found = state(ctx).ops().tokens()
    if output is not Format.table:
        typer.echo(machine(found, output))
        return
    rows = [
        [t.name, t.role, t.state, t.created_at.isoformat(timespec="seconds"),
         t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never"]
        for t in found.tokens
    ]  # fmt: skip
    typer.echo(table(["NAME", "ROLE", "STATE", "CREATED", "EXPIRES"], rows))


@app.command("revoke")
def revoke_command(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The token's name.")]
) -> None:
    """Revoke an API key at once (an admin)."""
    token = state(ctx).ops().revoke_token(name)
    typer.echo(f"token {token.name} revoked")
