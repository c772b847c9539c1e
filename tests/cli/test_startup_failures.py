"""A command that cannot start says so in at most two lines, as an operator reads them: what failed, where
(the password hidden), why, and what to do, with exit code 2 (configuration) or 3 (database); the traceback
only at LOG_LEVEL=debug. Each test runs the installed command, off a terminal."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.auth import TEST_SECRET
from tests.server_process import ROOT, USERS_SERVICE, free_port, running_server

COMMANDS = ["serve", "migrate", "check", "import", "export"]


def _run(command: str, database_url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``command`` with a clean environment (nothing from the developer's shell or a .env file), the test key,
    and ``database_url``; serve on a free port, should it start after all."""
    arguments = [command]
    if command == "import":
        users = tmp_path / "users.csv"
        users.write_text("username,email\nalice,alice@example.com\n")
        arguments.append(str(users))
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AUTH_JWT_SECRET": TEST_SECRET,
        "DATABASE_URL": database_url,
        "DB_CONNECT_TIMEOUT": "2",
        "PORT": str(free_port()),
    }
    return subprocess.run(
        [USERS_SERVICE, *arguments],
        env=environment | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _assert_two_lines(result: subprocess.CompletedProcess[str], exit_code: int, *shown: str) -> None:
    assert result.returncode == exit_code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    for text in shown:
        assert text in result.stderr, result.stderr


def _server_with(server_url: str, *, username: str | None = None, database: str | None = None) -> tuple[str, str]:
    """(the test server's URL with another user or database, its ``host:port``)."""
    url = make_url(server_url)
    changed = url.set(username=username or url.username, database=database or url.database)
    return changed.render_as_string(hide_password=False), f"{url.host}:{url.port or 5432}"


@pytest.mark.postgres
@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_database_says_how_to_create_it(command: str, postgres_server_url: str, tmp_path: Path) -> None:
    url, host_port = _server_with(postgres_server_url, database="users_test_missing")
    user = make_url(url).username
    shown_user = f"{user}:***" if make_url(url).password else user  # the password is hidden, not left out

    result = _run(command, url, tmp_path)

    label = "database" if command == "check" else command
    _assert_two_lines(
        result,
        3,
        f"{label}: cannot connect to postgresql://{shown_user}",
        f'@{host_port}/users_test_missing: database "users_test_missing" does not exist',
        f"createdb -h {host_port.replace(':', ' -p ')} -U {user} users_test_missing",
        "users-service migrate",
    )
    password = make_url(url).password
    if password:
        assert f":{password}@" not in result.stderr + result.stdout  # the user name may equal it (CI: postgres)


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["serve", "migrate", "check"])
def test_an_unknown_user_says_to_check_it(command: str, postgres_server_url: str, tmp_path: Path) -> None:
    url, host_port = _server_with(postgres_server_url, username="users_test_nobody")

    result = _run(command, url, tmp_path)

    # Trust authentication says the role does not exist; password authentication does not tell.
    shown_user = "users_test_nobody:***@" if make_url(url).password else "users_test_nobody@"
    if "password authentication failed" in result.stderr:
        reason = ('password authentication failed for user "users_test_nobody"', "check the password")
    else:
        reason = ('role "users_test_nobody" does not exist', "the user name")
    _assert_two_lines(result, 3, f"{shown_user}{host_port}/", *reason)


