"""users-service serve/migrate/check as an operator runs them: exit codes and messages, never a traceback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from adapters.sqlalchemy import migrations
from tests.auth import TEST_SECRET
from tests.databases import throwaway_database
from tests.server_process import ROOT, USERS_SERVICE

HEAD = ScriptDirectory.from_config(migrations.alembic_config("sqlite://")).get_current_head()


def _run(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # A clean environment plus `env`: nothing from the developer's shell (or a .env file) leaks in.
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "AUTH_JWT_SECRET": TEST_SECRET}
    return subprocess.run(
        [USERS_SERVICE, *arguments], env=base | env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("DATABASE_URL", "mysql://db/users"),
        ("DATABASE_URL", "nonsense"),
        ("LOG_LEVEL", "loud"),
        ("SHUTDOWN_GRACE_SECONDS", "-1"),
        ("DB_STATEMENT_TIMEOUT_SECONDS", "0"),
        ("DB_POOL_TIMEOUT", "inf"),
    ],
)
def test_a_bad_configuration_names_the_variable_and_exits_2(variable: str, value: str) -> None:
    result = _run("check", env={variable: value})

    assert result.returncode == 2
    assert result.stderr.startswith(f"configuration error: {variable}: ")
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_every_command_refuses_a_bad_configuration(command: str) -> None:
    result = _run(command, env={"PORT": "0"})
    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: PORT: ")


@pytest.mark.sqlite
def test_migrate_then_check_on_sqlite(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'ops.db'}"}

    before = _run("check", env=env)
    assert before.returncode == 3
    assert "hint: run `users-service migrate`" in before.stderr

    assert _run("migrate", env=env).returncode == 0
    after = _run("check", env=env)
    assert after.returncode == 0, after.stderr
    assert "migrations: current" in after.stdout

    down = _run("migrate", "--revision", "base", env=env)
    assert down.returncode == 0
    assert down.stdout == f"database downgraded from revision {HEAD} to base (newest: {HEAD})\n"
    assert _run("check", env=env).returncode == 3


@pytest.fixture(
    params=[pytest.param("sqlite", marks=pytest.mark.sqlite), pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no schema yet, made for this one test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'new.db'}"
        return
    async with throwaway_database(request.getfixturevalue("postgres_server_url")) as url:
        yield url


def test_migrate_says_what_it_did_in_one_line_and_no_library_lines(unmigrated_url: str) -> None:
    env = {"DATABASE_URL": unmigrated_url}  # off a terminal: log lines would come as JSON

    first, again = _run("migrate", env=env), _run("migrate", env=env)

    assert (first.returncode, again.returncode) == (0, 0)
    assert first.stdout == f"database upgraded from revision base to {HEAD} (the newest)\n"
    assert again.stdout == f"database already at revision {HEAD} (the newest)\n"
    assert first.stderr + again.stderr == ""


@pytest.mark.parametrize(
    ("arguments", "level"), [(("--verbose", "migrate"), "info"), (("migrate",), "debug")], ids=["verbose", "debug"]
)
def test_verbose_or_log_level_debug_show_the_libraries_lines_once_per_migration(
    unmigrated_url: str, arguments: tuple[str, ...], level: str
) -> None:
    result = _run(*arguments, env={"DATABASE_URL": unmigrated_url, "LOG_LEVEL": level, "LOG_FORMAT": "console"})

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("alembic.runtime.migration Context impl ") == 1
    assert f"alembic.runtime.migration Running upgrade 0001 -> {HEAD}" in result.stderr
    assert result.stdout == f"database upgraded from revision base to {HEAD} (the newest)\n"


@pytest.mark.sqlite
def test_migrate_to_a_revision_and_back_says_which_way_it_went(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'steps.db'}"}

    steps = [_run("migrate", "--revision", target, env=env) for target in ("0001", "0001", "head", "0001")]

    assert [step.stdout for step in steps] == [
        f"database upgraded from revision base to 0001 (newest: {HEAD})\n",
        f"database already at revision 0001 (newest: {HEAD})\n",
        f"database upgraded from revision 0001 to {HEAD} (the newest)\n",
        f"database downgraded from revision {HEAD} to 0001 (newest: {HEAD})\n",
    ]


@pytest.mark.sqlite
def test_migrate_to_an_unknown_revision_is_a_clear_error(tmp_path: Path) -> None:
    result = _run("migrate", "--revision", "nope", env={"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.returncode == 1
    assert "nope" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_fails_when_the_database_is_unreachable() -> None:
    result = _run("check", env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none", "DB_CONNECT_TIMEOUT": "2"})
    assert result.returncode == 3
    assert result.stderr.startswith("database: cannot connect to postgresql://nobody@127.0.0.1:9/none: ")
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_check_passes_on_the_migrated_test_database(postgres_url: str) -> None:
    result = _run("check", env={"DATABASE_URL": postgres_url})
    assert result.returncode == 0, result.stderr


def test_check_on_memory_needs_no_database() -> None:
    result = _run("check", env={"DATABASE_URL": "memory://"})
    assert result.returncode == 0
