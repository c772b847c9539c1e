"""The SQL adapter's verdict on a failure: "the database cannot serve now" (StorageUnavailable, a 503 with
Retry-After) or a bug that must surface as one. The integration suites provoke most of these for real; this
names every kind, including those that are hard to provoke on demand (a connect timeout, an unreachable host)."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from adapters.sqlalchemy.errors import storage_errors
from application.errors import StorageUnavailable


class _DriverError(Exception):
    """What a driver error carries that the adapter reads: its SQLSTATE."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


def _database_error(sqlstate: str) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", None, _DriverError(sqlstate))


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(_database_error("57014"), id="statement-timeout-57014"),
        pytest.param(_database_error("57P01"), id="admin-shutdown-57P01"),
        pytest.param(_database_error("57P03"), id="starting-up-57P03"),
        pytest.param(_database_error("08006"), id="connection-failure-08006"),
        pytest.param(_database_error("53300"), id="too-many-connections-53300"),
        pytest.param(_database_error("40P01"), id="deadlock-40P01"),
        pytest.param(sa_exc.TimeoutError("QueuePool limit reached"), id="pool-timeout"),
        # asyncio.timeout() and asyncpg's connect timeout raise the builtin (asyncio.TimeoutError is an alias).
        pytest.param(TimeoutError(), id="asyncio-timeout"),
        pytest.param(ConnectionRefusedError(111, "Connect call failed"), id="connection-refused"),
        pytest.param(OSError(113, "No route to host"), id="bare-oserror"),
    ],
)
def test_a_database_that_cannot_serve_now_becomes_storage_unavailable(error: Exception) -> None:
    with pytest.raises(StorageUnavailable) as raised, storage_errors():
        raise error

    assert raised.value.__cause__ is error  # kept for the log, never shown to the client


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(_database_error("42P01"), id="undefined-table-42P01"),
        pytest.param(_database_error("22021"), id="bad-character-22021"),
        pytest.param(ValueError("a bug"), id="not-a-database-error"),
    ],
)
def test_a_bug_is_not_disguised_as_an_outage(error: Exception) -> None:
    with pytest.raises(type(error)) as raised, storage_errors():
        raise error

    assert raised.value is error
