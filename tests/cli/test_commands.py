"""users-service serve/migrate/check as an operator runs them: exit codes and messages, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.auth import TEST_SECRET
from tests.server_process import ROOT, USERS_SERVICE


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
    assert "revision base" in down.stdout
    assert _run("check", env=env).returncode == 3


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
