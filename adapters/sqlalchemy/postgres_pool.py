"""The PostgreSQL connections of the service: an asyncpg pool, with the line and the limits of the settings.

The driver paths (postgres_driver.py) used to borrow connections from SQLAlchemy's pool. That pool is
synchronous code run inside a greenlet, and a greenlet made for each checkout cost a GET about a fifth of its
CPU time (0.44 against 0.36 ms per request in one process, 32 at a time; the instructions barely differ: the
greenlet's own memory map and page faults are the cost). asyncpg's pool is asyncio code throughout.

What it is given on top:

- a line: requests that wait for a connection get one in the order they came (asyncpg's pool, like
  SQLAlchemy's, lets a newcomer take a connection that a waiting request was woken for), and at most
  ``timeout`` seconds, then ``StorageUnavailable`` (a 503);
- no reset round trip when a connection comes back: asyncpg's default sends ``RESET ALL`` and more each time,
  for session state this service never changes; a connection that may be inside a transaction is closed
  instead of being given back (postgres_unit_of_work.py);
- connections opened when needed, not at start: the service starts, and answers 503s, while the database is
  away, and recovers without a restart when it is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from adapters.sqlalchemy.errors import CONNECTION_LOST
from application.errors import StorageUnavailable

T = TypeVar("T")

# At shutdown, how long connections still in use may take to come back before they are cut.
_CLOSE_SECONDS = 5.0


def usable(connection: asyncpg.Connection) -> bool:
    """Open and still ours: asyncpg gives a pooled connection back to its pool on its own when the connection is
    lost, and then refuses every call on it."""
    try:
        return not connection.is_closed()
    except asyncpg.exceptions.InterfaceError:
        return False


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+asyncpg://...``) as asyncpg wants it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def connect_options(*, connect_timeout: float, statement_timeout: float) -> dict[str, Any]:
    """asyncpg's ``connect()`` arguments for every connection of the service."""
    return {
        "timeout": connect_timeout,
        # Enforced by the server, not by a client-side timer (asyncpg's command_timeout): PostgreSQL cancels
        # the statement where it runs and releases its locks, the connection stays sound for the next
        # request, and the client gets SQLSTATE 57014. Sent in the start-up packet: no round trip. In whole
        # milliseconds, at least one: 0 would mean no limit at all.
        "server_settings": {"statement_timeout": str(max(1, round(statement_timeout * 1000)))},
    }


async def _keep_session(_: asyncpg.Connection) -> None:
    """The service changes no session state (settings, listeners, advisory locks): nothing to reset."""


class DriverPool:
    def __init__(
        self,
        url: str,
        *,
        size: int = 20,
        max_overflow: int = 0,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        statement_timeout: float = 5.0,
    ) -> None:
        self.size = size
        self.max_size = size + max_overflow
        # Every pooled connection may be found dead once (a database restart ends them all); after that many,
        # the pool opens a fresh one.
        self.attempts_to_reach_a_live_connection = self.max_size + 1
        self._url = url
        self._timeout = timeout
        self._connect_options = connect_options(connect_timeout=connect_timeout, statement_timeout=statement_timeout)
        self._pool: asyncpg.Pool | None = None
        self._line: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening = asyncio.Lock()

    async def acquire(self) -> asyncpg.Connection:
        """A connection, after those who asked before; ``StorageUnavailable`` after ``timeout`` seconds."""
        pool, line = await self._opened()
        try:
            async with asyncio.timeout(self._timeout):
                await line.acquire()
        except TimeoutError:
            raise StorageUnavailable("no free connection in the pool") from None
        try:
            # A place in line is a free connection (opened now if need be): asyncpg's own queue never waits.
            return await pool.acquire()
        except BaseException:
            line.release()
            raise

    async def release(self, connection: asyncpg.Connection, *, discard: bool = False) -> None:
        """Give ``connection`` back; with ``discard``, close it first (the pool opens another when needed)."""
        pool, line = self._pool, self._line
        if pool is None or line is None:
            raise RuntimeError("a connection given back to a pool that is not open")
        try:
            if discard and usable(connection):
                connection.terminate()
            await pool.release(connection)
        finally:
            line.release()

    async def run_alone(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``statement``, which needs no transaction (a read, a ping), on a live connection: one that it finds
        dead (closed while it idled, before asyncpg read the EOF) is closed, and the statement run again on
        another, since nothing was done."""
        for _ in range(self.attempts_to_reach_a_live_connection):
            connection = await self.acquire()
            dead = False
            try:
                return await statement(connection)
            except CONNECTION_LOST:
                dead = True
            finally:
                await self.release(connection, discard=dead)
        raise StorageUnavailable("no open connection to the database")

    def counts(self) -> tuple[int, int]:
        """(connections in use, connections open and idle), for the metrics."""
        if self._pool is None:
            return 0, 0
        idle = self._pool.get_idle_size()
        return self._pool.get_size() - idle, idle

    async def close(self) -> None:
        """Close every connection (the pool opens anew if used again). Connections belong to the event loop that
        opened them: closed from another one (a test client's lifespan), they are cut instead."""
        pool, self._pool, self._line = self._pool, None, None
        if pool is None:
            return
        if asyncio.get_running_loop() is not self._loop:
            pool.terminate()
            return
        try:
            async with asyncio.timeout(_CLOSE_SECONDS):
                await pool.close()
        except TimeoutError:
            pool.terminate()

    async def _opened(self) -> tuple[asyncpg.Pool, asyncio.Semaphore]:
        if self._pool is None or self._line is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        asyncpg_dsn(self._url),
                        min_size=0,
                        max_size=self.max_size,
                        reset=_keep_session,
                        **self._connect_options,
                    )
                    self._line = asyncio.Semaphore(self.max_size)
                    self._loop = asyncio.get_running_loop()
        if self._pool is None or self._line is None:
            raise RuntimeError("the pool was closed while it opened")
        return self._pool, self._line
