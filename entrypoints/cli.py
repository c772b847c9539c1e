"""The ``users-service`` command line: serve the API, migrate, check, and move users in and out in bulk."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, BinaryIO, TextIO

import typer
from alembic.util import CommandError
from dependency_injector.ext.starlette import Lifespan

from adapters.sqlalchemy import migrations
from adapters.sqlalchemy.errors import is_unavailable
from application.bulk_export import export_users
from application.bulk_import import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE, ImportReport, import_users
from application.errors import StorageUnavailable
from entrypoints.bulk_files import FileFormat, MalformedFile, UnknownFormat, format_of, read_rows, user_to_json_line
from entrypoints.bulk_progress import ImportProgress, summary
from entrypoints.bulk_rejects import start_rejects_file, write_rejects
from entrypoints.collector import freeze_startup_objects
from entrypoints.container import Container
from entrypoints.logs import configure_logging
from entrypoints.migration_summary import migration_summary
from entrypoints.settings import ConfigurationError, Settings, load_settings
from entrypoints.tokens import READ_SCOPE, SCOPES, mint_token, verifier_from_settings

app = typer.Typer(
    name="users-service",
    help="The users service: REST API for user management, and its operations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_CONFIGURATION = 2


class _Output:
    """What the options before the command ask of its output; ``options`` sets them on every run."""

    verbose = False


@app.callback()
def options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also show the libraries' log lines below WARNING (Alembic's, for one); LOG_LEVEL=debug shows "
            "them too.",
        ),
    ] = False,
) -> None:
    _Output.verbose = verbose


def _settings(*, serving: bool = False) -> Settings:
    """Settings from the environment; on a bad configuration, one clear line per variable and exit code 2.
    ``serving``: the API's token keys must be usable too."""
    try:
        settings = load_settings()
        if serving:
            verifier_from_settings(settings)
    except ConfigurationError as error:
        for problem in error.problems:
            typer.echo(f"configuration error: {problem}", err=True)
        raise typer.Exit(EXIT_CONFIGURATION) from None
    # serve's output is a log stream; the other commands write for people (library lines under --verbose).
    configure_logging(settings, "stdout" if serving else "stderr", library_detail=serving or _Output.verbose)
    return settings


@contextlib.asynccontextmanager
async def _container(settings: Settings) -> AsyncIterator[Container]:
    """The composition root for one command run, its storage's resources shut down at the end."""
    container = Container()
    container.settings.override(settings)
    async with Lifespan(container.storage()):
        yield container


