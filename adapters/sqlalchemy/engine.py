"""Engine and session factory for each supported database, and the readiness probe that uses them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from adapters.sqlalchemy.errors import is_unavailable
from adapters.sqlalchemy.pool import FairAsyncQueuePool
from adapters.sqlalchemy.postgres_pool import DriverPool, connect_options
from adapters.sqlalchemy.stale_connections import once_more_if_found_dead
from application.errors import StorageUnavailable


def create_engine(
    url: str | URL,
    *,
    echo: bool = False,
    pool_size: int = 20,
    max_overflow: int = 0,
    pool_timeout: float = 10.0,
    connect_timeout: float = 5.0,
    statement_timeout: float = 5.0,
) -> AsyncEngine:
    """The engine for ``url``. On PostgreSQL, every statement of every connection may run for at most
    ``statement_timeout`` seconds (SQLite has no such limit; its writers wait at most 5 s for the lock)."""
    url = make_url(url)
    # hide_parameters: no bound value (an e-mail address, a name) in SQL logs or in the text of an exception.
    options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.get_backend_name() == "sqlite":
        if url.database not in (None, "", ":memory:"):
            # SQLite lets one writer in at a time and answers others "database is locked"; one shared
            # connection queues the units of work instead (the pool's timeout bounds the wait).
            options.update(poolclass=FairAsyncQueuePool, pool_size=1, max_overflow=0, pool_timeout=pool_timeout)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        **options,
        poolclass=FairAsyncQueuePool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # No pre-ping (three round trips per checkout with asyncpg): a connection found dead is replaced and
        # the statement run again where that is safe (stale_connections.py).
        pool_pre_ping=False,
        connect_args=connect_options(connect_timeout=connect_timeout, statement_timeout=statement_timeout),
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: nothing is read lazily after a commit (the repository returns plain entities).
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


class SqlReadiness:
    """Ready when the database answers a trivial query within ``timeout`` seconds."""

    def __init__(self, engine: AsyncEngine, timeout: float = 2.0) -> None:
        self._engine = engine
        self._timeout = timeout

    async def check(self) -> None:
        async def ping() -> None:
            async with self._engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        await _answers_within(lambda: once_more_if_found_dead(ping), patience=self._timeout)


class DriverReadiness:
    """Ready when a connection of the driver pool (the one requests use) answers a trivial query within
    ``timeout`` seconds: a pool with no free connection is not ready either."""

    def __init__(self, pool: DriverPool, timeout: float = 2.0) -> None:
        self._pool = pool
        self._timeout = timeout

    async def check(self) -> None:
        await _answers_within(lambda: self._pool.run_alone(_select_one), patience=self._timeout)


async def _select_one(connection: asyncpg.Connection) -> None:
    await connection.fetchval("SELECT 1")


async def _answers_within(ping: Callable[[], Awaitable[None]], *, patience: float) -> None:
    try:
        async with asyncio.timeout(patience):
            await ping()
    except StorageUnavailable:
        raise
    except Exception as error:
        if is_unavailable(error):
            raise StorageUnavailable(_reason(error, patience)) from error
        raise


def _reason(error: Exception, timeout: float) -> str:
    """Why, in words fit for a client: a time or an exception class, never the driver's message (which can name
    hosts, users or databases)."""
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(error, sa_exc.TimeoutError):
        return "no free connection in the pool"
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) and error.orig is not None else error
    return f"the database does not answer ({type(cause).__name__})"
