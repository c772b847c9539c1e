"""The PostgreSQL unit of work, on the driver (postgres_driver.py says why): one pooled asyncpg connection per
``async with``, and a transaction only when the unit of work needs one.

A unit of work is atomic whichever way it runs:

- Reads that come before any write run outside a transaction: at READ COMMITTED each statement sees the
  latest commits either way, and optimistic versions (``UPDATE ... WHERE version``) guard the writes that
  follow them, not locks.
- A write whose outcome nobody reads before the commit (``add``, ``update``, ``remove``) waits. If the commit
  comes next and the connection has already answered this unit of work, the write is sent alone, and
  PostgreSQL makes a lone statement atomic by itself. Otherwise BEGIN goes first, then the write, then the
  rest in that transaction.
- Any other write (a batch, an idempotency key's claim) begins the transaction at once.

So a change is two round trips (SELECT, UPDATE) instead of four with BEGIN and COMMIT. Each round trip holds a
pooled connection and wakes a database backend: under load on two CPUs, a PATCH that took four of them ran at
the tutorial app's pace.

The first statement on a connection taken from the pool may find it dead (it died while idle, before asyncpg
read the EOF): BEGIN or a read is then sent again on another connection, as nothing was done. A write is never
that first statement: the server may have committed it before the connection broke, and the client could not
tell (a registration therefore keeps its BEGIN and COMMIT: a connection killed while idle then costs a retry of
the BEGIN, not a 503). A connection goes back to the pool only outside a transaction; one left in any other
state is closed, so that no unit of work can inherit half of another's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg  # type: ignore[import-untyped]

from adapters.sqlalchemy.errors import CONNECTION_LOST, storage_errors
from adapters.sqlalchemy.postgres_driver import LaterWrite
from adapters.sqlalchemy.postgres_idempotency import PostgresIdempotencyRecords
from adapters.sqlalchemy.postgres_pool import DriverPool, usable
from adapters.sqlalchemy.postgres_repository import PostgresUserRepository
from application.errors import StorageUnavailable
from application.unit_of_work import UnitOfWork

T = TypeVar("T")


class DriverTransaction:
    """The connection, transaction and waiting write of one unit of work, shared by its repositories."""

    def __init__(self, pool: DriverPool) -> None:
        self._pool = pool
        self._connection: asyncpg.Connection | None = None
        self._used = False  # a statement went out on the connection
        self._transaction: asyncpg.transaction.Transaction | None = None
        self._later: LaterWrite | None = None

    async def read(self, statement: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run a read, which sees this unit of work's writes (a waiting one goes out first)."""
        if self._later is not None:
            await self.in_transaction()
        return await self._first_contact(statement, repeatable=True)

    async def in_transaction(self) -> asyncpg.Connection:
        """The connection inside the unit of work's transaction, begun here if need be."""
        if self._transaction is None:
            self._transaction = await self._first_contact(_begin, repeatable=True)
        connection = await self._connected()
        if self._later is not None:
            write, self._later = self._later, None
            await write(connection)
        return connection

    async def write_later(self, write: LaterWrite) -> None:
        """Send ``write`` when the unit of work sends anything else, or alone at the commit; it maps its own
        errors, which therefore come from the statement that follows it or from the commit."""
        if self._later is None and self._transaction is None:
            self._later = write
            return
        await write(await self.in_transaction())

    async def commit(self) -> None:
        if self._later is not None and self._transaction is None and self._used:
            write, self._later = self._later, None
            await write(await self._connected())  # alone: the connection answered this unit of work already
            return
        if self._later is not None:
            await self.in_transaction()  # begins, and sends the waiting write
        if self._transaction is not None:
            await self._end(commit=True)

    async def rollback(self) -> None:
        self._later = None
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            with storage_errors():
                await (transaction.commit() if commit else transaction.rollback())

    async def _connected(self) -> asyncpg.Connection:
        if self._connection is None:
            with storage_errors():
                self._connection = await self._pool.acquire()
        return self._connection

    async def _first_contact(self, statement: Callable[[asyncpg.Connection], Awaitable[T]], *, repeatable: bool) -> T:
        """Run ``statement``; if it is the first on its connection and finds that connection dead, run it again
        on another one (when ``repeatable``: nothing of the unit of work can have reached the database)."""
        for _ in range(self._pool.attempts_to_reach_a_live_connection):
            connection = await self._connected()
            first, self._used = not self._used, True
            try:
                with storage_errors():
                    return await statement(connection)
            except StorageUnavailable as error:
                if not (first and repeatable and isinstance(error.__cause__, CONNECTION_LOST)):
                    raise
                await self.release(dead=True)
        raise StorageUnavailable("no open connection to the database")

    async def release(self, *, dead: bool = False) -> None:
        """Give the connection back to the pool, or close it if it is ``dead`` or may be in a transaction."""
        connection, self._connection, self._used = self._connection, None, False
        if connection is None:
            return
        unsound = dead or self._transaction is not None or not usable(connection) or connection.is_in_transaction()
        self._transaction = None
        await self._pool.release(connection, discard=unsound)


async def _begin(connection: asyncpg.Connection) -> asyncpg.transaction.Transaction:
    transaction = connection.transaction()
    await transaction.start()
    return transaction


class PostgresUnitOfWork(UnitOfWork):
    def __init__(self, pool: DriverPool) -> None:
        self._pool = pool
        self._work: DriverTransaction | None = None

    async def _begin(self) -> None:
        self._work = DriverTransaction(self._pool)
        self.users = PostgresUserRepository(self._work)
        self.idempotency = PostgresIdempotencyRecords(self._work)

    async def commit(self) -> None:
        await self._active().commit()

    async def rollback(self) -> None:
        await self._active().rollback()

    async def _end(self) -> None:
        work, self._work = self._work, None
        if work is not None:
            await work.release()

    def _active(self) -> DriverTransaction:
        if self._work is None:
            raise RuntimeError("the unit of work is used outside its 'async with' block")
        return self._work