@app.command()
def serve(
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations before serving.")] = True,
) -> None:
    """Serve the API on HOST:PORT until SIGTERM or Ctrl-C (then shut down gracefully, exit 0)."""
    from entrypoints.server import serve as run_server

    settings = _settings(serving=True)
    if settings.auth_disabled:
        logging.getLogger(__name__).warning("AUTH_DISABLED is set: anyone who can reach the port can change users")
    if migrate and settings.storage == "sql":
        migrations.upgrade(settings.database_url)
    # A log line, not a bare echo: with LOG_FORMAT=json every line on stdout stays one JSON object.
    logging.getLogger(__name__).info("serving on http://%s:%d (API description at /docs)", settings.host, settings.port)
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
        migration = migrations.migrate_to(settings.database_url, revision)
    except CommandError as error:
        typer.echo(f"migrate: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(migration_summary(migration))


@app.command()
def token(
    scope: Annotated[
        list[str] | None, typer.Option(help=f"A scope to grant, repeatable ({', '.join(SCOPES)}); default users:read.")
    ] = None,
    subject: Annotated[str, typer.Option(help="Whom the token speaks for (the sub claim).")] = "developer",
    lifetime: Annotated[int, typer.Option(min=60, max=30 * 86_400, help="Seconds until it expires.")] = 3600,
) -> None:
    """Print a signed token for local development and tests: HS256 with the configured AUTH_JWT_SECRET (or
    AUTH_JWT_SECRET_FILE). Tokens for RS256 keys come from your identity provider, not from here."""
    settings = _settings()
    secret = settings.auth_key_sources().get("secret")
    if secret is None:
        typer.echo(
            "configuration error: AUTH_JWT_SECRET: token needs the HS256 secret (AUTH_JWT_SECRET or "
            "AUTH_JWT_SECRET_FILE)",
            err=True,
        )
        raise typer.Exit(EXIT_CONFIGURATION)
    scopes = scope or [READ_SCOPE]
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        typer.echo(f"token: unknown scope {', '.join(unknown)} (known: {', '.join(SCOPES)})", err=True)
        raise typer.Exit(EXIT_CONFIGURATION)
    minted = mint_token(
        secret,
        subject=subject,
        scopes=scopes,
        audience=settings.auth_jwt_audience,
        issuer=settings.auth_jwt_issuer,
        lifetime_seconds=lifetime,
    )
    typer.echo(minted)


@app.command()
def check() -> None:
    """Check the configuration, that the database answers, and that its schema is current (exit 0 or 1)."""
    settings = _settings()
    typer.echo("configuration: ok")
    if settings.storage == "memory":
        typer.echo("database: memory:// (nothing to reach, no schema)")
        return

    async def reach() -> None:
        async with _container(settings) as container:
            await container.storage().readiness().check()

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


@contextlib.contextmanager
def _quiet_alembic() -> Iterator[None]:
    """Alembic says at INFO which dialect it talks to; a bulk command's output has no use for that."""
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    alembic_log.setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    try:
        yield
    finally:
        alembic_log.setLevel(level)


def _require_current_schema(settings: Settings) -> None:
    """Exit 1 with one clear line when the database does not answer or its schema is not the code's."""
    if settings.storage == "memory":
        return
    try:
        with _quiet_alembic():
            current, head = migrations.revisions(settings.database_url)
    except Exception as error:
        if not is_unavailable(error):
            raise
        typer.echo("database: unreachable", err=True)
        raise typer.Exit(1) from None
    if current != head:
        typer.echo(f"database at revision {current or 'base'}, code at {head}: run `users-service migrate`", err=True)
        raise typer.Exit(1)


@app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV or JSON Lines file to read.")
    ],
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", case_sensitive=False, help="Default: from the extension (.csv, .jsonl, .ndjson)."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH_SIZE, help="Users written per transaction.")
    ] = DEFAULT_BATCH_SIZE,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, duplicates included, and write nothing.")
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            metavar="FILE",
            dir_okay=False,
            help='Write every rejected row to FILE, as JSON Lines: {"line": 7, "reason": "...", "text": "..."}.',
        ),
    ] = None,
) -> None:
    """Register the users of a CSV or JSON Lines file, one transaction per batch.

    CSV: a header row naming username and email, optionally full_name and is_active (true/false/1/0/yes/no,
    empty means true); an empty full_name means none. JSON Lines: one object per line with the same fields.
    The fields id, created_at, updated_at and version (as `export` writes them) are ignored.

    Each row is checked by the API's rules: a row that breaks one is rejected, with its line number and
    reason, and the others go on; so is a line that cannot be read (invalid JSON or UTF-8, a CSV row with the
    wrong number of fields). A user whose username (any case) or email exists already, or appears earlier in
    the file, is skipped as a duplicate: importing a file twice creates nothing the second time. A CSV file
    without a usable header row is refused whole.

    The first 20 rejected rows are listed, then the counts; --rejects FILE gets them all.

    Exit status: 0 when every row was created or skipped as a duplicate; 1 when a row was rejected, the file
    cannot be read or the database does not answer; 2 for a usage or configuration error.
    """
    settings = _settings()
    try:
        chosen_format = format_of(file, file_format)
    except UnknownFormat as error:
        raise typer.BadParameter(str(error), param_hint="'--format'") from None
    if rejects is not None:
        try:
            start_rejects_file(rejects, file)
        except (OSError, ValueError) as error:
            raise typer.BadParameter(str(error), param_hint="'--rejects'") from None
    _require_current_schema(settings)
    freeze_startup_objects()  # the batches would otherwise have start-up's objects rescanned again and again
    report = ImportReport(dry_run=dry_run)  # what was committed so far, should the import stop half-way

    async def run(stream: BinaryIO, progress: ImportProgress) -> None:
        nonlocal report

        def each_batch(so_far: ImportReport) -> None:
            nonlocal report
            report = so_far
            progress.update(stream.tell(), so_far)

        async with _container(settings) as container:
            report = await import_users(
                container.storage().unit_of_work(),
                read_rows(stream, chosen_format),
                batch_size=batch_size,
                dry_run=dry_run,
                on_batch=each_batch,
            )

    failure = None
    try:
        with file.open("rb") as stream, ImportProgress(os.fstat(stream.fileno()).st_size) as progress:
            asyncio.run(run(stream, progress))
    except MalformedFile as error:
        failure = f"cannot import {file.name}, {error}: nothing was written"
    except StorageUnavailable:
        failure = "import stopped: the database does not answer (the batches counted above were written)"
    if rejects is not None:
        write_rejects(rejects, report.rejected)
    for line in summary(report, rejects_file=rejects):
        typer.echo(line)
    if failure is not None:
        typer.echo(failure, err=True)
    if failure is not None or report.rejected:
        raise typer.Exit(1)


@app.command()
def export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="The file to write (default: stdout).")
    ] = None,
) -> None:
    """Write every user as JSON Lines, oldest first, with the API's fields: id, username, email, full_name,
    is_active, created_at, updated_at, version. `import` reads it back (giving new ids, timestamps, versions).

    Users are read a page at a time, never all at once; this is no snapshot (users registered meanwhile may
    appear). A file is written under a temporary name and only renamed to FILE once complete.
    """
    settings = _settings()
    _require_current_schema(settings)

    async def write_all(sink: TextIO) -> int:
        count = 0
        async with _container(settings) as container:
            async for user in export_users(container.storage().user_queries()):
                sink.write(user_to_json_line(user))
                count += 1
        return count

    try:
        if output is None:
            count = asyncio.run(write_all(sys.stdout))
            sys.stdout.flush()
        else:
            partial = output.with_name(f".{output.name}.partial")
            try:
                with partial.open("w", encoding="utf-8", newline="\n") as sink:
                    count = asyncio.run(write_all(sink))
                partial.replace(output)
            finally:
                partial.unlink(missing_ok=True)
    except StorageUnavailable:
        typer.echo("export stopped: the database does not answer", err=True)
        raise typer.Exit(1) from None
    except BrokenPipeError:
        # The reader went away (`export | head`): nothing more to write, and nothing to complain about on exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise typer.Exit(1) from None
    except OSError as error:  # the output's directory is missing, the disk is full, ...
        typer.echo(f"export stopped: cannot write {output or 'stdout'}: {error.strerror}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"exported {count} users" + ("" if output is None else f" to {output}"), err=True)


def main() -> None:
    app()
