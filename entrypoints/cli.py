"""The ``users-service`` command line: serve the API, migrate, check, and move users in and out in bulk."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from alembic.util import CommandError

from adapters.sqlalchemy import migrations
from application.errors import StorageUnavailable
from entrypoints.container import Container
from entrypoints.logs import configure_logging
from entrypoints.settings import ConfigurationError, Settings, load_settings

app = typer.Typer(
    name="users-service",
    help="The users service: REST API for user management, and its operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_CONFIGURATION = 2


def _settings() -> Settings:
    """Settings from the environment; on a bad configuration, one clear line per variable and exit code 2."""
    try:
        settings = load_settings()
    except ConfigurationError as error:
        for problem in error.problems:
            typer.echo(f"configuration error: {problem}", err=True)
        raise typer.Exit(EXIT_CONFIGURATION) from None
    configure_logging(settings)
    return settings


@app.command()
def serve(
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations before serving.")] = True,
) -> None:
    """Serve the API on HOST:PORT until SIGTERM or Ctrl-C (then shut down gracefully, exit 0)."""
    from entrypoints.server import serve as run_server

    settings = _settings()
    if migrate and settings.storage == "sql":
        migrations.upgrade(settings.database_url)
    typer.echo(f"serving on http://{settings.host}:{settings.port} (API description at /docs)", err=True)
    run_server(settings)


@app.command()
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision: head, base, or a revision id.")] = "head",
) -> None:
    """Bring the database schema to a revision (safe to run from several replicas at once on PostgreSQL)."""
    settings = _settings()
    if settings.storage == "memory":
        typer.echo("memory:// has no schema to migrate")
        return
    try:
        migrations.migrate_to(settings.database_url, revision)
    except CommandError as error:
        typer.echo(f"migrate: {error}", err=True)
        raise typer.Exit(1) from None
    after, head = migrations.revisions(settings.database_url)
    typer.echo(f"database at revision {after or 'base'} (newest: {head})")


@app.command()
def check() -> None:
    """Check the configuration, that the database answers, and that its schema is current (exit 0 or 1)."""
    settings = _settings()
    typer.echo("configuration: ok")
    if settings.storage == "memory":
        typer.echo("database: memory:// (nothing to reach, no schema)")
        return
    container = Container()
    container.settings.override(settings)

    async def reach() -> None:
        try:
            await container.readiness().check()
        finally:
            await container.engine().dispose()

    try:
        asyncio.run(reach())
    except StorageUnavailable:
        typer.echo("database: unreachable", err=True)
        raise typer.Exit(1) from None
    typer.echo("database: reachable")
    current, head = migrations.revisions(settings.database_url)
    if current != head:
        typer.echo(
            f"migrations: database at {current or 'base'}, code at {head}: run `users-service migrate`", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"migrations: current ({head})")


def main() -> None:
    app()
