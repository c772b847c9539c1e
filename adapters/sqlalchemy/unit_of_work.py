"""The SQL unit of work: one pooled connection and one transaction per ``async with``."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.database import Database
from adapters.sqlalchemy.errors import storage_errors
from adapters.sqlalchemy.idempotency import SqlIdempotencyRecords
from adapters.sqlalchemy.repository import SqlUserRepository
from adapters.sqlalchemy.statements import TransactionStatements
from application.unit_of_work import UnitOfWork


class SqlUnitOfWork(UnitOfWork):
    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: AsyncConnection | None = None

    async def _begin(self) -> None:
        with storage_errors():
            connection = await self._database.connect()
        self._connection = connection
        # No explicit begin(): the first statement begins the transaction (SQLAlchemy's autobegin), and every
        # later one runs in it until commit() or rollback().
        statements = TransactionStatements(connection, self._database.dialect_name)
        self.users = SqlUserRepository(statements)
        self.idempotency = SqlIdempotencyRecords(statements)

    async def commit(self) -> None:
        with storage_errors():
            await self._active().commit()

    async def rollback(self) -> None:
        connection = self._active()
        if connection.in_transaction():  # after a commit there is nothing to undo: no call into the engine
            with storage_errors():
                await connection.rollback()

    async def _end(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with storage_errors():
                await self._database.release(connection)

    def _active(self) -> AsyncConnection:
        if self._connection is None:
            raise RuntimeError("the unit of work is used outside its 'async with' block")
        return self._connection
