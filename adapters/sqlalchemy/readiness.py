"""Readiness of the SQL database: a trivial query through the same line and pool that requests use."""

from __future__ import annotations

import asyncio

from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from adapters.sqlalchemy.database import Database
from adapters.sqlalchemy.errors import is_unavailable
from adapters.sqlalchemy.stale_connections import once_more_if_found_dead
from application.errors import StorageUnavailable

_PING = text("SELECT 1")


class SqlReadiness:
    """Ready when a connection of the pool answers a trivial query within ``timeout`` seconds: a pool with no
    free connection is not ready either."""

    def __init__(self, database: Database, timeout: float = 2.0) -> None:
        self._database = database
        self._timeout = timeout

    async def check(self) -> None:
        async def ping() -> None:
            async with self._database.connection(autocommit=True) as connection:
                await connection.execute(_PING)

        try:
            async with asyncio.timeout(self._timeout):
                await once_more_if_found_dead(ping)
        except StorageUnavailable:
            raise
        except Exception as error:
            if is_unavailable(error):
                raise StorageUnavailable(_reason(error, self._timeout)) from error
            raise


def _reason(error: Exception, timeout: float) -> str:
    """Why, in words fit for a client: a time or an exception class, never the driver's message (which can name
    hosts, users or databases)."""
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, sa_exc.TimeoutError):
        return "no free connection in the pool"
    cause = error.driver_exception if isinstance(error, sa_exc.DBAPIError) and error.orig is not None else error
    return f"the database does not answer ({type(cause).__name__})"
