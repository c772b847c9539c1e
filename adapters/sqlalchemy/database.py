"""The SQL database of the service: SQLAlchemy's async engine, for PostgreSQL (asyncpg) and SQLite (aiosqlite),
and the line in which requests wait for one of its connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

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
    """The engine for ``url``. On PostgreSQL, every statement may run for at most ``statement_timeout``
    seconds (SQLite has no such limit; its writers wait at most 5 s for the lock)."""
    url = make_url(url)
    # hide_parameters: no bound value (an e-mail address, a name) in SQL logs or in the text of an exception.
    options: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.get_backend_name() == "sqlite":
        if url.database not in (None, "", ":memory:"):
            # SQLite lets one writer in at a time and answers others "database is locked"; one shared
            # connection queues the units of work instead (the connection line bounds the wait).
            options.update(pool_size=1, max_overflow=0, pool_timeout=pool_timeout)
        engine = create_async_engine(url, **options)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        **options,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # No pre-ping: a statement that finds its connection dead is run again (stale_connections.py).
        pool_pre_ping=False,
        connect_args={
            "timeout": connect_timeout,
            # Enforced by the server (SQLSTATE 57014, locks released), sent in the start-up packet; whole ms, >= 1.
            "server_settings": {"statement_timeout": str(max(1, round(statement_timeout * 1000)))},
        },
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.close()


class Database:
    """The engine, and a line in front of its pool: requests that wait for a connection get one in the order
    they came, or ``StorageUnavailable`` after ``pool_timeout`` seconds (docs/decisions/0002-connection-line.md).
    """

    def __init__(self, engine: AsyncEngine, *, places: int, pool_timeout: float = 10.0) -> None:
        """``places``: how many connections the engine's pool may hand out at once."""
        self.engine = engine
        self.dialect_name = engine.dialect.name
        self.places = places
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._timeout = pool_timeout
        self._in_use = 0
        self._line: asyncio.Semaphore | None = None
        self._line_loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def open(
        cls,
        url: str | URL,
        *,
        echo: bool = False,
        pool_size: int = 20,
        max_overflow: int = 0,
        pool_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        statement_timeout: float = 5.0,
    ) -> Database:
        """The database at ``url`` with these pool sizes and timeouts; no connection is opened before one is
        asked for."""
        engine = create_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            connect_timeout=connect_timeout,
            statement_timeout=statement_timeout,
        )
        places = 1 if engine.dialect.name == "sqlite" else pool_size + max_overflow
        return cls(engine, places=places, pool_timeout=pool_timeout)

    async def connect(self, *, autocommit: bool = False) -> AsyncConnection:
        """A connection, after those who asked before; give it back with ``release``. With ``autocommit``,
        each statement commits on its own (for lone reads: no BEGIN, no ROLLBACK)."""
        line = self._line_here()
        if line.locked():
            try:
                async with asyncio.timeout(self._timeout):
                    await line.acquire()
            except TimeoutError:
                raise StorageUnavailable("no free connection in the pool") from None
        else:
            await line.acquire()  # a free place: taken without waiting
        try:
            connection = await (self._autocommit if autocommit else self.engine).connect()
        except BaseException:
            line.release()
            raise
        self._in_use += 1
        return connection

    async def release(self, connection: AsyncConnection) -> None:
        try:
            await connection.close()
        finally:
            self._in_use -= 1
            self._line_here().release()

    @asynccontextmanager
    async def connection(self, *, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
        connection = await self.connect(autocommit=autocommit)
        try:
            yield connection
        finally:
            await self.release(connection)

    def in_use(self) -> int:
        """Connections handed out now."""
        return self._in_use

    async def dispose(self) -> None:
        await self.engine.dispose()

    def _line_here(self) -> asyncio.Semaphore:
        # A semaphore belongs to the event loop that first waits on it; a test client may run another loop.
        loop = asyncio.get_running_loop()
        if self._line is None or self._line_loop is not loop:
            self._line, self._line_loop = asyncio.Semaphore(self.places), loop
        return self._line


async def database_lifetime(database: Database) -> AsyncIterator[Database]:
    """The database for as long as the service runs; its connections closed at the end (a resource of the
    composition root)."""
    yield database
    await database.dispose()
