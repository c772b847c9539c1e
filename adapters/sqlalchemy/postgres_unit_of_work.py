"""The PostgreSQL unit of work, on the driver (postgres_driver.py says why): one pooled asyncpg connection and
one explicit transaction per ``async with``, begun by its first statement.

BEGIN is the first thing a unit of work sends on the connection it took. Should that connection have died
while it idled (a database restart, a cut network, ``pg_terminate_backend``), nothing of the unit of work
reached the database: the connection is dropped and the unit of work begins on another. Once BEGIN went
through, a lost connection is ``StorageUnavailable``: the server rolls back whatever was not committed, and a
lost answer to COMMIT leaves the client unable to know (the README says what a 503 on a write means).

A connection goes back to the pool only after its transaction was committed or rolled back; one left in any
other state is closed instead, so that the next unit of work can never inherit half a transaction.
"""

from __future__ import annotations

import logging
from types import TracebackType

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection

from adapters.sqlalchemy.errors import CONNECTION_LOST, storage_errors
from adapters.sqlalchemy.postgres_driver import DriverConnections, driver_of
from adapters.sqlalchemy.postgres_idempotency import PostgresIdempotencyRecords
from adapters.sqlalchemy.postgres_repository import PostgresUserRepository
from application.errors import StorageUnavailable
from application.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class DriverTransaction:
    """The connection and transaction of one unit of work, shared by its repositories."""

    def __init__(self, connections: DriverConnections) -> None:
        self._connections = connections
        self._pooled: PoolProxiedConnection | None = None
        self._transaction: asyncpg.transaction.Transaction | None = None
        self._ended = False
        """Committed or rolled back: the connection may serve another unit of work."""

    async def connection(self) -> asyncpg.Connection:
        """The unit of work's connection, inside its transaction (begun here by the first statement)."""
        if self._pooled is None:
            with storage_errors():
                self._pooled = await self._begin()
        return driver_of(self._pooled)

    async def _begin(self) -> PoolProxiedConnection:
        for _ in range(self._connections.attempts):
            pooled = await self._connections.take()
            transaction = driver_of(pooled).transaction()
            try:
                await transaction.start()
            except CONNECTION_LOST as error:
                pooled.invalidate(error)
                pooled.close()
                continue
            except BaseException:
                pooled.invalidate()  # whatever happened to BEGIN, this connection is in no known state
                pooled.close()
                raise
            self._transaction = transaction
            return pooled
        raise StorageUnavailable("no open connection to the database")

    async def commit(self) -> None:
        await self._end(commit=True)

    async def rollback(self) -> None:
        await self._end(commit=False)

    async def _end(self, *, commit: bool) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is None:  # nothing was sent, or the transaction already ended
            return
        with storage_errors():
            await (transaction.commit() if commit else transaction.rollback())
        self._ended = True

    def release(self) -> None:
        pooled, self._pooled = self._pooled, None
        if pooled is None:
            return
        if not self._ended:
            pooled.invalidate()
        pooled.close()


class PostgresUnitOfWork(UnitOfWork):
    def __init__(self, engine: AsyncEngine) -> None:
        self._connections = DriverConnections(engine)
        self._transaction: DriverTransaction | None = None

    async def _begin(self) -> None:
        self._transaction = DriverTransaction(self._connections)
        self.users = PostgresUserRepository(self._transaction)
        self.idempotency = PostgresIdempotencyRecords(self._transaction)

    async def commit(self) -> None:
        await self._active().commit()

    async def rollback(self) -> None:
        await self._active().rollback()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, traceback)
        except StorageUnavailable:
            # The connection died, and the server dropped the uncommitted transaction with it: there is
            # nothing left to undo, and the error that brought us here (if any) is the one to report.
            log.warning("rollback skipped: the connection was lost")
        finally:
            transaction, self._transaction = self._transaction, None
            if transaction is not None:
                transaction.release()

    def _active(self) -> DriverTransaction:
        if self._transaction is None:
            raise RuntimeError("the unit of work is used outside its 'async with' block")
        return self._transaction
