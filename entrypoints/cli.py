"""The ``users-service`` command line: serve the API, migrate, check, and move users in and out in bulk."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, BinaryIO, NoReturn, ParamSpec, TextIO

import typer
from alembic.util import CommandError
from dependency_injector.ext.starlette import Lifespan

from adapters.sqlalchemy import migrations
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
from entrypoints.startup_failures import (
    EXIT_CODES_HELP,
    EXIT_CONFIGURATION,
    EXIT_DATABASE,
    Failure,
    database_failure,
    schema_failure,
)
from entrypoints.tokens import READ_SCOPE, SCOPES, mint_token, verifier_from_settings

app = typer.Typer(
    name="users-service",
    help="The users service: REST API for user management, and its operations.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

log = logging.getLogger(__name__)
_Parameters = ParamSpec("_Parameters")


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


def _settings(*, serving: bool = False, token_keys: bool = False) -> Settings:
    """Settings from the environment; on a bad configuration, one clear line per variable and exit code 2.
    ``serving`` (logs to stdout) and ``token_keys``: the API's token keys must be usable too."""
    try:
        settings = load_settings()
        if serving or token_keys:
            verifier_from_settings(settings)
    except ConfigurationError as error:
        for problem in error.problems:
            typer.echo(f"configuration error: {problem}", err=True)
        raise typer.Exit(EXIT_CONFIGURATION) from None
    # serve's output is a log stream; the other commands write for people (library lines under --verbose).
    configure_logging(settings, "stdout" if serving else "stderr", library_detail=serving or _Output.verbose)
    return settings


def _exit_with(failure: Failure, label: str, error: BaseException | None = None) -> NoReturn:
    """Two lines on stderr and exit code 3; the traceback only at LOG_LEVEL=debug."""
    if error is not None:
        log.debug("%s: %s", label, type(error).__name__, exc_info=error)
    for line in failure.lines(label):
        typer.echo(line, err=True)
    raise typer.Exit(EXIT_DATABASE)


def _closed_loop_at_debug(hook: threading.ExceptHookArgs) -> None:
    """aiosqlite's worker thread may hand a failed connection's result to an event loop that has just closed
    (omnilib/aiosqlite#241): its "Event loop is closed" would add a traceback to the two lines."""
    if isinstance(hook.exc_value, RuntimeError) and str(hook.exc_value) == "Event loop is closed":
        log.debug("a worker thread outlived its event loop", exc_info=hook.exc_value)
        return
    threading.__excepthook__(hook)


def _exit_if_database_failure(error: Exception, settings: Settings, label: str) -> None:
    """Exit as ``_exit_with`` when ``error`` says the database cannot be used; return for any other error."""
    failure = database_failure(error, settings.database_url, connect_timeout=settings.db_connect_timeout)
    if failure is not None:
        _exit_with(failure, label, error)


