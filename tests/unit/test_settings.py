"""Configuration from the environment, and the database URLs it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from entrypoints.settings import MEMORY_URL, Settings, normalize_database_url

_VARIABLES = (
    "DATABASE_URL",
    "HOST",
    "PORT",
    "DB_ECHO",
    "DB_POOL_SIZE",
    "DB_MAX_OVERFLOW",
    "DB_POOL_TIMEOUT",
    "DB_CONNECT_TIMEOUT",
    "DB_STATEMENT_TIMEOUT_SECONDS",
    "IDEMPOTENCY_KEY_TTL_SECONDS",
)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """An environment without any of the service's variables, in a directory without a ``.env`` file."""
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


# --- normalize_database_url ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        pytest.param("postgres://u@h/db", "postgresql+asyncpg://u@h/db", id="postgres-alias"),
        pytest.param("postgresql://u@h/db", "postgresql+asyncpg://u@h/db", id="postgresql"),
        pytest.param("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db", id="postgresql-asyncpg"),
        pytest.param("postgres://u:secret@h:5433/db", "postgresql+asyncpg://u:secret@h:5433/db", id="password-port"),
        pytest.param("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db", id="sqlite"),
        pytest.param("sqlite+aiosqlite:///./x.db", "sqlite+aiosqlite:///./x.db", id="sqlite-aiosqlite"),
        pytest.param("memory://", "memory://", id="memory"),
    ],
)
def test_a_supported_url_is_normalised_to_its_async_driver(url: str, normalized: str) -> None:
    assert normalize_database_url(url) == normalized


def test_a_password_is_kept_in_full() -> None:
    assert normalize_database_url("postgresql://u:p%40ss@h/db") == "postgresql+asyncpg://u:p%40ss@h/db"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        pytest.param("mysql://h/db", "unsupported database 'mysql'", id="mysql"),
        pytest.param("postgresql+psycopg://h/db", "driver 'psycopg'", id="other-postgres-driver"),
        pytest.param("sqlite+pysqlite:///./x.db", "driver 'pysqlite'", id="other-sqlite-driver"),
        pytest.param("not a url", "is not a database URL", id="not-a-url"),
        pytest.param("", "is not a database URL", id="empty"),
    ],
)
def test_an_unsupported_url_is_refused(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        normalize_database_url(url)


# --- Settings --------------------------------------------------------------------------------------------------


def test_the_defaults(env: pytest.MonkeyPatch) -> None:
    settings = Settings()

    assert settings.database_url == "sqlite+aiosqlite:///./users.db"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.storage == "sql"


def test_settings_are_read_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", "postgres://u@db.internal/users")
    env.setenv("HOST", "0.0.0.0")
    env.setenv("PORT", "9090")

    settings = Settings()

    assert settings.database_url == "postgresql+asyncpg://u@db.internal/users"
    assert settings.host == "0.0.0.0"
    assert settings.port == 9090
    assert settings.storage == "sql"


def test_a_memory_url_selects_the_memory_storage(env: pytest.MonkeyPatch) -> None:
    env.setenv("DATABASE_URL", MEMORY_URL)

    settings = Settings()

    assert settings.database_url == "memory://"
    assert settings.storage == "memory"


def test_an_env_file_in_the_working_directory_is_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DATABASE_URL=memory://\nPORT=8123\n")

    settings = Settings()

    assert settings.storage == "memory"
    assert settings.port == 8123


def test_the_environment_beats_the_env_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=8123\n")
    env.setenv("PORT", "8124")

    assert Settings().port == 8124


@pytest.mark.parametrize("port", ["1", "65535"])
def test_the_port_range_ends_are_accepted(env: pytest.MonkeyPatch, port: str) -> None:
    env.setenv("PORT", port)

    assert Settings().port == int(port)


@pytest.mark.parametrize("port", ["0", "70000", "65536", "-1", "abc", ""])
def test_an_invalid_port_is_refused(env: pytest.MonkeyPatch, port: str) -> None:
    env.setenv("PORT", port)

    with pytest.raises(ValidationError) as error:
        Settings()

    assert [item["loc"] for item in error.value.errors()] == [("port",)]


def test_the_database_waits_are_bounded_by_default(env: pytest.MonkeyPatch) -> None:
    settings = Settings()

    assert settings.db_pool_timeout == 10
    assert settings.db_connect_timeout == 5
    assert settings.db_statement_timeout_seconds == 5


_TIMEOUTS = ["DB_POOL_TIMEOUT", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT_SECONDS"]


@pytest.mark.parametrize("variable", _TIMEOUTS)
@pytest.mark.parametrize("seconds", ["0.25", "30"])
def test_a_timeout_is_read_in_seconds(env: pytest.MonkeyPatch, variable: str, seconds: str) -> None:
    env.setenv(variable, seconds)

    assert getattr(Settings(), variable.lower()) == float(seconds)


@pytest.mark.parametrize("variable", _TIMEOUTS)
# 0 and below would mean "fail at once" or, to PostgreSQL, "no limit"; inf and nan, a wait without end.
@pytest.mark.parametrize("seconds", ["0", "-1", "abc", "", "inf", "nan"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(
    env: pytest.MonkeyPatch, variable: str, seconds: str
) -> None:
    env.setenv(variable, seconds)

    with pytest.raises(ValidationError) as error:
        Settings()

    assert [item["loc"] for item in error.value.errors()] == [(variable.lower(),)]


def test_a_statement_timeout_beyond_what_postgresql_accepts_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("DB_STATEMENT_TIMEOUT_SECONDS", "2147484")  # over INT_MAX milliseconds

    with pytest.raises(ValidationError) as error:
        Settings()

    assert [item["loc"] for item in error.value.errors()] == [("db_statement_timeout_seconds",)]


def test_the_lifetime_of_idempotency_keys_is_read_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("IDEMPOTENCY_KEY_TTL_SECONDS", "3600")

    assert Settings().idempotency_key_ttl_seconds == 3600


@pytest.mark.parametrize("seconds", ["0", "-60", "1.5", "a day"])
def test_a_lifetime_of_idempotency_keys_that_is_no_positive_number_of_seconds_is_refused(
    env: pytest.MonkeyPatch, seconds: str
) -> None:
    env.setenv("IDEMPOTENCY_KEY_TTL_SECONDS", seconds)

    with pytest.raises(ValidationError) as error:
        Settings()

    assert [item["loc"] for item in error.value.errors()] == [("idempotency_key_ttl_seconds",)]


@pytest.mark.parametrize("url", ["mysql://h/db", "postgresql+psycopg://h/db", "not a url"])
def test_an_unsupported_database_url_is_refused(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("DATABASE_URL", url)

    with pytest.raises(ValidationError) as error:
        Settings()

    assert [item["loc"] for item in error.value.errors()] == [("database_url",)]


def test_settings_are_frozen(env: pytest.MonkeyPatch) -> None:
    settings = Settings()

    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]