@pytest.mark.parametrize("command", COMMANDS)
def test_a_port_nobody_listens_on_says_connection_refused(command: str, tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://operator:hunter2-secret@127.0.0.1:{port}/users"

    result = _run(command, url, tmp_path)

    _assert_two_lines(
        result,
        3,
        f"cannot connect to postgresql://operator:***@127.0.0.1:{port}/users: connection refused",
        f"hint: check the port in DATABASE_URL and that PostgreSQL runs there: `pg_isready -h 127.0.0.1 -p {port}",
    )
    assert "hunter2-secret" not in result.stderr + result.stdout


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word: a database that does not answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("command", ["migrate", "check"])
def test_a_database_that_does_not_answer_is_given_up_on_after_the_connect_timeout(
    command: str, silent_port: int, tmp_path: Path
) -> None:
    url = f"postgresql://operator@127.0.0.1:{silent_port}/users"

    result = _run(command, url, tmp_path, DB_CONNECT_TIMEOUT="1")

    _assert_two_lines(result, 3, f"127.0.0.1:{silent_port}/users: no answer within 1 s", "DB_CONNECT_TIMEOUT")


def test_an_unknown_host_says_to_check_it(tmp_path: Path) -> None:
    result = _run("migrate", "postgresql://operator@db.invalid:5432/users", tmp_path)

    _assert_two_lines(result, 3, "db.invalid:5432/users: the host name db.invalid is not known", "check the host")


@pytest.mark.sqlite
@pytest.mark.parametrize("command", COMMANDS)
def test_a_sqlite_file_in_a_missing_directory_says_to_create_it(command: str, tmp_path: Path) -> None:
    directory = tmp_path / "missing"

    result = _run(command, f"sqlite:///{directory / 'users.db'}", tmp_path)

    _assert_two_lines(
        result,
        3,
        f"cannot open SQLite file {directory / 'users.db'}: the directory {directory} does not exist",
        f"mkdir -p {directory}",
    )


@pytest.mark.sqlite
def test_serve_without_migrating_refuses_a_schema_that_is_not_current(tmp_path: Path) -> None:
    result = subprocess.run(
        [USERS_SERVICE, "serve", "--no-migrate"],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AUTH_JWT_SECRET": TEST_SECRET,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}",
            "PORT": str(free_port()),
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    _assert_two_lines(result, 3, "schema not current", "at revision base", "hint: run `users-service migrate`")


def test_serve_without_migrating_starts_while_the_database_is_down_and_answers_503() -> None:
    url = f"postgresql://operator@127.0.0.1:{free_port()}/users"

    with running_server({"DATABASE_URL": url, "LOG_FORMAT": "console"}, (USERS_SERVICE, "serve", "--no-migrate")) as (
        server
    ):
        ready = httpx.get(f"{server.base_url}/readyz", timeout=10)
        log = server.log()

    assert ready.status_code == 503
    assert "cannot connect to postgresql://operator@127.0.0.1:" in log
    assert "serving anyway" in log
    assert "Traceback" not in log


def test_serve_on_a_port_in_use_says_so_and_exits_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = _run("serve", "memory://", tmp_path, PORT=str(port), HOST="127.0.0.1")

    assert result.returncode == 2, result.stderr + result.stdout
    assert result.stderr.splitlines() == [
        f"serve: cannot listen on 127.0.0.1:{port} (the log above says why)",
        "hint: choose another HOST or PORT, or stop the process that holds it",
    ]
    assert "address already in use" in result.stdout


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_log_level_debug_adds_the_traceback(command: str, tmp_path: Path) -> None:
    url = f"postgresql://operator@127.0.0.1:{free_port()}/users"

    result = _run(command, url, tmp_path, LOG_LEVEL="debug")

    assert result.returncode == 3
    assert "Traceback" in result.stderr + result.stdout  # serve logs to stdout, the other commands to stderr
    assert "ConnectionRefusedError" in result.stderr + result.stdout
    assert result.stderr.splitlines()[-2].startswith(f"{command}: cannot connect to ")


def test_check_without_a_token_key_names_the_setting_and_exits_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [USERS_SERVICE, "check"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DATABASE_URL": "memory://"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: AUTH_JWT_SECRET: no token key is configured")
    assert "configuration: ok" not in result.stdout


def _migrated_by_a_newer_release(tmp_path: Path) -> str:
    """A SQLite database whose schema a newer release (revision 9999, unknown here) has migrated."""
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    assert _run("migrate", url, tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "newer.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    return url


@pytest.mark.sqlite
@pytest.mark.parametrize("migrate", [True, False], ids=["migrating", "no-migrate"])
def test_serve_on_a_schema_a_newer_release_migrated_warns_and_serves(migrate: bool, tmp_path: Path) -> None:
    url = _migrated_by_a_newer_release(tmp_path)
    command = (USERS_SERVICE, "serve") if migrate else (USERS_SERVICE, "serve", "--no-migrate")

    with running_server({"DATABASE_URL": url, "LOG_FORMAT": "console"}, command) as server:
        ready = httpx.get(f"{server.base_url}/readyz", timeout=10)
        log = server.log()

    assert ready.status_code == 200
    assert "the database is at revision 9999, newer than this code's" in log
    assert "Traceback" not in log


@pytest.mark.sqlite
def test_check_and_migrate_on_a_schema_a_newer_release_migrated(tmp_path: Path) -> None:
    url = _migrated_by_a_newer_release(tmp_path)

    check, migrate = _run("check", url, tmp_path), _run("migrate", url, tmp_path)

    assert check.returncode == 0, check.stderr
    assert "migrations: the database is at 9999, newer than this code's" in check.stdout
    assert migrate.returncode == 1
    assert migrate.stderr == (
        "migrate: the database is at revision 9999, which this code does not have (a newer release migrated it);"
        " nothing was changed\n"
    )