def _database_failures_explained(command: Callable[_Parameters, None]) -> Callable[_Parameters, None]:
    """Run a command; should the database refuse it (missing, unreachable, wrong login), exit as ``_exit_with``
    instead of printing a traceback."""

    @functools.wraps(command)
    def explained(*args: _Parameters.args, **kwargs: _Parameters.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as error:
            # The command read the same settings a moment ago: they load again.
            _exit_if_database_failure(error, load_settings(), command.__name__.rstrip("_"))
            raise

    return explained


@contextlib.asynccontextmanager
async def _container(settings: Settings) -> AsyncIterator[Container]:
    """The composition root for one command run, its storage's resources shut down at the end."""
    container = Container()
    container.settings.override(settings)
    async with Lifespan(container.storage()):
        yield container


@app.command()
@_database_failures_explained
def serve(
    migrate: Annotated[bool, typer.Option(help="Apply pending migrations before serving.")] = True,
) -> None:
    """Serve the API on HOST:PORT until SIGTERM or Ctrl-C (then shut down gracefully, exit 0).

    Exit 3 when the database cannot be migrated. With --no-migrate, exit 3 when the schema is older than the
    code's. A database that does not answer then only gets a warning: the API starts, and /readyz answers 503
    until it does. A schema a newer release migrated is used as it is, with a warning.
    """
    from entrypoints.server import CannotListen
    from entrypoints.server import serve as run_server

    settings = _settings(serving=True)
    if settings.auth_disabled:
        logging.getLogger(__name__).warning("AUTH_DISABLED is set: anyone who can reach the port can change users")
    if migrate and settings.storage == "sql":
        _migrate_for_serving(settings)
    elif settings.storage == "sql":
        _require_current_schema_unless_unreachable(settings)
    # A log line, not a bare echo: with LOG_FORMAT=json every line on stdout stays one JSON object.
    logging.getLogger(__name__).info("serving on http://%s:%d (API description at /docs)", settings.host, settings.port)
    try:
        run_server(settings)
    except CannotListen as error:
        typer.echo(f"serve: cannot listen on {error} (the log above says why)", err=True)
        typer.echo("hint: choose another HOST or PORT, or stop the process that holds it", err=True)
        raise typer.Exit(EXIT_CONFIGURATION) from None


@app.command()
@_database_failures_explained
def migrate(
    revision: Annotated[str, typer.Option(help="Target revision: head, base, or a revision id.")] = "head",
) -> None:
    """Bring the database schema to a revision (safe to run from several replicas at once on PostgreSQL)."""
    settings = _settings()
    if settings.storage == "memory":
        typer.echo("memory:// has no schema to migrate")
        return
    try:
        migration = migrations.migrate_to(settings.database_url, revision, connect_timeout=settings.db_connect_timeout)
    except CommandError as error:
        current, _ = migrations.revisions(settings.database_url, connect_timeout=settings.db_connect_timeout)
        reason = str(error)
        if migrations.is_newer_than_code(current):
            reason = f"the database is at revision {current}, which this code does not have (a newer release"
            reason += " migrated it); nothing was changed"
        typer.echo(f"migrate: {reason}", err=True)
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
    """Check what `serve` needs: the configuration (token keys included), that the database answers, and that
    its schema is current. Exit 0 when all is well, 2 for the configuration, 3 for the database."""
    settings = _settings(token_keys=True)
    typer.echo("configuration: ok")
    if settings.storage == "memory":
        typer.echo("database: memory:// (nothing to reach, no schema)")
        return

    async def reach() -> None:
        async with _container(settings) as container:
            await container.storage().readiness().check()

    try:
        asyncio.run(reach())
    except Exception as error:
        _exit_if_database_failure(error, settings, "database")
        raise
    typer.echo("database: reachable")
    current, head = migrations.revisions(settings.database_url, connect_timeout=settings.db_connect_timeout)
    if current != head and migrations.is_newer_than_code(current):
        typer.echo(f"migrations: the database is at {current}, newer than this code's {head} (serve uses it as it is)")
    elif current != head:
        _exit_with(schema_failure(settings.database_url, current, head), "migrations")
    else:
        typer.echo(f"migrations: current ({head})")


def _migrate_for_serving(settings: Settings) -> None:
    """Apply pending migrations; a schema that a newer release has migrated past this code's is served as it is
    (a rolling update: the new release's migrations keep the old code working)."""
    try:
        migrations.upgrade(settings.database_url, connect_timeout=settings.db_connect_timeout)
    except CommandError:
        current, head = migrations.revisions(settings.database_url, connect_timeout=settings.db_connect_timeout)
        if not migrations.is_newer_than_code(current):
            raise
        _warn_newer_schema(current, head)


def _warn_newer_schema(current: str | None, head: str | None) -> None:
    log.warning("the database is at revision %s, newer than this code's %s: using it as it is", current, head)


def _require_current_schema(settings: Settings) -> None:
    """Exit 3 with two clear lines when the schema is older than the code's; a newer one (a newer release
    migrated it) gets a warning. A database that does not answer raises: the command's
    ``_database_failures_explained`` tells why."""
    if settings.storage == "memory":
        return
    current, head = migrations.revisions(settings.database_url, connect_timeout=settings.db_connect_timeout)
    if current != head and migrations.is_newer_than_code(current):
        _warn_newer_schema(current, head)
    elif current != head:
        _exit_with(schema_failure(settings.database_url, current, head), "database")


def _require_current_schema_unless_unreachable(settings: Settings) -> None:
    """As ``_require_current_schema``, but a database that does not answer only earns a warning: the server
    starts anyway and answers 503 until the database is back."""
    try:
        _require_current_schema(settings)
    except typer.Exit:
        raise
    except Exception as error:
        failure = database_failure(error, settings.database_url, connect_timeout=settings.db_connect_timeout)
        if failure is None:
            raise
        log.warning("%s; serving anyway, /readyz answers 503 until it answers", failure.lines("database")[0])


@app.command("import")
@_database_failures_explained
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
    cannot be read or the database stops answering part-way; 2 for a usage or configuration error; 3 when the
    database cannot be reached or its schema is not current before the import starts.
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
@_database_failures_explained
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
    threading.excepthook = _closed_loop_at_debug
    app()
