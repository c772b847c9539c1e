"""The start-up failures that the command-line tests cannot provoke on a local server with trust
authentication: a wrong password, a server that turns connections away, and an error that is no database
failure at all (a bug, whose traceback must stay visible)."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import exc as sa_exc

from application.errors import StorageUnavailable
from entrypoints.startup_failures import database_failure

URL = "postgresql+asyncpg://app:p%40ss-word@db.example:6432/users"


def _wrapped(driver_error: Exception) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("connect", None, driver_error)


def test_a_wrong_password_is_named_and_the_password_hidden() -> None:
    error = _wrapped(asyncpg.InvalidPasswordError('password authentication failed for user "app"'))

    failure = database_failure(error, URL, connect_timeout=5)

    assert failure is not None
    assert failure.lines("migrate") == [
        "migrate: cannot connect to postgresql://app:***@db.example:6432/users: password authentication failed for "
        'user "app"',
        "hint: check the password in DATABASE_URL (percent-encode @ : / and % in it)",
    ]


def test_a_server_that_turns_connections_away_is_unavailable_in_its_own_words() -> None:
    # As readiness raises it: the driver's error behind StorageUnavailable.
    error = StorageUnavailable("the database does not answer")
    error.__cause__ = _wrapped(asyncpg.TooManyConnectionsError("sorry, too many clients already"))

    failure = database_failure(error, URL, connect_timeout=5)

    assert failure is not None
    assert failure.cause == "sorry, too many clients already"
    assert failure.hint.startswith("check that PostgreSQL runs and accepts connections (`pg_isready -h db.example")


def test_a_timeout_names_the_wait_and_the_setting() -> None:
    failure = database_failure(TimeoutError(), URL, connect_timeout=2.5)

    assert failure is not None
    assert failure.cause == "no answer within 2.5 s"
    assert "DB_CONNECT_TIMEOUT" in failure.hint


def test_an_error_that_is_no_database_failure_is_left_alone() -> None:
    assert (
        database_failure(
            _wrapped(asyncpg.UndefinedTableError('relation "users" does not exist')), URL, connect_timeout=5
        )
        is None
    )
    assert database_failure(ValueError("a bug"), URL, connect_timeout=5) is None
